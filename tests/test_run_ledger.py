"""One ledger: a known number of calls through `rtcload run` (real emulator, real Locust process, real media),
and every output agrees on it exactly: summary.json, calls.csv, report.html, JUnit, Locust's own statistics,
the generator's Prometheus counters and the emulator's own counters (an independent witness).
Also: the run's exit codes when it is broken (nothing listening; media that delivers nothing)."""

from __future__ import annotations

import csv
import html
import json
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from collections import Counter
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from rtcload.gates.defaults import evaluate_gates
from rtcload.results.ledger import percentile

USERS, CALLS_PER_USER = 3, 3
# Each caller dials echo, echo, busy: 9 calls, 6 answered with media, 3 refused with USER_BUSY.
SCENARIO = """
import itertools
from rtcload.loadgen.user import CallerUser


class ScriptedCaller(CallerUser):
    def on_start(self):
        self.script = itertools.cycle(["echo", "echo", "busy"])
        super().on_start()

    def pick_destination(self):
        return next(self.script)
"""
EXAMPLE_USERS = Path(__file__).resolve().parents[1] / "examples" / "users.csv"
ISO_MS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


def rtcload_run(*argv: str, cwd: Path, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "rtcload", "run", *argv], cwd=cwd, capture_output=True, text=True, timeout=timeout
    )


def prometheus_counters(results: Path) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """The generator's final counters (written by each Locust process as it quits), summed over processes."""
    out: Counter[tuple[str, tuple[tuple[str, str], ...]]] = Counter()
    for path in (results / "ledger").glob("metrics.*.prom"):
        for family in text_string_to_metric_families(path.read_text()):
            for sample in family.samples:
                if sample.name.endswith("_total"):
                    out[(sample.name, tuple(sorted(sample.labels.items())))] += sample.value
    return dict(out)


def locust_csv_counts(results: Path, name: str) -> tuple[int, int]:
    with open(results / "locust_stats.csv", newline="") as handle:
        row = next(r for r in csv.DictReader(handle) if r["Name"] == name)
    return int(row["Request Count"]), int(row["Failure Count"])


