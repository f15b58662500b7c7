"""The run's send gaps from its call records: the generator's own stalls as the platform saw them.

Why: a stall of the generator (a collection, a blocked thread) shows on the wire as a gap in every
stream at once; the platform then reports loss or jitter that it did not cause. Each call record
carries its largest send interval, how many were over the threshold, the kernel's send drops and when
its gaps began (`send_gap_starts`, Unix seconds); this module turns them into `generator.send_gaps` of
summary.json, including the worst instant: the ~100 ms window in which the most calls had a gap begin.
Pure: records in, a dict out.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from rtcload.metrics.instants import worst_instant
from rtcload.results.ledger import iso_utc

GAP_THRESHOLD_MS = 30.0
DEFAULT_LIMIT_MS = 40.0  # the `generator` gate fails on a send gap longer than this


def _float(text: Any) -> float | None:
    try:
        return float(text) if text not in (None, "") else None
    except (TypeError, ValueError):
        return None


def gap_starts(text: Any) -> list[float]:
    """`send_gap_starts` of a calls.csv row: Unix seconds of each gap's start, ';'-separated."""
    out = []
    for part in str(text or "").split(";"):
        value = _float(part)
        if value is not None:
            out.append(value)
    return out


def send_gap_summary(
    records: Iterable[dict[str, Any]], limit_ms: float = DEFAULT_LIMIT_MS, threshold_ms: float = GAP_THRESHOLD_MS
) -> dict[str, Any]:
    """generator.send_gaps: the largest gap, gaps over the threshold, calls with gaps, the worst instant."""
    gap_max = 0.0
    over = drops = with_gaps = calls = 0
    starts: list[tuple[float, str]] = []
    for index, row in enumerate(records):
        gap = _float(row.get("send_gap_max_ms"))
        if gap is None:
            continue
        calls += 1
        gap_max = max(gap_max, gap)
        count = int(_float(row.get("send_gaps_over_30ms")) or 0)
        over += count
        with_gaps += count > 0
        drops += int(_float(row.get("send_drops")) or 0)
        call = str(row.get("call_id") or index)
        starts += [(at, call) for at in gap_starts(row.get("send_gap_starts"))]
    worst, at = worst_instant(starts)
    return {
        "threshold_ms": threshold_ms,
        "limit_ms": limit_ms,
        "calls_measured": calls,
        "gap_max_ms": round(gap_max, 3),
        "gaps_over_threshold": over,
        "calls_with_gaps": with_gaps,
        "worst_instant_calls": worst,
        "worst_instant_at": None if at is None else iso_utc(at),
        "send_drops": drops,
    }


def gate_verdict(send_gaps: dict[str, Any] | None) -> str | None:
    """Why the `generator` gate fails on its send gaps or drops (one line), or None when they are fine."""
    if not send_gaps:
        return None
    limit = float(send_gaps.get("limit_ms", DEFAULT_LIMIT_MS))
    reasons = []
    if send_gaps.get("gap_max_ms", 0.0) > limit:
        at = send_gaps.get("worst_instant_at")
        reasons.append(
            f"the generator stalled its own media: send gap of {send_gaps['gap_max_ms']:.0f} ms "
            f"(limit {limit:.0f} ms), "
            f"{send_gaps.get('calls_with_gaps', 0)} calls with gaps over {send_gaps.get('threshold_ms', 30):.0f} ms"
            + (f", {send_gaps.get('worst_instant_calls', 0)} of them at once at {at}" if at else "")
        )
    if send_gaps.get("send_drops", 0) > 0:
        reasons.append(f"{send_gaps['send_drops']} RTP packets dropped by the generator's own socket (send drops)")
    return "; ".join(reasons) or None
