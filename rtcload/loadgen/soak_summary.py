"""The soak part of a run's summary (issue 22): resource slopes per process, and which calls a fault
that rtcload itself injected hit (calls.csv `fault` / `fault_expected`), so the gates judge only what
the platform should have survived.

Inputs are the ledger's files: `resources.<tag>.json` (each Locust process's samples),
`faults.<tag>.json` (the fault schedule's injections, wall-clock times) and the emulator's own samples
(its final snapshot). Pure apart from reading those files.

Attribution: a call's signaling socket losses (`socket_lost_at`, wall times, written by the generator)
are matched against the injections: a loss from just before an injection's request to a few seconds
after its reply is that fault's. A call hit before it was answered and then lost is an expected
casualty (`fault_expected=yes`): the SDK keeps only answered calls across a reconnect
(protocol.md 4.2, clientReady lists answered calls), and the platform ends unanswered legs when their
socket goes. An answered call is expected to survive: reattach within the window, media back.
"""

from __future__ import annotations

import contextlib
import json
from datetime import datetime
from pathlib import Path
from typing import Any

from rtcload.loadgen.resources import DEFAULT_LIMITS, GrowthLimits, growth_failures, resource_slopes
from rtcload.options import env as process_env
from rtcload.protocol.codes import SdkCode

RESOURCES_PART = "resources"
FAULTS_PART = "faults"
MATCH_BEFORE_S = 0.5  # a loss this long before the injection's request was sent is still its effect
MATCH_AFTER_S = 3.0  # ... and this long after its reply (a restart drops sockets after replying)
DEFAULT_WARMUP_S = 600.0
NOT_CONNECTED = str(int(SdkCode.CONNECT_FAILED))  # "not connected": a request while the socket is down


def warmup_for(rows: list[dict[str, Any]], warmup_s: float | None) -> float:
    """The warm-up left out of the slopes: as given, else 10 minutes capped at a third of the series."""
    if warmup_s is not None:
        return warmup_s
    if len(rows) < 2:
        return 0.0
    span = float(rows[-1]["t"]) - float(rows[0]["t"])
    return min(DEFAULT_WARMUP_S, span / 3)


