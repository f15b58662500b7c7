"""The summary's `load_model` section: offered vs achieved CPS, Erlangs and blocking, from the ledger.

Inputs are the schedulers' own files (`open-model.<process>.json`: what was due, placed, refused, how
late) and the call records (calls.csv), so the figures agree with every other output of the run.
Erlang-B needs the platform's trunk count (the emulator's `--max-calls`, or `--trunks` for a real
platform); the prediction uses the traffic the platform actually saw: achieved CPS x the mean time a
carried call occupied a trunk (setup + holding + hangup), which is what Erlang-B's A means.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from rtcload.results.ledger import record_time
from rtcload.traffic import binomial_sigma, erlang_b

OPEN_MODEL_PART = "open-model"  # ledger file prefix: open-model.<process>.json, one per scheduler
LATE_LIMIT_S = 0.1  # an attempt fired later than this behind its due time was late (p95 judged)
KEEP_RATIO = 0.95  # the generator kept its rate when it placed (or capped) >= 95 % of the attempts made due
BLOCKING_CAUSES = frozenset({"NORMAL_CIRCUIT_CONGESTION", "SWITCH_CONGESTION"})  # Q.850 34 and 42, SIP 503


def is_blocked(record: dict[str, str]) -> bool:
    return record.get("outcome") == "failed" and (
        record.get("cause") in BLOCKING_CAUSES or record.get("cause_code") in ("34", "42")
    )


def read_scheduler_parts(ledger: Path) -> list[dict[str, Any]]:
    parts = []
    for path in sorted(ledger.glob(f"{OPEN_MODEL_PART}.*.json")):
        try:
            parts.append(json.loads(path.read_text()))
        except ValueError:
            continue
    return parts


def load_model_summary(
    parts: list[dict[str, Any]], records: list[dict[str, str]], trunks: int | None = None
) -> dict[str, Any] | None:
    """The open model's figures for summary.json, or None for a closed-model run."""
    started = [p["started_at"] for p in parts if p.get("started_at")]
    ended = [p["ended_at"] for p in parts if p.get("ended_at")]
    if not started or not ended:
        return None
    start, end = min(started), max(ended)
    window = max(end - start, 1e-9)
    due = sum(p["due"] for p in parts)
    placed = sum(p["placed"] for p in parts)
    refused_limit = sum(p["refused_limit"] for p in parts)
    refused_pool = sum(p["refused_pool"] for p in parts)
    expected = sum(p["expected"] for p in parts)
    lag_p95 = max(p.get("lag_p95_s", 0.0) for p in parts)
    holding = parts[0].get("holding_mean_s")
    in_window = [r for r in records if start <= record_time(r, "started_at") <= end + 1.0]
    decided = [r for r in in_window if r.get("outcome") in ("answered", "failed")]
    blocked = [r for r in decided if is_blocked(r)]
    carried = [r for r in decided if not is_blocked(r)]
    occupancy = [_occupied(r, start, end) for r in carried]
    holds = [record_time(r, "ended_at") - record_time(r, "started_at") for r in carried]
    mean_occupancy = sum(holds) / len(holds) if holds else None
    kept = placed + refused_limit >= KEEP_RATIO * due and lag_p95 <= LATE_LIMIT_S and refused_pool == 0
    section: dict[str, Any] = {
        "model": "open",
        "plan": parts[0].get("plan"),
        "arrival": parts[0].get("arrival"),
        "generators": len(parts),
        "window_s": round(window, 3),
        "offered_cps": round(expected / window, 4),  # the plan's nominal rate over the window
        "due": due,  # attempts the arrival process made due (a Poisson realisation of the plan)
        "placed": placed,
        "achieved_cps": round(placed / window, 4),
        "refused_limit": refused_limit,  # --max-concurrent (SIPp -l): the user's cap, not a fault
        "refused_pool": refused_pool,  # no idle registered endpoint: the generator's shortage
        "max_concurrent": parts[0].get("max_concurrent", 0),
        "pool": sum(p.get("pool", 0) for p in parts),
        "lag_p95_s": round(lag_p95, 4),
        "late": sum(p.get("late", 0) for p in parts),
        "holding_mean_s": holding,
        "offered_erlangs": round(expected / window * holding, 4) if holding is not None else None,
        "carried_erlangs": round(sum(occupancy) / window, 4),
        "mean_occupancy_s": round(mean_occupancy, 4) if mean_occupancy is not None else None,
        "attempts_decided": len(decided),
        "blocked": len(blocked),
        "blocking_ratio": round(len(blocked) / len(decided), 5) if decided else None,
        "generator_kept_rate": kept,
        "generator_message": _generator_message(kept, placed, refused_limit, due, lag_p95, refused_pool),
    }
    if trunks is not None:
        section["erlang_b"] = erlang_b_check(trunks, placed / window, mean_occupancy, len(decided), len(blocked))
    return section


