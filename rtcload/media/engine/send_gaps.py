"""When the engine really sent: each stream's send gaps, send drops and oversized forwards.

Why: the tick's lateness says how late the clock woke, not what the far end saw. The far end sees the
interval between our packets; a stall of our own (a collection, a slow callback, a stalled thread)
shows there as a gap the platform did not make. So every stream keeps, from the actual send times:
the largest interval, how many were over the threshold (30 ms by default: one and a half frames), and
when the latest of those began (the run finds its "worst instant" from them: how many calls one stall
hit). Send drops (the kernel refused the packet: EAGAIN, ENOBUFS) are packets the far end will count as
lost although the platform never saw them. The C path keeps the same figures in its Tx (`_native.c`);
this is the pure-Python path's copy and the common record both hand out.

Forwarded (echo, relay) packets follow the far end's timing: their gap is what this side added, the
interval between sends less the interval between the packets' arrivals, on top of one frame period.
"""

from __future__ import annotations

import collections
import time
from dataclasses import dataclass
from datetime import UTC, datetime

from rtcload.metrics.instants import worst_instant

GAP_THRESHOLD_S = 0.030
GAP_EVENTS = 32  # the latest gaps over the threshold kept per stream (as the C Tx)
PERIOD_S = 0.02


@dataclass(frozen=True)
class SendTiming:
    """One stream's send timing so far (times on the monotonic clock)."""

    gap_max_s: float = 0.0
    gaps_over: int = 0
    gaps: tuple[tuple[float, float], ...] = ()  # (start, length) of the latest gaps over the threshold
    drops: int = 0  # packets the kernel refused to send (counted, never blamed on the platform)
    oversized: int = 0  # forwarded payloads too big for one SRTP packet (dropped, counted)
    playout_late: int = 0  # forwards the loop held past their playout deadline (sent at once: a real stall)
    playout_dropped: int = 0  # forwards dropped by a full playout ring (the oldest first)

    @property
    def lost_here(self) -> int:
        """Packets of this stream that never reached the wire because of this side."""
        return self.drops + self.oversized + self.playout_dropped


class SendGaps:
    """The pure-Python engine's send-gap bookkeeping (the C Tx does the same in `gap_note`)."""

    __slots__ = ("_arrival", "_events", "_last", "drops", "gap_max_s", "gaps_over", "oversized", "threshold_s")

    def __init__(self, threshold_s: float = GAP_THRESHOLD_S) -> None:
        self.threshold_s = threshold_s
        self.gap_max_s = 0.0
        self.gaps_over = 0
        self.drops = 0
        self.oversized = 0
        self._last = 0.0
        self._arrival = 0.0
        self._events: list[tuple[float, float]] = []

    def _note(self, at: float, gap: float) -> None:
        if gap > self.gap_max_s:
            self.gap_max_s = gap
        if gap > self.threshold_s:
            self.gaps_over += 1
            self._events.append((at - gap, gap))
            if len(self._events) > GAP_EVENTS:
                del self._events[0]

    def sent(self, at: float) -> None:
        """A clock-driven packet left at `at`."""
        if self._last > 0.0:
            self._note(at, at - self._last)
        self._last = at

    def forwarded(self, at: float, arrival: float) -> None:
        """A forwarded packet (received at `arrival`) left at `at`."""
        if self._last > 0.0 and self._arrival > 0.0:
            added = (at - self._last) - (arrival - self._arrival)
            self._note(at, PERIOD_S + max(0.0, added))
        self._last = at
        self._arrival = arrival

    def pause(self) -> None:
        """On hold: the next packet starts a new run; the pause is no gap."""
        self._last = 0.0
        self._arrival = 0.0

    def snapshot(self) -> SendTiming:
        return SendTiming(self.gap_max_s, self.gaps_over, tuple(self._events), self.drops, self.oversized)


class SendGapTotals:
    """Send timing summed over the streams of one process that ended (the emulator's media clock)."""

    def __init__(self, threshold_s: float = GAP_THRESHOLD_S) -> None:
        self.threshold_s = threshold_s
        self.streams = 0
        self.gap_max_s = 0.0
        self.gaps_over = 0
        self.streams_with_gaps = 0
        self.drops = 0
        self.playout_late = 0
        self.playout_dropped = 0
        self._starts: collections.deque[tuple[float, str]] = collections.deque(maxlen=20_000)

    def add(self, timing: SendTiming, key: str) -> None:
        self.streams += 1
        self.gap_max_s = max(self.gap_max_s, timing.gap_max_s)
        self.gaps_over += timing.gaps_over
        self.streams_with_gaps += timing.gaps_over > 0
        self.drops += timing.lost_here
        self.playout_late += timing.playout_late
        self.playout_dropped += timing.playout_dropped
        self._starts.extend((start, key) for start, _gap in timing.gaps)

    def summary(self) -> dict[str, object]:
        """The same object as summary.json's generator.send_gaps (calls = streams here)."""
        worst, at = worst_instant(list(self._starts))
        wall = time.time() - time.monotonic()
        return {
            "threshold_ms": self.threshold_s * 1000,
            "gap_max_ms": round(self.gap_max_s * 1000, 3),
            "gaps_over_threshold": self.gaps_over,
            "calls_with_gaps": self.streams_with_gaps,
            "worst_instant_calls": worst,
            "worst_instant_at": None
            if at is None
            else datetime.fromtimestamp(at + wall, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "send_drops": self.drops,
            # echo/relay on the playout schedule (playout.py): forwards sent late (a stall longer than the
            # delay, also in the gaps above) and dropped by a full ring (also in send_drops)
            "playout_late": self.playout_late,
            "playout_dropped": self.playout_dropped,
        }


EMULATOR_SEND_GAPS = SendGapTotals()  # the emulator's media legs (EngineMediaEndpoint), as they end
