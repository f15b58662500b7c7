"""good/fair/poor bands (quality.md section 0.5): RTT 150/300 ms, jitter 20/50 ms, loss 1/3 %, MOS 4.0/3.6.

API units are seconds and ratios (0..1) like the rest of rtcload.quality; the doc's ms and % are converted here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

Band = Literal["good", "fair", "poor"]


@dataclass(frozen=True)
class Threshold:
    """Two cut points. Lower-is-better metrics: good < good_limit, poor > poor_limit, fair in between (inclusive).

    Higher-is-better metrics (MOS): good >= good_limit, poor < poor_limit, fair in between.
    """

    good_limit: float
    poor_limit: float
    higher_is_better: bool = False

    def __post_init__(self) -> None:
        ordered = self.good_limit >= self.poor_limit if self.higher_is_better else self.good_limit <= self.poor_limit
        if not ordered:
            raise ValueError(f"threshold limits out of order: {self}")

    def classify(self, value: float) -> Band:
        if math.isnan(value):
            raise ValueError("cannot band a NaN value")
        if self.higher_is_better:
            if value >= self.good_limit:
                return "good"
            return "poor" if value < self.poor_limit else "fair"
        if value < self.good_limit:
            return "good"
        return "poor" if value > self.poor_limit else "fair"


@dataclass(frozen=True)
class QualityBands:
    """The default bands; build another instance to configure them."""

    rtt_s: Threshold = Threshold(0.150, 0.300)
    jitter_s: Threshold = Threshold(0.020, 0.050)
    loss_ratio: Threshold = Threshold(0.01, 0.03)
    mos: Threshold = Threshold(4.0, 3.6, higher_is_better=True)

    def rtt(self, rtt_s: float) -> Band:
        return self.rtt_s.classify(rtt_s)

    def jitter(self, jitter_s: float) -> Band:
        return self.jitter_s.classify(jitter_s)

    def loss(self, loss_ratio: float) -> Band:
        return self.loss_ratio.classify(loss_ratio)

    def mos_band(self, mos: float) -> Band:
        return self.mos.classify(mos)


DEFAULT_BANDS = QualityBands()
