"""One live-view metric's values: every value up to a cap, then a uniform sample of them, so a soak of
hours at hundreds of users keeps the master's memory bounded.

Why: the view's percentiles are over the whole run so far, and below the cap they equal summary.json's
(the same values, nearest rank). Each quality interval of each call adds four values (MOS, jitter,
loss, RTT). Kept raw, that grew the Locust master by 8 bytes a value for ever: ~0.7 MB/h at 16 users
in the soak, and ~20 MB/h at 500 (issue 22). Past `cap` values a reservoir keeps a uniform sample
(Vitter's algorithm R, seeded, so a run is repeatable). Percentiles are then read from that sample,
and `statistics()` says so (`sampled_from`). With 16,384 values the p99's rank error is ~0.08
percentage points (one standard error, sqrt(p(1-p)/n)), plenty for a live chart. The cap was 262,144
(8 MiB for the four quality metrics): at 16 users that filled over ~12 hours, so for a soak's first
hours the view grew as if it leaked; 16,384 (128 KiB a metric) fill in ~45 minutes at 16 users and in
minutes at hundreds. Count, mean, min and max stay exact (running sums).
"""

from __future__ import annotations

import math
import random
from array import array
from collections.abc import Iterable
from typing import Any

import numpy as np

QUANTILES = {"p5": 0.05, "p50": 0.5, "p95": 0.95, "p99": 0.99}
MAX_VALUES = 16_384  # 128 KiB of doubles per metric
SEED = 0x5EED


def nearest_rank(values: array[float]) -> dict[str, float | None]:
    """The ledger's statistics (results.ledger.statistics: nearest rank, mean, min, max), in O(n) with numpy."""
    n = len(values)
    if n == 0:
        return {"mean": None, "min": None, "max": None, **dict.fromkeys(QUANTILES)}
    data = np.frombuffer(values, dtype=np.float64)
    ranks = {name: max(0, math.ceil(q * n) - 1) for name, q in QUANTILES.items()}
    parted = np.partition(data, sorted({0, n - 1, *ranks.values()}))
    out: dict[str, float | None] = {name: float(parted[k]) for name, k in ranks.items()}
    out.update({"mean": float(data.sum() / n), "min": float(parted[0]), "max": float(parted[n - 1])})
    return out


class ValueStore:
    """Every value until `cap`, then a uniform sample of `cap` of them; exact count, sum, min and max."""

    def __init__(self, cap: int | None = None, seed: int = SEED) -> None:
        cap = MAX_VALUES if cap is None else cap
        if cap < 1:
            raise ValueError(f"a value store keeps at least 1 value, not {cap}")
        self.cap = cap
        self.kept: array[float] = array("d")
        self.seen = 0
        self.total = 0.0
        self.low = math.inf
        self.high = -math.inf
        self._rng = random.Random(seed)

    def __len__(self) -> int:
        return self.seen

    @property
    def sampled(self) -> bool:
        return self.seen > self.cap

    def extend(self, values: Iterable[float]) -> None:
        batch = [float(v) for v in values]
        if not batch:
            return
        self.total += math.fsum(batch)
        self.low, self.high = min(self.low, *batch), max(self.high, *batch)
        room = self.cap - len(self.kept)
        if room > 0:
            self.kept.extend(batch[:room])
            self.seen += min(room, len(batch))
            batch = batch[room:]
        for value in batch:  # algorithm R: the n-th value replaces a random slot with probability cap/n
            self.seen += 1
            slot = self._rng.randrange(self.seen)
            if slot < self.cap:
                self.kept[slot] = value

    def append(self, value: float) -> None:
        self.extend((value,))

    def statistics(self) -> dict[str, Any]:
        """nearest_rank's figures; once sampled, percentiles from the sample and exact mean/min/max."""
        out: dict[str, Any] = nearest_rank(self.kept)
        if self.sampled:
            out.update(mean=self.total / self.seen, min=self.low, max=self.high, sampled_from=len(self.kept))
        return out