def test_every_output_and_the_emulator_count_the_same_calls(tmp_path):
    scenario = tmp_path / "scripted.py"
    scenario.write_text(SCENARIO)
    results = tmp_path / "results"
    done = rtcload_run(
        "--scenario", str(scenario), "--users", str(USERS), "--spawn-rate", str(USERS), "--duration", "16s",
        "--results", str(results), "--rtc-calls-per-user", str(CALLS_PER_USER),
        "--rtc-holding", "fixed:2.5", "--rtc-think-time", "fixed:0.2",
        # the example users file, as the emulator's users and as the callers' credentials: real logins
        "--emulator-users-file", str(EXAMPLE_USERS), "--rtc-credentials", str(EXAMPLE_USERS),
        cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    attempted, answered, busy = USERS * CALLS_PER_USER, USERS * 2, USERS

    summary = json.loads((results / "summary.json").read_text())
    calls = summary["calls"]
    assert (calls["attempted"], calls["answered"], calls["failed"]) == (attempted, answered, busy)
    assert calls["failed_by_cause"] == {"USER_BUSY": busy} and calls["interrupted"] == 0
    assert calls["with_media"] == answered and calls["without_media"] == 0
    assert summary["outcome"]["verdict"] == "passed" and summary["passed"] is True

    rows = list(csv.DictReader((results / "calls.csv").read_text().splitlines()))
    assert len(rows) == attempted
    assert Counter(r["outcome"] for r in rows) == {"answered": answered, "failed": busy}
    assert Counter(r["cause"] for r in rows if r["outcome"] == "failed") == {"USER_BUSY": busy}
    assert all(ISO_MS.match(r["started_at"]) and ISO_MS.match(r["ended_at"]) for r in rows)
    assert all(r["started_at"] <= r["ended_at"] for r in rows)
    assert {r["user"] for r in rows} <= {f"loadgen-{i:03d}" for i in range(1, 11)}

    # Locust's own statistics (its final JSON and its CSV table) count the same calls
    assert summary["locust"]["CALL answer"] == {"count": attempted, "failures": busy}
    assert locust_csv_counts(results, "answer") == (attempted, busy)
    assert summary["locust"]["REGISTER registration"] == {"count": USERS, "failures": 0}

    # the generator's Prometheus counters
    prom = prometheus_counters(results)
    assert prom[("rtcload_calls_total", (("result", "answered"),))] == answered
    assert prom[("rtcload_calls_total", (("result", "failed"),))] == busy
    assert prom[("rtcload_hangup_causes_total", (("cause", "USER_BUSY"),))] == busy

    # the emulator's own counters: calls it saw, answered, and legs ended by cause
    emulator = json.loads((results / "emulator.json").read_text())["counters"]
    assert emulator["calls_total"] == attempted
    assert emulator["calls_answered"] == answered
    assert emulator["calls_ended_USER_BUSY"] == busy
    assert emulator["calls_ended_NORMAL_CLEARING"] == answered
    assert emulator["logins_ok"] == USERS == summary["registrations"]["succeeded"]
    assert summary["emulator"]["counters"] == emulator

    # the report embeds the same summary and says it passed; JUnit names every default gate
    report = (results / "report.html").read_text()
    embedded = json.loads(html.unescape(report.split('id="summary">')[1].split("</script>")[0]))
    assert embedded["calls"] == calls
    assert 'data-verdict="passed"' in report
    suites = {s.get("name"): s for s in ET.parse(results / "junit.xml").getroot().findall("testsuite")}
    gate_names = {c.get("name") for c in suites["rtcload.gates"].findall("testcase")}
    assert gate_names == {"registered", "calls_answered", "media", "generator"}
    assert suites["rtcload.gates"].get("failures") == "0"

    # percentiles come from the raw samples (nearest rank), the same values calls.csv holds per call
    setups = sorted(float(r["call_setup_s"]) for r in rows if r["outcome"] == "answered")
    setup = summary["metrics"]["call_setup"]
    assert abs(setup["p50"] - percentile(setups, 0.5)) < 1e-5 and abs(setup["max"] - setups[-1]) < 1e-5
    mos = summary["metrics"]["mos"]
    assert 1.0 <= mos["min"] <= mos["p5"] <= mos["p50"] <= mos["max"] <= 5.0
    assert mos["min"] <= mos["mean"] <= mos["max"]
    printed = next(line for line in done.stdout.splitlines() if line.split()[:1] == ["mos"])
    header = done.stdout.splitlines()[done.stdout.splitlines().index(printed) - 1]
    assert header.split()[-4:] == ["p50", "mean", "p5", "min"]


def test_a_run_against_nothing_exits_3_with_one_line_why(tmp_path):
    done = rtcload_run("--target", "ws://127.0.0.1:1/", "--users", "2", "--duration", "4s", cwd=tmp_path)
    assert done.returncode == 3, done.stdout[-2000:] + done.stderr[-2000:]
    assert done.stderr.strip().count("\n") == 0
    assert done.stderr.startswith("rtcload run: RUN BROKEN: registered: no successful registration")
    summary = json.loads((tmp_path / "rtcload-results" / "summary.json").read_text())
    assert summary["passed"] is False and summary["outcome"]["verdict"] == "run_broken"
    report = (tmp_path / "rtcload-results" / "report.html").read_text()
    assert 'data-verdict="run_broken"' in report and "no successful registration" in report


def test_answered_calls_without_media_exit_3_and_the_gate_can_be_turned_off(tmp_path):
    # one user, the emulator's one-way destination: answered, but the platform sends no audio
    args = ("--users", "1", "--duration", "6s", "--rtc-destinations", "oneway", "--rtc-holding", "fixed:1.5")
    done = rtcload_run(*args, cwd=tmp_path)
    assert done.returncode == 3, done.stdout[-2000:] + done.stderr[-2000:]
    assert re.fullmatch(
        r"rtcload run: RUN BROKEN: media: \d+ of \d+ answered calls received no RTP \(no media\)\n", done.stderr
    )
    summary = json.loads((tmp_path / "rtcload-results" / "summary.json").read_text())
    media_gate = next(g for g in summary["gates"] if g["name"] == "media")
    assert not media_gate["passed"] and summary["calls"]["without_media"] == summary["calls"]["answered"] > 0
    # `--no-gate media` judges the same summary without that gate (each gate is off one by one)
    assert all(v.passed for v in evaluate_gates(summary, ["media"]))
    assert [v.name for v in evaluate_gates(summary, ["media", "generator"])] == ["registered", "calls_answered"]
