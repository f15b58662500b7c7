"""Issue 22: the soak's judgement as pure functions - FD-growth slopes and their gate, and fault
attribution of calls.csv rows (expected casualties vs what the platform should have survived)."""

from __future__ import annotations

import json
import random

from rtcload.gates.defaults import evaluate_gates
from rtcload.loadgen.resources import GrowthLimits, growth_failures, resource_slopes, slope_per_hour
from rtcload.loadgen.soak_summary import NOT_CONNECTED, attribute, faults_section, soak_section


def series(fd_per_h: float, minutes: int = 40, noise: int = 3, seed: int = 1) -> list[dict[str, float]]:
    """One sample a minute: a few FDs of call churn either way, plus `fd_per_h` of steady growth."""
    rng = random.Random(seed)
    rows = []
    for m in range(minutes):
        fds = 60 + fd_per_h * m / 60 + rng.randint(-noise, noise)
        rows.append({"t": 1000.0 + 60 * m, "open_fds": fds, "udp_sockets": fds - 30, "rss_bytes": 2**27,
                     "asyncio_tasks": 100, "py_objects": 10**5})  # fmt: skip
    return rows


def test_least_squares_slope_per_hour():
    assert slope_per_hour([0, 1800, 3600], [10, 15, 20]) == 10.0
    assert slope_per_hour([0, 60], [1, 2]) is None  # two points are one sample's noise


def test_growth_gate_fails_on_a_growing_series_and_passes_on_a_flat_one():
    growing = resource_slopes(series(27.0), warmup_s=600)
    flat = resource_slopes(series(0.0), warmup_s=600)
    assert 20 < growing["fd_per_h"] < 34 and growing["window_s"] >= 1500
    assert growth_failures(growing) and "fd" in growth_failures(growing)[0]
    assert growth_failures(flat) == []
    assert growth_failures(growing, GrowthLimits(fd_per_h=100, udp_per_h=100)) == []  # configurable
    short = resource_slopes(series(27.0, minutes=4), warmup_s=0)
    assert growth_failures(short) == []  # a 3-minute window is reported, not judged


def test_attribution_of_calls_hit_by_injected_faults():
    faults = [
        {"action": "drop", "t_start": 100.0, "t_end": 100.2},
        {"action": "restart", "t_start": 200.0, "t_end": 200.1},
    ]
    in_setup = {"outcome": "failed", "socket_lost_at": "100.300", "lost_before_answer": "yes"}
    survived = {"outcome": "answered", "socket_lost_at": "201.000", "lost_before_answer": "no"}
    stray = {"outcome": "failed", "socket_lost_at": "150.000", "lost_before_answer": "yes"}
    untouched = {"outcome": "answered", "socket_lost_at": "", "lost_before_answer": ""}
    for row in (in_setup, survived, stray, untouched):
        attribute(row, faults)
    assert (in_setup["fault"], in_setup["fault_expected"]) == ("drop", "yes")
    assert (survived["fault"], survived["fault_expected"]) == ("restart", "no")
    assert (stray["fault"], stray["fault_expected"]) == ("other", "no")  # not injected: the platform's
    assert (untouched["fault"], untouched["fault_expected"]) == ("none", "no")


def test_a_dial_refused_while_the_socket_was_down_is_attributed_to_the_fault_at_its_end():
    """No socket was lost during such a call (it never had one): its end time places it in the fault."""
    from datetime import UTC, datetime

    faults = [{"action": "drop", "t_start": 100.0, "t_end": 100.2}]
    at = datetime.fromtimestamp(100.4, tz=UTC).isoformat()
    refused = {"outcome": "failed", "socket_lost_at": "", "error_code": NOT_CONNECTED, "ended_at": at}
    elsewhere = {**refused, "ended_at": datetime.fromtimestamp(160.0, tz=UTC).isoformat()}
    attribute(refused, faults)
    attribute(elsewhere, faults)
    assert (refused["fault"], refused["fault_expected"], refused["lost_before_answer"]) == ("drop", "yes", "yes")
    assert (elsewhere["fault"], elsewhere["fault_expected"]) == ("other", "no")


def test_soak_gates_judge_only_what_the_platform_should_survive(tmp_path):
    (tmp_path / "faults.p1.json").write_text(json.dumps([{"action": "drop", "t_start": 100.0, "t_end": 100.1}]))
    (tmp_path / "resources.p1.json").write_text(json.dumps(series(0.0)))
    records = [
        {
            "outcome": "failed",
            "cause": "SESSION_NOT_REATTACHED",
            "socket_lost_at": "100.2",
            "lost_before_answer": "yes",
        },
        {"outcome": "answered", "cause": "NORMAL_CLEARING", "socket_lost_at": "100.2", "lost_before_answer": "no"},
    ]
    soak = soak_section(tmp_path, records, series(0.0, seed=2))
    assert soak is not None and set(soak["resources"]) == {"generator.p1", "emulator"}
    assert soak["faults"]["failed_expected"] == 1 and soak["faults"]["answered_not_reattached"] == 0
    summary = {
        "registrations": {"attempted": 1, "failed": 0},
        "calls": {"attempted": 2, "answered": 1, "with_media": 1, "without_media": 0},
        "metrics": {"reconnect": {"count": 2, "failures": 0}},
        "soak": soak,
    }
    verdicts = {v.name: v for v in evaluate_gates(summary)}
    assert verdicts["soak_recovery"].passed and verdicts["soak_resources"].passed, verdicts
    assert "1 calls in setup lost to injected faults (expected)" in verdicts["soak_recovery"].message
    # an answered call the platform did not reattach, and growing FDs: both gates fail
    records.append({"outcome": "answered", "cause": "SESSION_NOT_REATTACHED", "socket_lost_at": "100.2",
                    "lost_before_answer": "no"})  # fmt: skip
    summary["soak"] = soak_section(tmp_path, records, series(27.0))
    verdicts = {v.name: v for v in evaluate_gates(summary)}
    assert (
        not verdicts["soak_recovery"].passed and "1 answered calls not reattached" in verdicts["soak_recovery"].message
    )
    assert not verdicts["soak_resources"].passed and "emulator" in verdicts["soak_resources"].message
    assert "soak_recovery" not in {v.name for v in evaluate_gates({**summary, "soak": None})}


