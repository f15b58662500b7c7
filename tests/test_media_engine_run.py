"""`rtcload run` on the media engine (the default), exactly as a user runs it: the embedded emulator, Locust.

One user gets audio (under Locust's gevent patching nothing depends on a thread being scheduled), and a
25-user run on a clean loopback either reports clean figures or says the generator was saturated: it
never hands its own distortion over as the platform's.
"""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

from rtcload.media.engine import native_path

RING_DELAY_S = 0.05  # the embedded emulator's default ring delay (rtcload.emulator.config)


EXIT_RUN_BROKEN = 3  # rtcload.results.schema: a default gate failed


def run(tmp_path: Path, users: int, duration: str, spawn_rate: int, timeout: float, *locust: str) -> dict:
    """`rtcload run`; exit 0, or exit 3 with the `generator` gate (and only it) failed: the run said saturated."""
    results = tmp_path / "results"
    options = ["--users", str(users), "--spawn-rate", str(spawn_rate), "--duration", duration]
    done = subprocess.run(
        [sys.executable, "-m", "rtcload", "run", *options, "--results", str(results), "--no-report", *locust],
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert done.returncode in (0, EXIT_RUN_BROKEN), done.stdout[-3000:] + done.stderr[-3000:]
    assert "generator health:" in done.stdout, done.stdout[-3000:]
    summary = json.loads((results / "summary.json").read_text())
    failed_gates = [g["name"] for g in summary["gates"] if not g["passed"]]
    gaps = summary["generator"]["send_gaps"]
    stalled = gaps["gap_max_ms"] > gaps["limit_ms"] or gaps["send_drops"] > 0  # the generator's own stall, said
    if done.returncode == EXIT_RUN_BROKEN:
        assert failed_gates == ["generator"] and (summary["generator"]["saturated"] or stalled), (
            failed_gates,
            done.stderr[-2000:],
        )
        assert "RUN BROKEN: generator" in done.stderr, done.stderr[-2000:]
    else:
        assert not stalled, gaps
        assert not failed_gates, failed_gates
    with open(results / "calls.csv") as rows:
        summary["rows"] = list(csv.DictReader(rows))
    summary["stdout"] = done.stdout
    return summary


def test_one_user_gets_rtp_first_audio_and_a_mos(tmp_path):
    """Every call decoded: first audio comes from decoded PCM, so the decode thread ran under gevent's patching."""
    summary = run(tmp_path, 1, "12s", 1, 180, "--", "--rtc-decode-every", "1")
    metrics = summary["metrics"]
    assert metrics["first_rtp"]["count"] >= 1 and metrics["first_rtp"]["failures"] == 0, metrics
    assert metrics["mos"]["count"] >= 1 and metrics["mos"]["p50"] > 4.0, metrics["mos"]
    answered = [r for r in summary["rows"] if r["outcome"] == "answered"]
    assert answered and all(r["first_rtp_s"] and r["first_audio_s"] for r in answered), answered
    # when our packets really left, per call and per run (the wire test reads these names)
    assert all(float(r["send_gap_max_ms"]) > 0 and r["send_gaps_over_30ms"] and r["send_drops"] for r in answered)
    gaps = summary["generator"]["send_gaps"]
    assert gaps["calls_measured"] == len(answered) and gaps["threshold_ms"] == 30
    assert set(gaps) >= {"gap_max_ms", "gaps_over_threshold", "calls_with_gaps", "worst_instant_calls"}
    assert {"worst_instant_at", "send_drops"} <= set(gaps)
    assert "largest send gap" in summary["stdout"]


def test_twenty_five_users_report_clean_loopback_figures_or_say_saturated(tmp_path):
    summary = run(tmp_path, 25, "30s", 5, 300)
    metrics = summary["metrics"]
    generator = summary["generator"]
    assert generator["send_late_p99_s"] is not None  # the engine's clock was measured
    assert generator["engine"] == native_path()  # which per-packet path carried the calls is in the summary
    assert metrics["jitter"]["count"] > 25 and metrics["rtt"]["count"] > 25, metrics
    clean = (
        metrics["jitter"]["p95"] <= 0.002
        and metrics["rtt"]["p95"] <= 0.010
        and abs(metrics["post_dial_delay"]["p95"] - RING_DELAY_S) <= 0.020
    )
    figures = {k: metrics[k]["p95"] for k in ("jitter", "rtt", "post_dial_delay")}
    assert clean or generator["saturated"], (figures, generator)
