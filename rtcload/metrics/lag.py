"""A window of scheduling delays (loop lag, send lateness): the one shape every health probe records.

Why here: media, loadgen and bench all record lateness; the window is plain data, so it lives below them.
"""

from __future__ import annotations

import collections
import math
import time
from array import array
from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np

WINDOW_S = 10.0


class SampleRing:
    """The last `capacity` (time, value) pairs, in two arrays of doubles allocated at the first append.

    Why not a deque of tuples: each sample was a tuple and two floats (~120 bytes) allocated as the
    window filled. The engine's send lateness keeps 100,000 samples (33 minutes of 20 ms ticks), so a
    soak's RSS grew ~12 MB over its first half hour in every media process before the window was
    full (issue 22: the "leak" a tracemalloc diff named first). Here a sample costs 16 bytes, all taken
    at once, and the process's memory stays flat while the window fills.

    Appended on one thread, read on another: each array operation holds the GIL; a reader may see one
    sample whose value is a lap old, which a percentile does not notice.
    """

    def __init__(self, capacity: int) -> None:
        if capacity < 1:
            raise ValueError(f"a sample ring holds at least 1 sample, not {capacity}")
        self.capacity = capacity
        self._times = array("d")
        self._values = array("d")
        self._next = 0
        self._count = 0

    def append(self, sample: tuple[float, float]) -> None:
        if not self._times:
            self._times = array("d", bytes(8 * self.capacity))
            self._values = array("d", bytes(8 * self.capacity))
        at = self._next
        self._times[at] = sample[0]
        self._values[at] = sample[1]
        self._next = (at + 1) % self.capacity
        self._count = min(self._count + 1, self.capacity)

    def pairs(self) -> list[tuple[float, float]]:
        """Every retained sample, oldest first (a copy: safe while the other thread appends)."""
        count, end = self._count, self._next
        times, values = self._times[:], self._values[:]
        start = (end - count) % self.capacity if count else 0
        order = range(start, start + count)
        return [(times[i % self.capacity], values[i % self.capacity]) for i in order]

    def values_since(self, cutoff: float) -> np.ndarray:
        """The retained values whose time is >= `cutoff`, in no particular order (a copy).

        Why not `pairs()`: a percentile over the engine's 100,000 samples built 100,000 tuples and
        200,000 floats (~11 MB) on every read, several times a second (health line, live view,
        Prometheus scrape). That churn held the gevent hub for tens of ms and left the process's
        small-object arenas larger after every read (issue 22). Two array copies cost 1.6 MB, freed at once.
        """
        count, end, capacity = self._count, self._next, self.capacity
        if not count:
            return np.empty(0)
        times = np.frombuffer(self._times, dtype=np.float64).copy()
        values = np.frombuffer(self._values, dtype=np.float64).copy()
        if count < capacity:  # the valid slots are the `count` before `end`, wrapping
            start = end - count
            keep = np.r_[start % capacity : capacity, 0:end] if start < 0 else np.s_[start:end]
            times, values = times[keep], values[keep]
        return values[times >= cutoff]

    def __iter__(self) -> Iterator[tuple[float, float]]:
        return iter(self.pairs())

    def __len__(self) -> int:
        return self._count

    def clear(self) -> None:
        self._next = self._count = 0


@dataclass
class LagWindow:
    """Scheduling delays of the last `window_s` seconds; appended on one thread, read on another.

    `capacity` bounds the samples kept (the `whole` percentiles see that many); `unreported` is the
    queue the gevent side drains into the histogram (bounded too: a process nobody drains, such as
    the emulator's, keeps its last 4,096).
    """

    window_s: float = WINDOW_S
    capacity: int = 4096
    samples: SampleRing = field(init=False)
    unreported: collections.deque[float] = field(default_factory=lambda: collections.deque(maxlen=4096))

    def __post_init__(self) -> None:
        self.samples = SampleRing(self.capacity)

    def record(self, lag_s: float) -> None:
        now = time.monotonic()
        self.samples.append((now, lag_s))
        self.unreported.append(lag_s)

    def p99(self, whole: bool = False, quantile: float = 0.99) -> float:
        """p99 (or `quantile`) of the last `window_s` seconds, or of every sample still retained when `whole`."""
        cutoff = float("-inf") if whole else time.monotonic() - self.window_s
        recent = self.samples.values_since(cutoff)
        if not recent.size:
            return 0.0
        rank = max(0, math.ceil(quantile * recent.size) - 1)  # nearest rank: one spike is not p99
        return float(np.partition(recent, rank)[rank])

    def drain(self) -> list[float]:
        """Lags not yet handed to the histogram (called from the gevent side)."""
        out: list[float] = []
        while self.unreported:
            out.append(self.unreported.popleft())
        return out
