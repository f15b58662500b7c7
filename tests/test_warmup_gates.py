"""A warm-up longer than the registrations (issue 25): the default gates judge what the warm-up left out
of the statistics instead of "0 of 0".

Before the fix, `rtcload run --warmup 60s --duration 6s` exited 3 with "registered: no successful
registration: 0 of 0 succeeded" although every user registered: the warm-up had dropped the samples the
gate counts. Real runs (embedded emulator, real Locust, real media), ~10 s each.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from rtcload.gates.defaults import evaluate_gates


def rtcload_run(*argv: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "rtcload", "run", *argv], cwd=cwd, capture_output=True, text=True, timeout=180
    )


def gates_of(cwd: Path) -> tuple[dict, dict[str, tuple[bool, str]]]:
    summary = json.loads((cwd / "rtcload-results" / "summary.json").read_text())
    return summary, {g["name"]: (g["passed"], g["message"]) for g in summary["gates"]}


def test_a_warmup_longer_than_the_run_judges_the_registrations_it_left_out(tmp_path):
    done = rtcload_run(
        "--users", "2", "--spawn-rate", "10", "--duration", "6s", "--warmup", "60s",
        "--rtc-holding", "fixed:1", "--rtc-think-time", "fixed:0.5", cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    summary, gates = gates_of(tmp_path)
    assert summary["registrations"]["attempted"] == 0  # the statistics still leave the warm-up out
    assert summary["registrations"]["in_warmup"] == {"attempted": 2, "failed": 0}
    assert gates["registered"] == (True, "2 of 2 registrations succeeded, all during the 60 s warm-up (none after it)")
    answered = summary["calls"]["in_warmup"]["answered"]
    assert answered > 0 and gates["calls_answered"][0], gates["calls_answered"]
    assert "during the 60 s warm-up" in gates["calls_answered"][1]


def test_registrations_that_all_failed_in_the_warmup_still_fail_the_gate(tmp_path):
    done = rtcload_run(
        "--target", "ws://127.0.0.1:1/", "--users", "2", "--duration", "4s", "--warmup", "60s", cwd=tmp_path
    )
    assert done.returncode == 3, done.stdout[-2000:] + done.stderr[-2000:]
    summary, gates = gates_of(tmp_path)
    attempted = summary["registrations"]["in_warmup"]["attempted"]
    assert attempted > 0 and summary["registrations"]["in_warmup"]["failed"] == attempted
    assert gates["registered"] == (
        False,
        f"no successful registration: 0 of {attempted} succeeded, all during the 60 s warm-up",
    )


def test_no_registration_at_all_is_said_so_and_fails():
    summary = {
        "registrations": {"attempted": 0, "failed": 0, "in_warmup": {"attempted": 0, "failed": 0}},
        "calls": {"attempted": 0, "answered": 0},
        "warmup_s": 10.0,
    }
    registered = next(v for v in evaluate_gates(summary) if v.name == "registered")
    assert not registered.passed and "none was attempted" in registered.message