def read_json_parts(ledger: Path, part: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for path in sorted(ledger.glob(f"{part}.*.json")):
        try:
            out[path.name[len(part) + 1 : -len(".json")]] = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
    return out


def resources_section(
    ledger: Path,
    emulator_samples: list[dict[str, Any]] | None,
    warmup_s: float | None = None,
    until_wall: float | None = None,
) -> dict[str, Any]:
    """Slopes per hour after warm-up, per process: `generator.<tag>` for each Locust process, `emulator`."""
    series = {f"generator.{tag}": rows for tag, rows in read_json_parts(ledger, RESOURCES_PART).items()}
    if emulator_samples:
        series["emulator"] = emulator_samples
    out = {}
    for name, rows in series.items():
        if isinstance(rows, list) and rows:
            if until_wall is not None:
                rows = [r for r in rows if not r.get("w") or float(r["w"]) <= until_wall]
            out[name] = resource_slopes(rows, warmup_for(rows, warmup_s))
    return out


def fault_log(ledger: Path) -> list[dict[str, Any]]:
    faults: list[dict[str, Any]] = []
    for rows in read_json_parts(ledger, FAULTS_PART).values():
        if isinstance(rows, list):
            faults += [r for r in rows if isinstance(r, dict) and "t_start" in r and "error" not in r]
    return sorted(faults, key=lambda r: float(r["t_start"]))


def match_fault(t: float, faults: list[dict[str, Any]]) -> str | None:
    """The injected fault a socket loss at wall time `t` belongs to (restart wins over a drop)."""
    hits = {
        str(f["action"])
        for f in faults
        if float(f["t_start"]) - MATCH_BEFORE_S <= t <= float(f.get("t_end", f["t_start"])) + MATCH_AFTER_S
    }
    for action in ("restart", "drop", "half_open"):
        if action in hits:
            return action
    return next(iter(hits), None)


def attribute(record: dict[str, Any], faults: list[dict[str, Any]]) -> None:
    """Fill `fault` (restart|drop|other|none) and `fault_expected` (yes|no) of one calls.csv row."""
    losses = [float(x) for x in str(record.get("socket_lost_at") or "").split(";") if x]
    if not losses and record.get("error_code") == NOT_CONNECTED and record.get("ended_at"):
        # a dial refused at once because the socket was down: it was lost when it failed, before an answer
        with contextlib.suppress(ValueError):
            losses = [datetime.fromisoformat(str(record["ended_at"])).timestamp()]
            record["lost_before_answer"] = "yes"
    kinds = [match_fault(t, faults) for t in losses]
    if not losses:
        fault = "none"
    elif "restart" in kinds:
        fault = "restart"
    elif any(kinds):
        fault = next(k for k in kinds if k)
    else:
        fault = "other"  # the socket went and rtcload did not cause it: the platform's (or the network's)
    record["fault"] = fault
    injected = fault not in ("none", "other")
    casualty = record.get("outcome") == "failed" and record.get("lost_before_answer") == "yes"
    record["fault_expected"] = "yes" if injected and casualty else "no"


def faults_section(records: list[dict[str, Any]], faults: list[dict[str, Any]]) -> dict[str, Any]:
    """Attribute every record (in place) and count: calls hit per fault, expected vs unexpected failures."""
    hit: dict[str, int] = {}
    expected = unexpected = answered_lost = 0
    for record in records:
        attribute(record, faults)
        hit[record["fault"]] = hit.get(record["fault"], 0) + 1
        failed = record.get("outcome") == "failed"
        if failed and record["fault_expected"] == "yes":
            expected += 1
        elif failed:
            unexpected += 1
        if record.get("cause") == "SESSION_NOT_REATTACHED" and record.get("lost_before_answer") == "no":
            answered_lost += 1
    injected: dict[str, int] = {}
    for f in faults:
        injected[str(f["action"])] = injected.get(str(f["action"]), 0) + 1
    return {
        "injected": injected,
        "calls_hit": dict(sorted(hit.items())),
        "failed_expected": expected,
        "failed_unexpected": unexpected,
        "answered_not_reattached": answered_lost,
    }


def soak_section(
    ledger: Path,
    records: list[dict[str, Any]],
    emulator_samples: list[dict[str, Any]] | None,
    warmup_s: float | None = None,
    limits: GrowthLimits = DEFAULT_LIMITS,
    until_wall: float | None = None,
) -> dict[str, Any] | None:
    """summary.json `soak` (None when the run was not a soak: no fault log and no resource samples)."""
    faults = fault_log(ledger)
    resources = resources_section(ledger, emulator_samples, warmup_s, until_wall)
    if not faults and not read_json_parts(ledger, FAULTS_PART) and not resources:
        return None
    growth = {name: growth_failures(s, limits) for name, s in resources.items()}
    return {
        "resources": resources,
        "limits": {
            "fd_per_h": limits.fd_per_h,
            "udp_per_h": limits.udp_per_h,
            "mb_per_h": limits.mb_per_h,
            "min_window_s": limits.min_window_s,
        },
        "growth": {name: reasons for name, reasons in growth.items() if reasons},
        "faults": faults_section(records, faults),
    }


def option_value(argv: list[str], flag: str, env: str, default: str) -> str:
    """A Locust option given after `--` (either `--flag V` or `--flag=V`), else its environment variable."""
    for i, arg in enumerate(argv):
        if arg == flag and i + 1 < len(argv):
            return argv[i + 1]
        if arg.startswith(flag + "="):
            return arg.split("=", 1)[1]
    return process_env.text(env, default)


def add_soak(
    summary: dict[str, Any],
    results: Path,
    ledger: Path,
    emulator_samples: list[dict[str, Any]] | None,
    warmup_s: float | None = None,
    limits: GrowthLimits = DEFAULT_LIMITS,
    duration_s: float | None = None,
) -> None:
    """summary["soak"] and calls.csv's fault columns, after the run (the emulator's samples come with
    its final snapshot). Nothing changes for a run that was not a soak."""
    import csv

    from rtcload.loadgen.records import COLUMNS
    from rtcload.results.ledger import read_records

    calls = results / "calls.csv"
    records: list[dict[str, Any]] = list(read_records(calls))
    starts = [float(p.read_text() or 0) for p in ledger.glob("test_start.*")]
    until = min(starts) + duration_s if starts and duration_s else None  # the planned end, not the wind-down
    soak = soak_section(ledger, records, emulator_samples, warmup_s, limits, until)
    if soak is None:
        return
    summary["soak"] = soak
    with open(calls, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=COLUMNS, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(records)
