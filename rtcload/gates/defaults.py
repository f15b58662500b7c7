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
    """Judged on every registration of the run: a warm-up leaves its registrations out of the statistics,
    not out of this gate (a warm-up longer than the registration phase left it judging "0 of 0")."""
    reg = s["registrations"]
    ok = reg["attempted"] - reg["failed"]
    if ok > 0:
        return True, ok, f"{ok} of {reg['attempted']} registrations succeeded"
    warm = reg.get("in_warmup") or {}
    warm_attempted = int(warm.get("attempted", 0))
    warm_ok = warm_attempted - int(warm.get("failed", 0))
    during = f"during the {s['warmup_s']:g} s warm-up" if s.get("warmup_s") else "during the warm-up"
    if reg["attempted"] == 0 and warm_ok > 0:
        return True, warm_ok, f"{warm_ok} of {warm_attempted} registrations succeeded, all {during} (none after it)"
    first = next((f for f in s.get("failures", []) if f["name"] == "registration"), None)
    why = f" (first failure: {first['error']})" if first else ""
    if reg["attempted"] == 0 and warm_attempted:
        return False, 0, f"no successful registration: 0 of {warm_attempted} succeeded, all {during}"
    if reg["attempted"] == 0:
        return False, 0, "no successful registration: none was attempted"
    return False, 0, f"no successful registration: 0 of {reg['attempted']} succeeded{why}"


def _calls_answered(s: dict[str, Any]) -> tuple[bool, float | None, str]:
    calls = s["calls"]
    warm = calls.get("in_warmup") or {}
    if calls["attempted"] == 0 and warm.get("attempted"):  # the warm-up took them all: judge those
        during = f"during the {s['warmup_s']:g} s warm-up" if s.get("warmup_s") else "during the warm-up"
        answered = int(warm.get("answered", 0))
        text = f"{answered} of {warm['attempted']} calls answered, all {during} (none after it)"
        return answered > 0, answered, text if answered else f"no call answered: {text}"
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


def _soak_resources(s: dict[str, Any]) -> tuple[bool, float | None, str]:
    soak = s["soak"]
    growth = soak.get("growth") or {}
    slopes = soak.get("resources") or {}
    fds = {name: r.get("fd_per_h") for name, r in slopes.items()}
    shown = ", ".join(f"{name} {v:+.1f} FD/h" for name, v in fds.items() if v is not None) or "no samples"
    if (limit := soak["limits"].get("mb_per_h")) is not None:  # judged only when asked (--soak-max-mb-per-h)
        rss = ", ".join(f"{name} {r['mb_per_h']:+.1f}" for name, r in slopes.items() if r.get("mb_per_h") is not None)
        shown += f"; RSS MB/h (limit {limit:g}): {rss or 'no samples'}"
    if growth:
        why = "; ".join(f"{name}: {', '.join(reasons)}" for name, reasons in growth.items())
        worst = max((v for v in fds.values() if v is not None), default=None)
        return False, worst, f"resources grow after warm-up: {why}"
    judged = [r for r in slopes.values() if float(r.get("window_s") or 0) >= soak["limits"]["min_window_s"]]
    if not judged:
        return True, None, f"window too short to judge growth ({shown})"
    grows = "no FD or RSS growth" if soak["limits"].get("mb_per_h") is not None else "no FD growth"
    return True, max((v for v in fds.values() if v is not None), default=None), f"{grows}: {shown}"


def _soak_recovery(s: dict[str, Any]) -> tuple[bool, float | None, str]:
    """Only what the platform should survive: reconnects, answered calls reattached, media back."""
    faults = s["soak"].get("faults") or {}
    metrics = s.get("metrics") or {}
    reconnect_failed = int((metrics.get("reconnect") or {}).get("failures", 0))
    not_resumed = int((metrics.get("media_gap") or {}).get("failures", 0))
    lost = int(faults.get("answered_not_reattached", 0))
    expected = int(faults.get("failed_expected", 0))
    problems = []
    if reconnect_failed:
        problems.append(f"{reconnect_failed} reconnects failed")
    if lost:
        problems.append(f"{lost} answered calls not reattached")
    if not_resumed:
        problems.append(f"{not_resumed} recoveries without media")
    excused = f"; {expected} calls in setup lost to injected faults (expected)" if expected else ""
    if problems:
        return False, reconnect_failed + lost + not_resumed, "; ".join(problems) + excused
    hit = faults.get("calls_hit") or {}
    shown = ", ".join(f"{k} {v}" for k, v in hit.items() if k != "none") or "no call hit"
    return True, 0, f"every reconnect, reattach and media recovery succeeded (calls hit: {shown}){excused}"


# name -> (what it guards, check); the order is the order of the report and JUnit.
DEFAULT_GATES: dict[str, tuple[str, GateCheck]] = {
    "registered": ("at least one registration succeeded", _registered),
    "calls_answered": ("some call was answered when calls were attempted", _calls_answered),
    "media": ("every answered call received RTP", _media),
    "generator": ("the load generator was not saturated and did not stall its own media", _generator),
}


# judged only on a soak run (summary["soak"], scenario soak_reconnect): docs/scenarios.md
SOAK_GATES: dict[str, tuple[str, GateCheck]] = {
    "soak_resources": (
        "open FDs and UDP sockets (and RSS, with --soak-max-mb-per-h) do not grow after warm-up (each process)",
        _soak_resources,
    ),
    "soak_recovery": ("every reconnect, reattach of an answered call and media recovery succeeded", _soak_recovery),
}


def evaluate_gates(summary: dict[str, Any], disabled: Iterable[str] = ()) -> list[SLOResult]:
    """The default gates that are on, judged against a summary (unknown names are a usage error upstream)."""
    off = set(disabled)
    results = []
    gates = {**DEFAULT_GATES, **(SOAK_GATES if summary.get("soak") else {})}
    for name, (expr, check) in gates.items():
        if name in off:
            continue
        passed, observed, message = check(summary)
        results.append(SLOResult(name, expr, name, None, "", 0.0, observed, "count", passed, message, kind="gate"))
    return results
