"""Soak of reconnection with a leak watch: runs `rtcload run --scenario soak_reconnect` (embedded
emulator, drop/restart fault schedule) and samples every process of the run from outside - the Locust
process(es) and the emulator - every `--sample`: RSS, open FDs, UDP sockets, threads. The product's
own in-process figures (asyncio tasks, Python objects) come from the run's summary.json
(`soak.resources`, sampled inside each process at the same interval). Prints the slope per hour of
each after `--warmup` (least squares), per process.

    python bench/soak.py --duration 20m --users 16 --sample 60s --warmup 5m
    python bench/soak.py --duration 4m --users 8 --sample 10s --warmup 60s \
        --faults "every=5s,action=drop,share=0.3; every=30s,action=restart,keep_sessions=1"

Everything stays on loopback; the run is bounded by --duration (plus Locust's stop timeout).
Anything after `--` goes to `rtcload run` unchanged.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import psutil

from rtcload.loadgen.resources import resource_slopes, udp_socket_count
from rtcload.options.kinds import parse_duration

ROLES = ("generator", "emulator")


def role_of(proc: psutil.Process) -> str | None:
    """generator = a Locust process (master or worker), emulator = the embedded emulator."""
    try:
        cmd = proc.cmdline()
    except psutil.Error:
        return None
    if "locust" in cmd and "-m" in cmd:
        return "generator"
    if "rtcload" in cmd and "emulator" in cmd:
        return "emulator"
    return None


def sample(proc: psutil.Process) -> dict[str, Any] | None:
    try:
        with proc.oneshot():
            return {
                "t": time.monotonic(),
                "rss_bytes": proc.memory_info().rss,
                "open_fds": proc.num_fds(),
                "udp_sockets": udp_socket_count(proc.pid),
                "threads": proc.num_threads(),
            }
    except psutil.Error:
        return None


def fmt(value: Any, unit: str = "") -> str:
    return "-" if value is None else f"{value:+.1f}{unit}"


def print_slopes(title: str, per_process: dict[str, dict[str, Any]]) -> None:
    print(f"\n{title}")
    print(
        f"{'process':<24} {'samples':>7} {'window':>8} {'FD/h':>8} {'UDP/h':>8} {'MB/h':>8} {'tasks/h':>8} {'obj/h':>9}"
        f" {'pyarena':>8} {'pyblock':>8}"
    )
    for name, s in per_process.items():
        print(
            f"{name:<24} {s.get('samples', 0):>7} {s.get('window_s', 0) / 60:>7.1f}m {fmt(s.get('fd_per_h')):>8} "
            f"{fmt(s.get('udp_per_h')):>8} {fmt(s.get('mb_per_h')):>8} {fmt(s.get('tasks_per_h')):>8} "
            f"{fmt(s.get('objects_per_h')):>9} {fmt(s.get('py_arena_mb_per_h')):>8} "
            f"{fmt(s.get('py_block_mb_per_h')):>8}"
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", default="20m", help="run time (Locust syntax)")
    parser.add_argument("--users", type=int, default=16)
    parser.add_argument("--sample", default="60s", help="sampling interval (e.g. 60s; 10s for quick runs)")
    parser.add_argument("--warmup", default="10m", help="samples before this are left out of the slopes")
    parser.add_argument("--faults", default="", help="fault schedule (default: the scenario's)")
    parser.add_argument("--results", default="", help="results directory (default: a temp dir)")
    parser.add_argument("rest", nargs="*", help="after --: more `rtcload run` arguments")
    args = parser.parse_args()
    interval, warmup = parse_duration(args.sample, "--sample"), parse_duration(args.warmup, "--warmup")
    results = Path(args.results or tempfile.mkdtemp(prefix="rtcload-soak-"))
    results.mkdir(parents=True, exist_ok=True)
    cmd = [
        sys.executable, "-m", "rtcload", "run", "--scenario", "soak_reconnect", "--users", str(args.users),
        "--spawn-rate", str(max(1, args.users // 4)), "--duration", args.duration, "--results", str(results),
    ]  # fmt: skip
    locust = [a for a in args.rest if a != "--"] + ["--rtc-resource-interval", str(interval)]
    if args.faults:
        locust += ["--rtc-faults", args.faults]
    cmd += ["--", *locust]
    print("command:", shlex.join(cmd), flush=True)
    print(f"uptime: {os.popen('uptime').read().strip()}  (shared machine)", flush=True)
    started = time.monotonic()
    run = subprocess.Popen(cmd, stdout=open(results / "run.out", "w"), stderr=subprocess.STDOUT)  # noqa: SIM115
    series: dict[str, list[dict[str, Any]]] = {}
    names: dict[int, str] = {}
    next_at = time.monotonic()
    while run.poll() is None:
        now = time.monotonic()
        if now >= next_at:
            next_at += interval
            try:
                children = psutil.Process(run.pid).children(recursive=True)
            except psutil.Error:
                children = []
            for child in children:
                role = names.get(child.pid) or role_of(child)
                if role is None:
                    continue
                if child.pid not in names:
                    names[child.pid] = f"{role}[{child.pid}]"
                row = sample(child)
                if row is not None:
                    series.setdefault(names[child.pid], []).append(row)
            line = "  ".join(
                f"{n}: {rows[-1]['rss_bytes'] / 2**20:.0f}MB {rows[-1]['open_fds']}fd {rows[-1]['udp_sockets']}udp"
                for n, rows in series.items()
                if rows and now - rows[-1]["t"] < interval
            )
            print(f"[{(now - started) / 60:5.1f} min] {line}", flush=True)
        time.sleep(min(1.0, max(0.0, next_at - time.monotonic())))
    code = run.returncode
    (results / "soak-series.json").write_text(json.dumps(series) + "\n")
    print(f"\nrtcload run exit {code}, wall {(time.monotonic() - started) / 60:.1f} min, results {results}")
    print(f"uptime: {os.popen('uptime').read().strip()}")
    ended = started + parse_duration(
        args.duration, "--duration"
    )  # the planned end: calls ending at the stop are no trend
    outside = {
        name: resource_slopes([r for r in rows[1:] if r["t"] <= ended], warmup)  # 1st: still starting
        for name, rows in series.items()
    }
    print_slopes(f"outside view (/proc every {args.sample}, after {args.warmup} warm-up), per hour", outside)
    summary_path = results / "summary.json"
    if summary_path.exists():
        summary = json.loads(summary_path.read_text())
        inside = (summary.get("soak") or {}).get("resources") or {}
        if inside:
            print_slopes("inside view (summary.json soak.resources; the gate's figures), per hour", inside)
        calls = summary.get("soak", {}).get("faults", {})
        if calls:
            print("\nfault attribution:", json.dumps(calls))
        print("outcome:", summary.get("outcome"), "-", summary.get("reason", ""))
    return code


if __name__ == "__main__":
    sys.exit(main())
