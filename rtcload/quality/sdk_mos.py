"""The Telnyx JS SDK's own MOS formulas (protocol.md 10.1/10.2), reproduced for side-by-side parity only.

These are not rtcload's default metric: they treat RTT as one-way delay, ignore codec and burstiness, and the
SDK lets R go negative inside the cubic. Reproduced faithfully (including the quirks) so a load run can show what
a real user's SDK would have displayed or warned about.
"""

from __future__ import annotations

import math
from typing import Literal

SdkQuality = Literal["excellent", "good", "fair", "poor", "bad"]


def _cubic(r: float) -> float:
    return 1.0 + 0.035 * r + 7e-6 * r * (r - 60.0) * (100.0 - r)


def sdk_r(jitter_ms: float, rtt_ms: float, received: float, lost: float) -> float:
    """R of `utils/mos.ts`: d = J + RTT/2, Id by the 177.3 ms fit, Ie = 20*ln(1 + loss%). NaN when no packets."""
    d = jitter_ms + rtt_ms / 2.0
    id_ = 0.024 * d + (0.11 * (d - 177.3) if d > 177.3 else 0.0)
    total = received + lost
    loss_pct = 100.0 * lost / total if total != 0 else math.nan
    ie = 20.0 * math.log(1.0 + loss_pct) if loss_pct > -1.0 else math.nan
    return 93.2 - id_ - ie


def calculate_mos(jitter_ms: float, rtt_ms: float, received: float, lost: float) -> float:
    """`calculateMOS`: the unguarded cubic clamped to [1, 5]; NaN (not an error) when received + lost == 0."""
    r = sdk_r(jitter_ms, rtt_ms, received, lost)
    mos = _cubic(r)
    if math.isnan(mos):  # JS Math.max/Math.min propagate NaN (e.g. debug.ts's Infinity jitter fallback)
        return math.nan
    return min(5.0, max(1.0, mos))


def get_quality(mos: float | None) -> SdkQuality | None:
    """`getQuality` with the SDK's closed ranges: 4.0 < MOS < 4.1 and 3.6 < MOS < 3.7 fall through to "bad"."""
    if mos is None or math.isnan(mos):
        return None
    if mos > 4.2:
        return "excellent"
    if 4.1 <= mos <= 4.2:
        return "good"
    if 3.7 <= mos <= 4.0:
        return "fair"
    if 3.1 <= mos <= 3.6:
        return "poor"
    return "bad"


def warning_mos(jitter_ms: float, loss_pct: float, rtt_ms: float) -> float:
    """MOS_w of `CallReportCollector` (LOW_MOS 31004): a linear R, cubic clamped to [1, 4.5] (upper 4.5, not 5).

    Like the SDK there is no R guard: very high loss drives R_w negative and the cubic wraps up to 4.5, so
    LOW_MOS stays silent on a dead stream (HIGH_PACKET_LOSS still fires).
    """
    r_w = 93.2 - 0.11 * jitter_ms - 2.5 * loss_pct - 0.01 * rtt_ms
    return min(4.5, max(1.0, _cubic(r_w)))