def test_faults_section_counts_injections_and_hits():
    faults = [{"action": "drop", "t_start": 10.0, "t_end": 10.1}, {"action": "drop", "t_start": 20.0, "t_end": 20.1}]
    rows = [{"outcome": "answered", "socket_lost_at": "10.2;20.2", "lost_before_answer": "no"}]
    section = faults_section(rows, faults)
    assert section["injected"] == {"drop": 2} and section["calls_hit"] == {"drop": 1}


def test_a_short_soak_run_attributes_faults_and_carries_the_slopes(tmp_path):
    """`rtcload run --scenario soak_reconnect` end to end (embedded emulator, Locust, real media): the
    calls hit by injected faults say so in calls.csv, summary.json has the soak section with both
    processes' slopes, the soak gates are judged, and the run passes."""
    import csv
    import subprocess
    import sys

    results = tmp_path / "res"
    proc = subprocess.run(
        [sys.executable, "-m", "rtcload", "run", "--scenario", "soak_reconnect", "--users", "4",
         "--spawn-rate", "4", "--duration", "35s", "--results", str(results), "--no-report",
         "--soak-max-mb-per-h", "4096",
         "--", "--rtc-holding", "uniform:4,8", "--rtc-resource-interval", "2",
         "--rtc-faults", "every=3s,action=drop,share=0.5; every=11s,action=restart,keep_sessions=1"],
        capture_output=True, text=True, timeout=240,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    summary = json.loads((results / "summary.json").read_text())
    soak = summary["soak"]
    assert set(soak["resources"]) == {"emulator", *(k for k in soak["resources"] if k.startswith("generator."))}
    assert len(soak["resources"]) == 2
    for slopes in soak["resources"].values():
        assert slopes["samples"] >= 5 and slopes["fd_per_h"] is not None and slopes["tasks_per_h"] is not None
    assert soak["faults"]["injected"].get("drop", 0) >= 5 and soak["faults"]["injected"].get("restart", 0) >= 2
    assert {g["name"] for g in summary["gates"]} >= {"soak_resources", "soak_recovery"}
    assert soak["limits"]["mb_per_h"] == 4096.0  # the option reaches the gate's limits
    with open(results / "calls.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert rows and all(r["fault"] in ("none", "drop", "restart", "other") for r in rows)
    hit = [r for r in rows if r["fault"] in ("drop", "restart")]
    assert hit, "some call was hit by an injected fault"
    # a hit call either lost its socket while it ran, or was refused at dial because the socket was down
    refused_at_dial = [r for r in hit if not r["socket_lost_at"]]
    assert all(r["error_code"] == NOT_CONNECTED and r["lost_before_answer"] == "yes" for r in refused_at_dial)
    assert all(r["fault_expected"] in ("yes", "no") for r in rows)


def test_rss_growth_is_judged_only_with_a_limit():
    rows = series(0.0, minutes=60)
    for i, row in enumerate(rows):  # +12 MB/h of steady growth, a little allocator noise around it
        row["rss_bytes"] = 2**27 + int(i / 60 * 12 * 2**20) + (i % 3) * 2**16
    slopes = resource_slopes(rows, warmup_s=600)
    assert 11 < slopes["mb_per_h"] < 13
    assert growth_failures(slopes) == []  # by default RSS is reported, not judged
    reasons = growth_failures(slopes, GrowthLimits(mb_per_h=2.0))
    assert len(reasons) == 1 and reasons[0].startswith("rss +12") and "> 2 MB/h" in reasons[0]
    assert growth_failures(slopes, GrowthLimits(mb_per_h=16.0)) == []


def test_the_resources_gate_fails_on_rss_growth_only_when_a_limit_is_set(tmp_path):
    rows = series(0.0, minutes=60)
    for i, row in enumerate(rows):
        row["rss_bytes"] = 2**27 + int(i / 60 * 12 * 2**20)
    (tmp_path / "resources.p1.json").write_text(json.dumps(rows))
    summary = {"registrations": {"attempted": 1, "failed": 0}, "calls": {"attempted": 0, "answered": 0}}
    unlimited = soak_section(tmp_path, [], series(0.0, minutes=60))
    limited = soak_section(tmp_path, [], series(0.0, minutes=60), limits=GrowthLimits(mb_per_h=2.0))
    assert unlimited is not None and limited is not None and limited["limits"]["mb_per_h"] == 2.0
    passed = {v.name: v for v in evaluate_gates({**summary, "soak": unlimited})}["soak_resources"]
    failed = {v.name: v for v in evaluate_gates({**summary, "soak": limited})}["soak_resources"]
    assert passed.passed and passed.message.startswith("no FD growth")
    assert not failed.passed and "generator.p1: rss +12.0 MB/h" in failed.message
