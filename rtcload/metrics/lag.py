"""A window of scheduling delays (loop lag, send lateness): the one shape every health probe records.

Why here: media, loadgen and bench all record lateness; the window is plain data, so it lives below them.
"""

from __future__ import annotations

import collections
import math
import time
from dataclasses import dataclass, field

WINDOW_S = 10.0


@dataclass
class LagWindow:
    """Scheduling delays of the last `window_s` seconds; appended on one thread, read on another."""

    window_s: float = WINDOW_S
    samples: collections.deque[tuple[float, float]] = field(default_factory=lambda: collections.deque(maxlen=4096))
    unreported: collections.deque[float] = field(default_factory=lambda: collections.deque(maxlen=4096))

    def record(self, lag_s: float) -> None:
        now = time.monotonic()
        self.samples.append((now, lag_s))
        self.unreported.append(lag_s)

    def p99(self, whole: bool = False, quantile: float = 0.99) -> float:
        """p99 (or `quantile`) of the last `window_s` seconds, or of every sample still retained when `whole`."""
        cutoff = float("-inf") if whole else time.monotonic() - self.window_s
        recent = sorted(lag for t, lag in list(self.samples) if t >= cutoff)
        if not recent:
            return 0.0
        return recent[max(0, math.ceil(quantile * len(recent)) - 1)]  # nearest rank: one spike is not p99

    def drain(self) -> list[float]:
        """Lags not yet handed to the histogram (called from the gevent side)."""
        out: list[float] = []
        while self.unreported:
            out.append(self.unreported.popleft())
        return out
