"""Turn a call's stats samples into its quality record: per-interval E-model R/MOS (with the
measured burst ratio), the Telnyx SDK's own MOS beside it, the SDK-equivalent warnings, summary
statistics and a verdict. The maths lives in `rtcload.quality`; this module only wires it up.

A call whose media was rebuilt (reattach, ICE restart) has one report per media instance, each with
counters from 0: each instance is rated on its own and the intervals joined (`rate_report`); the time
between instances is the media gap, measured by the signaling client, not an interval here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from itertools import pairwise
from typing import Any

from rtcload.media.stats import MediaStats
from rtcload.quality import IntervalQuality, StatsSnapshot, compute_interval
from rtcload.quality.bands import DEFAULT_BANDS
from rtcload.quality.interval import warning_sample
from rtcload.quality.sdk_mos import calculate_mos
from rtcload.quality.warnings import QualityWarning, SdkWarningTracker


def send_snapshot_of(stats: MediaStats) -> StatsSnapshot | None:
    """Our sending direction as the far end reports it in RTCP receiver reports (None before the first RR).
    Packets our own socket refused (send drops) left a hole in the sequence that the far end counts as
    lost: they are the generator's loss, not the platform's, so they are taken out here."""
    if stats.remote_packets_lost is None:
        return None
    lost = max(0, stats.remote_packets_lost - stats.send_drops)
    return StatsSnapshot(
        t=stats.at,
        packets_received=max(0, stats.packets_sent - lost),
        packets_lost=lost,
        jitter_s=stats.remote_jitter_s or 0.0,
        rtt_s=stats.rtt_s,
    )


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
class RatedInterval:
    quality: IntervalQuality
    sdk_mos: float | None  # the JS SDK's calculateMOS on the same inputs (cumulative counters, as it does)
    inbound_level: float | None


def _summary(values: list[float]) -> dict[str, float] | None:
    if not values:
        return None
    ordered = sorted(values)

    def pct(p: float) -> float:
        return ordered[min(len(ordered) - 1, round(p * (len(ordered) - 1)))]

    return {
        "mean": min(max(math.fsum(ordered) / len(ordered), ordered[0]), ordered[-1]),  # never outside min..max
        "min": ordered[0],
        "max": ordered[-1],
        "p50": pct(0.5),
        "p95": pct(0.95),
    }


@dataclass(frozen=True)
class CallQuality:
    intervals: list[RatedInterval]  # the receive direction: what this side hears
    warnings: list[QualityWarning] = field(default_factory=list)
    send_intervals: list[IntervalQuality] = field(default_factory=list)  # what the far end hears, from RTCP RRs
    one_way: bool = False
    silent: bool = False

    @property
    def rated(self) -> list[IntervalQuality]:
        return [i.quality for i in self.intervals if i.quality.mos is not None]

    def _values(self, attr: str) -> list[float]:
        return [v for q in self.rated if (v := getattr(q, attr)) is not None]

    @property
    def mos_mean(self) -> float | None:
        s = _summary(self._values("mos"))
        return s["mean"] if s else None

    @property
    def mos_min(self) -> float | None:
        s = _summary(self._values("mos"))
        return s["min"] if s else None

    @property
    def r_mean(self) -> float | None:
        s = _summary(self._values("r"))
        return s["mean"] if s else None

    def summaries(self) -> dict[str, dict[str, float] | None]:
        return {
            "mos": _summary(self._values("mos")),
            "r": _summary(self._values("r")),
            "rtt_s": _summary([q.rtt_s for q in self.rated if q.rtt_known]),
            "jitter_s": _summary(self._values("jitter_s")),
            "loss_ratio": _summary(self._values("loss_ratio")),
            "burst_r": _summary(self._values("burst_r")),
            "sdk_mos": _summary([i.sdk_mos for i in self.intervals if i.sdk_mos is not None]),
            "mos_send": _summary([q.mos for q in self.send_intervals if q.mos is not None]),
            "loss_ratio_send": _summary([q.loss_ratio for q in self.send_intervals if q.mos is not None]),
        }

    @property
    def verdict(self) -> str:
        """good/fair/poor from the mean MOS band, or what makes the call unrateable."""
        if self.one_way:
            return "one-way"
        if self.silent:
            return "silent"
        mean = self.mos_mean
        if mean is None:
            return "no-media"
        return DEFAULT_BANDS.mos_band(mean)

    def to_dict(self) -> dict[str, Any]:
        return {
            "verdict": self.verdict,
            "summaries": self.summaries(),
            "warnings": [{"code": int(w.code), "name": w.name, "t": w.t} for w in self.warnings],
            "intervals": [
                {
                    "t_end": i.quality.t_end,
                    "r": i.quality.r,
                    "mos": i.quality.mos,
                    "sdk_mos": i.sdk_mos,
                    "rtt_s": i.quality.rtt_s if i.quality.rtt_known else None,
                    "jitter_s": i.quality.jitter_s,
                    "loss_ratio": i.quality.loss_ratio,
                    "burst_r": i.quality.burst_r,
                    "media_gap": i.quality.media_gap,
                }
                for i in self.intervals
            ],
        }


def rate_samples(
    samples: list[MediaStats], codec: str | None, *, one_way: bool = False, silent: bool = False
) -> CallQuality:
    """Rate each interval between consecutive samples once media has started flowing."""
    ordered = [s for a, s in zip([None, *samples], samples, strict=False) if a is None or s.at > a.at]
    tracker = SdkWarningTracker()
    intervals: list[RatedInterval] = []
    for a, b in pairwise(ordered):
        prev, cur = snapshot_of(a), snapshot_of(b)
        # The SDK's warnings watch every sample of a connected call (no packets at all is a warning) ...
        tracker.update(
            warning_sample(
                prev, cur, on_hold=b.on_hold, local_audio_level=b.local_level, inbound_audio_level=b.inbound_level
            )
        )
        # ... while the E-model rates intervals once media has started flowing. Counters going back
        # (samples of two media instances joined) are a restart, not an interval: nothing to rate.
        if a.packets_received == 0 or b.packets_received < a.packets_received:
            continue
        # held at either end: media stopped or had yet to resume (an unhold just before b), not a gap
        quality = compute_interval(prev, cur, codec or "opus", burst_r=b.burst_r, on_hold=a.on_hold or b.on_hold)
        sdk = None
        if b.jitter_s is not None and b.rtt_s is not None:
            sdk = calculate_mos(b.jitter_s * 1000.0, b.rtt_s * 1000.0, b.packets_received, b.packets_lost)
        intervals.append(RatedInterval(quality, sdk, b.inbound_level))
    send_intervals = []
    reported = [(s, snap) for s in ordered if (snap := send_snapshot_of(s)) is not None]
    for (a, prev_send), (b, cur_send) in pairwise(reported):
        if _send_total(cur_send) > _send_total(prev_send) and b.packets_sent >= a.packets_sent:
            send_intervals.append(compute_interval(prev_send, cur_send, codec or "opus", on_hold=b.on_hold))
    return CallQuality(intervals, list(tracker.history), send_intervals=send_intervals, one_way=one_way, silent=silent)


def _send_total(snap: StatsSnapshot) -> int:
    return snap.packets_received + snap.packets_lost


def rate_report(report: Any, earlier: list[Any] | None = None) -> CallQuality:
    """The quality record of a finished call: its last MediaReport, and the reports of the media that
    rebuilds replaced (`earlier`, oldest first), each rated over its own counters. One-way and silent
    describe the media the call ended on."""
    silent = report.frames_received > 0 and report.silence_ratio > 0.95
    last = rate_samples(report.samples, report.codec, one_way=bool(report.one_way), silent=silent)
    parts = [rate_samples(r.samples, r.codec or report.codec) for r in earlier or [] if hasattr(r, "samples")]
    if not parts:
        return last
    parts.append(last)
    return CallQuality(
        [i for p in parts for i in p.intervals],
        [w for p in parts for w in p.warnings],
        send_intervals=[i for p in parts for i in p.send_intervals],
        one_way=last.one_way,
        silent=last.silent,
    )
