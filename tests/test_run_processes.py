"""Every process counts (issue 21): a real `rtcload run --processes 2` against the embedded emulator.

Each worker's own health (its media send clock, CPU, collection pauses) reaches summary.json and the
`generator` gate; and the calls in flight when the run time is up are hung up with a bye and recorded as
in one process, so the emulator's counters, summary.json and calls.csv count the same calls. Calls last
6 s and users call back to back, so every worker has calls up at the stop.
"""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from datetime import datetime

USERS = 4
DURATION_S = 14
CALL_S = 6.0


def test_two_processes_report_each_worker_and_reconcile_every_call(tmp_path):
    results = tmp_path / "results"
    done = subprocess.run(
        [
            sys.executable, "-m", "rtcload", "run", "--processes", "2", "--users", str(USERS),
            "--spawn-rate", str(USERS), "--duration", f"{DURATION_S}s", "--results", str(results),
            "--rtc-holding", f"fixed:{CALL_S}", "--rtc-think-time", "fixed:0.2",
        ],
        cwd=tmp_path, capture_output=True, text=True, timeout=240,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    summary = json.loads((results / "summary.json").read_text())

    # each worker's health, measured by itself, in the summary and the gate
    workers = [p for p in summary["generator"]["per_process"] if p["role"] == "worker"]
    assert len(workers) == 2, summary["generator"]
    for worker in workers:
        assert worker["final"], worker  # written when it quit, not only along the way
        assert worker["cpu_mean"] > 0 and worker["cpu_watched_mean"] > 0, worker
        assert isinstance(worker["send_late_p99_s"], float), worker
        assert worker["gc"]["collections"]["0"] > 0, worker
    assert summary["generator"]["cpu_mean"] > 0 and summary["generator"]["send_late_p99_s"] is not None
    assert summary["generator"]["busiest"] in {w["process"] for w in workers}
    gate = next(g for g in summary["gates"] if g["name"] == "generator")
    assert all(w["process"] in gate["message"] for w in workers), gate["message"]
    assert "largest GC pause" in done.stdout

    # every call the emulator saw is in summary.json and calls.csv, and every answered one got its bye
    with open(results / "calls.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    counters = summary["emulator"]["counters"]
    calls = summary["calls"]
    assert counters["calls_total"] == calls["attempted"] == len(rows), (counters, calls)
    assert counters["calls_answered"] == calls["answered"] == sum(r["outcome"] == "answered" for r in rows)
    assert all(r["outcome"] in ("answered", "interrupted") for r in rows), [r["outcome"] for r in rows]
    assert counters.get("requests_telnyx_rtc.bye", 0) == calls["answered"], counters
    assert counters.get("calls_ended_NORMAL_CLEARING", 0) == calls["answered"], counters

    # some calls were in flight when the run time was up: they were hung up after it, and recorded
    started = min(float(p.read_text()) for p in (results / "ledger").glob("test_start.*"))
    stop = started + DURATION_S
    in_flight = [r for r in rows if _epoch(r["started_at"]) < stop < _epoch(r["ended_at"])]
    assert len(in_flight) >= 2, [(r["started_at"], r["ended_at"]) for r in rows]


def _epoch(iso: str) -> float:
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()
