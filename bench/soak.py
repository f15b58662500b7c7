"""Long soak of reconnection: calls with real media held for the whole run while the emulator drops
sockets and restarts on a schedule; prints recovery figures and resource growth.

    python bench/soak.py --minutes 60 --users 8
    python bench/soak.py --minutes 5 --users 4 --faults "every=5s,action=drop,share=0.5"

Everything stays on loopback (embedded emulator, aiortc on both ends); the run is bounded by
--minutes. The baseline for growth ratios is the generator's own first sample after warm-up.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DEFAULT_FAULTS = "every=15s,action=drop,share=0.3; every=120s,action=restart,keep_sessions=1"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=60.0)
    parser.add_argument("--users", type=int, default=8)
    parser.add_argument("--faults", default=DEFAULT_FAULTS)
    parser.add_argument("--call-duration", default="uniform:60,120")
    args = parser.parse_args()

    token = secrets.token_urlsafe(24)
    env = dict(os.environ, RTCLOAD_CONTROL_TOKEN=token)
    work = Path(tempfile.mkdtemp(prefix="rtcload-soak-"))
    emulator = subprocess.Popen(
        [sys.executable, "-m", "rtcload", "emulator", "--port", "0", "--grace", "60"],
        stdout=subprocess.PIPE,
        stderr=open(work / "emulator.log", "w"),  # noqa: SIM115
        text=True,
        env=env,
    )
    assert emulator.stdout is not None
    url = emulator.stdout.readline().split("listening on ")[1].split()[0]
    started = time.monotonic()
    cmd = [
        sys.executable, "-m", "locust", "-f", str(REPO / "rtcload/loadgen/scenarios/soak_reconnect.py"),
        "--host", url, "--headless", "-u", str(args.users), "-r", str(args.users), "-t", f"{int(args.minutes * 60)}s",
        "--csv", str(work / "soak"), "--only-summary", "--stop-timeout", "60",
        "--rtc-call-duration", args.call_duration, "--rtc-think-time", "uniform:1,3", "--rtc-stats-interval", "5",
        "--rtc-faults", args.faults, "--rtc-resource-report", str(work / "resources.json"),
        "--rtc-resource-interval", "30",
    ]  # fmt: skip
    with open(work / "locust.log", "w") as log:
        code = subprocess.call(cmd, stdout=log, stderr=subprocess.STDOUT, env=env)
    wall = time.monotonic() - started
    import asyncio

    from rtcload.emulator.control import send_control  # after the run: not imported into the timing

    snapshot = asyncio.run(send_control(url, token, "snapshot"))
    emulator.terminate()
    emulator.wait(10)

    from rtcload.loadgen.summary import read_summary

    summary = read_summary(work / "soak")
    report = json.loads((work / "resources.json").read_text())
    m = summary["metrics"]
    first, last = report["first"], report["last"]

    def pct(key: str, p: str) -> str:
        v = m.get(key, {}).get(p)
        return "-" if v is None else f"{v * 1000:.0f} ms"

    print(f"soak: {args.minutes:g} min, {args.users} users, faults: {args.faults}")
    print(f"wall {wall:.0f} s, locust exit {code}, work dir {work}")
    print(f"calls answered {summary['calls']['answered']}/{summary['calls']['attempted']}")
    reconnect = m.get("reconnect", {})
    print(f"reconnects {reconnect.get('count', 0)} (failed {reconnect.get('failures', 0)}), "
          f"p50 {pct('reconnect', 'p50')}, p95 {pct('reconnect', 'p95')}")  # fmt: skip
    gap = m.get("media_gap", {})
    print(f"media gaps {gap.get('count', 0)} (never resumed {gap.get('failures', 0)}), "
          f"p50 {pct('media_gap', 'p50')}, p95 {pct('media_gap', 'p95')}")  # fmt: skip
    print(f"emulator after the run: live legs {snapshot['live_legs']}, sessions {snapshot['sessions']}")
    for key in ("rss_bytes", "open_fds", "asyncio_tasks", "peer_connections", "threads"):
        a, b = first[key], last[key]
        ratio = f"{b / a:.2f}" if a else "-"
        print(f"{key:<17} first {a:>12} last {b:>12} ratio {ratio}")
    print(f"leaks beyond tolerance: {report['leaks'] or 'none'}")
    return 0 if not report["leaks"] and snapshot["live_legs"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
