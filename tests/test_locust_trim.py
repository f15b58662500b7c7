"""Locust's per-second counts and chart history stay bounded in a soak (issue 22, loadgen/locust_trim.py).

Real locust.stats objects, in a subprocess (importing Locust patches the process with gevent): an hour
of per-second counts and chart points is trimmed to the last minute and at most MAX_HISTORY points,
and what Locust reads from them (current RPS, the history's first and last points) does not change.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

SCRIPT = """
import json, time
from locust.stats import RequestStats
from rtcload.loadgen.locust_trim import KEEP_S, MAX_HISTORY, trim

stats = RequestStats()
now = int(time.time())
stats.total.start_time = now - 3600
for entry in (stats.total, stats.get("call_setup", "CALL"), stats.get("mos", "MEDIA")):
    for t in range(now - 3600, now + 1):  # an hour of requests, one a second, a failure every 10th
        entry.num_reqs_per_sec[t] += 1
        if t % 10 == 0:
            entry.num_fail_per_sec[t] += 1
stats.total.last_request_timestamp = now
stats.history.extend({"time": k} for k in range(720 * 2))  # two hours of 5 s chart points
rps = stats.total.current_rps, stats.total.current_fail_per_sec
dropped = trim(stats, now)
entries = (stats.total, *stats.entries.values())
print(json.dumps({
    "dropped": dropped,
    "kept": max(len(e.num_reqs_per_sec) for e in entries),
    "kept_fail": max(len(e.num_fail_per_sec) for e in entries),
    "rps_same": (stats.total.current_rps, stats.total.current_fail_per_sec) == rps,
    "history": len(stats.history),
    "history_ends": [stats.history[0]["time"], stats.history[-1]["time"]],
    "keep_s": KEEP_S, "max_history": MAX_HISTORY,
}))
"""


def test_an_hour_of_locust_stats_is_trimmed_to_what_locust_reads():
    out = subprocess.run(
        [sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=60, check=True, cwd=ROOT
    ).stdout
    result = json.loads(out.strip().splitlines()[-1])
    assert result["kept"] == result["keep_s"] + 1, result  # now - KEEP_S .. now
    assert result["kept_fail"] <= result["keep_s"] // 10 + 1, result
    assert result["dropped"] > 3 * 3000, result
    assert result["rps_same"], result
    assert result["history"] <= result["max_history"] * 2 * 3 // 4, result  # the older half thinned
    assert result["history_ends"] == [0, 720 * 2 - 1], result  # the chart still spans the whole run
