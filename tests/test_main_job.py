"""The README's main job, as a new user runs it: `rtcload run` with no options, no account, no network."""

from __future__ import annotations

import json
import subprocess
import sys
import time


def test_rtcload_run_with_defaults_prints_the_summary_in_under_a_minute(tmp_path):
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "rtcload", "run"], cwd=tmp_path, capture_output=True, text=True, timeout=120
    )
    wall = time.monotonic() - started
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert wall < 60, wall
    for label in ("registration", "post_dial_delay", "call_setup", "first_rtp", "mos", "rtt", "jitter", "packet_loss"):
        assert label in done.stdout
    results = tmp_path / "rtcload-results"
    summary = json.loads((results / "summary.json").read_text())
    assert summary["calls"]["attempted"] > 0 and summary["calls"]["success_ratio"] == 1.0
    assert (results / "report.html").read_text().count('<svg class="chart"') >= 4
    assert (results / "calls.csv").read_text().count("\n") > summary["calls"]["attempted"] * 0.9
