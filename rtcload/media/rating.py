"""Turn a call's getStats samples into E-model ratings per interval (quality/ does the maths)."""

from __future__ import annotations

from dataclasses import dataclass
from itertools import pairwise

from rtcload.media.stats import MediaStats
from rtcload.quality import IntervalQuality, StatsSnapshot, compute_interval


def snapshot_of(stats: MediaStats) -> StatsSnapshot:
    return StatsSnapshot(
        t=stats.at,
        packets_received=stats.packets_received,
        packets_lost=stats.packets_lost,
        jitter_s=stats.jitter_s or 0.0,
        rtt_s=stats.rtt_s,
        bytes_received=stats.bytes_received,
        bytes_sent=stats.bytes_sent,
    )


@dataclass(frozen=True)
class CallQuality:
    intervals: list[IntervalQuality]

    @property
    def rated(self) -> list[IntervalQuality]:
        return [i for i in self.intervals if i.mos is not None]

    @property
    def mos_mean(self) -> float | None:
        rated = self.rated
        return sum(i.mos for i in rated if i.mos is not None) / len(rated) if rated else None

    @property
    def mos_min(self) -> float | None:
        rated = self.rated
        return min(i.mos for i in rated if i.mos is not None) if rated else None

    @property
    def r_mean(self) -> float | None:
        rated = self.rated
        return sum(i.r for i in rated if i.r is not None) / len(rated) if rated else None


def rate_samples(samples: list[MediaStats], codec: str | None) -> CallQuality:
    """Rate each interval between consecutive samples that saw media flowing."""
    flowing = [s for s in samples if s.packets_received > 0]
    intervals = [
        compute_interval(snapshot_of(a), snapshot_of(b), codec or "opus") for a, b in pairwise(flowing) if b.at > a.at
    ]
    return CallQuality(intervals)