def erlang_b_check(
    trunks: int, rate: float, mean_occupancy: float | None, attempts: int, blocked: int
) -> dict[str, Any]:
    """Measured blocking against Erlang-B for the traffic offered to `trunks` (3 sigma, binomial)."""
    if mean_occupancy is None or attempts == 0:
        return {"trunks": trunks, "predicted": None, "within": None}
    offered = rate * mean_occupancy
    predicted = erlang_b(trunks, offered)
    measured = blocked / attempts
    sigma = binomial_sigma(predicted, attempts)
    z = (measured - predicted) / sigma if sigma > 0 else 0.0
    return {
        "trunks": trunks,
        "offered_erlangs": round(offered, 4),
        "predicted": round(predicted, 5),
        "measured": round(measured, 5),
        "sigma": round(sigma, 5),
        "z": round(z, 3),
        "within": abs(z) <= 3.0,
    }


def _occupied(record: dict[str, str], start: float, end: float) -> float:
    begin, finish = record_time(record, "started_at"), record_time(record, "ended_at")
    return max(0.0, min(finish, end) - max(begin, start))


def _generator_message(kept: bool, placed: int, refused: int, due: int, lag: float, pool: int) -> str:
    if kept:
        return f"placed {placed} of {due} due attempts on time (p95 {lag * 1000:.0f} ms late)"
    reasons = []
    if pool:
        reasons.append(f"{pool} attempts found no idle registered endpoint (raise --users)")
    if placed + refused < KEEP_RATIO * due:
        reasons.append(f"placed {placed + refused} of {due} due attempts")
    if lag > LATE_LIMIT_S:
        reasons.append(f"attempts fired p95 {lag * 1000:.0f} ms behind schedule")
    return "the generator could not keep the offered rate: " + "; ".join(reasons)


def render_load_model(section: dict[str, Any]) -> str:
    """The lines the run prints under its summary."""
    lines = [
        f"open model ({section['arrival']}, plan {section['plan']}): offered {section['offered_cps']:.2f} CPS, "
        f"achieved {section['achieved_cps']:.2f} CPS ({section['placed']} placed of {section['due']} due, "
        f"{section['refused_limit']} refused by --max-concurrent, {section['refused_pool']} without an endpoint)",
        f"traffic: offered {_erl(section['offered_erlangs'])}, carried {_erl(section['carried_erlangs'])}, "
        f"blocking {_pct(section['blocking_ratio'])} ({section['blocked']} of {section['attempts_decided']})",
    ]
    check = section.get("erlang_b")
    if check and check.get("predicted") is not None:
        lines.append(
            f"Erlang-B: {check['trunks']} trunks at {check['offered_erlangs']:.2f} E predicts "
            f"{_pct(check['predicted'])} blocking; measured {_pct(check['measured'])} "
            f"(z = {check['z']:+.2f}, {'within' if check['within'] else 'OUTSIDE'} 3 sigma)"
        )
    if not section["generator_kept_rate"]:
        lines.append("GENERATOR: " + section["generator_message"])
    return "\n".join(lines)


def _erl(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f} E"


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:.2f} %"
