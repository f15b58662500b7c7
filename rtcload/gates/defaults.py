"""Default gates: judged on every run, with or without SLOs, so a run that measured nothing never passes.

Each gate asks whether the run measured what it set out to measure. A failing gate means the run
is broken (exit 3), not that the target missed an objective (exit 1). Pure: a summary in, verdicts out.
Each can be turned off by name (`rtcload run --no-gate NAME`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from rtcload.gates.slo import SLOResult
from rtcload.results.send_gaps import gate_verdict

GateCheck = Callable[[dict[str, Any]], tuple[bool, float | None, str]]


def _registered(s: dict[str, Any]) -> tuple[bool, float | None, str]:
    reg = s["registrations"]
    ok = reg["attempted"] - reg["failed"]
    if ok > 0:
        return True, ok, f"{ok} of {reg['attempted']} registrations succeeded"
    first = next((f for f in s.get("failures", []) if f["name"] == "registration"), None)
    why = f" (first failure: {first['error']})" if first else ""
    return False, 0, f"no successful registration: 0 of {reg['attempted']} succeeded{why}"


def _calls_answered(s: dict[str, Any]) -> tuple[bool, float | None, str]:
    calls = s["calls"]
    if calls["attempted"] == 0:
        return True, 0, "no calls attempted (nothing to answer)"
    if calls["answered"] > 0:
        return True, calls["answered"], f"{calls['answered']} of {calls['attempted']} calls answered"
    causes = ", ".join(f"{n} x {c}" for c, n in calls.get("failed_by_cause", {}).items())
    return False, 0, f"no call answered: 0 of {calls['attempted']} attempted ({causes or 'no cause recorded'})"


def _media(s: dict[str, Any]) -> tuple[bool, float | None, str]:
    calls = s["calls"]
    without, with_media = calls.get("without_media", 0), calls.get("with_media", 0)
    if without == 0:
        return True, 0, f"{with_media} answered calls received RTP" if with_media else "no media calls to judge"
    return False, without, f"{without} of {without + with_media} answered calls received no RTP (no media)"


def _generator(s: dict[str, Any]) -> tuple[bool, float | None, str]:
    gen = s.get("generator") or {}
    cpu = gen.get("cpu_mean")
    load_model = s.get("load_model") or {}
    if load_model and not load_model.get("generator_kept_rate", True):
        return False, load_model.get("achieved_cps"), str(load_model.get("generator_message"))
    late = gen.get("send_late_p99_s")
    clock = f", media send clock late p99 {late * 1000:.1f} ms" if late is not None else ""
    stalled = gate_verdict(gen.get("send_gaps"))
    if stalled is not None:  # a stall the platform noticed: not only a p99
        return False, gen["send_gaps"].get("gap_max_ms"), stalled
    gaps = gen.get("send_gaps") or {}
    if gaps.get("calls_measured"):
        clock += f", largest send gap {gaps.get('gap_max_ms', 0.0):.1f} ms"
    processes = [p for p in gen.get("per_process") or [] if p.get("role") == "worker"]
    if processes:  # --processes N: each worker's own clock and CPU (the master runs no users)
        clock += " (" + "; ".join(_worker_text(p) for p in processes) + ")"
    if not gen.get("saturated_whole_run", gen.get("saturated")):
        tail = " (late at times: the figures' tail includes its own delay)" if gen.get("saturated") else ""
        return True, cpu, f"busiest Locust process at {cpu or 0:.0f} % CPU on average{clock}{tail}"
    return (
        False,
        cpu,
        (
            f"the load generator was saturated for the run (busiest Locust process at {cpu or 0:.0f} % CPU{clock}): "
            "its timings measure itself - add --processes or machines"
        ),
    )


def _worker_text(record: dict[str, Any]) -> str:
    cpu = max(float(record.get("cpu_mean") or 0.0), float(record.get("cpu_watched_mean") or 0.0))
    late = float(record.get("send_late_p99_s") or 0.0)
    return f"{record.get('process')}: {cpu:.0f} % CPU, send clock late p99 {late * 1000:.1f} ms"


# name -> (what it guards, check); the order is the order of the report and JUnit.
DEFAULT_GATES: dict[str, tuple[str, GateCheck]] = {
    "registered": ("at least one registration succeeded", _registered),
    "calls_answered": ("some call was answered when calls were attempted", _calls_answered),
    "media": ("every answered call received RTP", _media),
    "generator": ("the load generator was not saturated and did not stall its own media", _generator),
}


def evaluate_gates(summary: dict[str, Any], disabled: Iterable[str] = ()) -> list[SLOResult]:
    """The default gates that are on, judged against a summary (unknown names are a usage error upstream)."""
    off = set(disabled)
    results = []
    for name, (expr, check) in DEFAULT_GATES.items():
        if name in off:
            continue
        passed, observed, message = check(summary)
        results.append(SLOResult(name, expr, name, None, "", 0.0, observed, "count", passed, message, kind="gate"))
    return results
