"""`rtcload run`: the main job. Starts the embedded emulator unless --target is given, runs a
scenario with Locust (headless by default), then prints the summary and writes it as JSON.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

from rtcload.loadgen.scenarios import SCENARIOS
from rtcload.loadgen.summary import read_summary, render_summary, write_summary

SCENARIO_DIR = Path(__file__).resolve().parent / "scenarios"
# Short calls for the default demo so a run shows complete calls in well under a minute.
DEMO_DEFAULTS = {
    "--rtc-call-duration": "uniform:3,5",
    "--rtc-think-time": "uniform:0.5,1.5",
    "--rtc-stats-interval": "1",
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--scenario", default="smoke", help=f"one of {', '.join(SCENARIOS)} or a locustfile path")
    parser.add_argument("--target", help="ws:// or wss:// URL (default: start the embedded emulator on loopback)")
    parser.add_argument("--users", type=int, default=10, help="concurrent virtual users")
    parser.add_argument("--spawn-rate", type=float, default=5.0, help="users started per second")
    parser.add_argument("--duration", default="30s", help="run time (Locust syntax: 30s, 5m, 1h)")
    parser.add_argument("--processes", type=int, default=1, help="Locust processes on this machine (one per core)")
    parser.add_argument("--web", action="store_true", help="show Locust's web UI instead of running headless")
    parser.add_argument("--results", default="rtcload-results", help="directory for CSV, logs and summary.json")
    parser.add_argument("--emulator-media", choices=("aiortc", "static"), default="aiortc")
    parser.add_argument("locust_args", nargs=argparse.REMAINDER, help="after --: passed to Locust unchanged")


def scenario_file(name: str) -> Path:
    path = Path(name)
    if path.suffix == ".py" and path.exists():
        return path
    if name not in SCENARIOS:
        raise ValueError(f"unknown scenario {name!r}; choose one of {', '.join(SCENARIOS)} or give a .py path")
    return SCENARIO_DIR / f"{name}.py"


def start_emulator(media: str, log_path: Path) -> tuple[subprocess.Popen[str], str]:
    log_file = open(log_path, "w")  # noqa: SIM115 - lives as long as the emulator process
    proc = subprocess.Popen(
        [sys.executable, "-m", "rtcload", "emulator", "--port", "0", "--media", media],
        stdout=subprocess.PIPE,
        stderr=log_file,
        text=True,
    )
    assert proc.stdout is not None
    banner = proc.stdout.readline()
    if "listening on " not in banner:
        proc.kill()
        raise RuntimeError(f"embedded emulator did not start (see {log_path})")
    return proc, banner.split("listening on ")[1].split()[0]


def locust_command(args: argparse.Namespace, target: str, csv_prefix: Path) -> list[str]:
    passthrough = [a for a in (args.locust_args or []) if a != "--"]
    cmd = [sys.executable, "-m", "locust", "-f", str(scenario_file(args.scenario)), "--host", target]
    if not args.web:
        cmd += ["--headless", "-u", str(args.users), "-r", str(args.spawn_rate), "-t", args.duration]
        cmd += ["--csv", str(csv_prefix), "--only-summary", "--stop-timeout", "30"]
    if args.processes > 1:
        cmd += ["--processes", str(args.processes)]
    if args.scenario == "registration_storm" and "--rtc-media" not in passthrough:
        cmd += ["--rtc-media", "none"]
    if not args.target:
        for flag, value in DEMO_DEFAULTS.items():
            env = "RTCLOAD_" + flag.removeprefix("--rtc-").replace("-", "_").upper()
            if flag not in passthrough and env not in os.environ:
                cmd += [flag, value]
    return cmd + passthrough


def run(args: argparse.Namespace) -> int:
    results = Path(args.results)
    results.mkdir(parents=True, exist_ok=True)
    emulator = None
    try:
        scenario_file(args.scenario)
        if args.target:
            target = args.target
        else:
            emulator, target = start_emulator(args.emulator_media, results / "emulator.log")
        csv_prefix = results / "locust"
        cmd = locust_command(args, target, csv_prefix)
        where = "embedded emulator " + target if emulator else target
        print(
            f"rtcload run: scenario {args.scenario}, {args.users} users for {args.duration} against {where}", flush=True
        )
        started = time.monotonic()
        with open(results / "locust.log", "w") as log_file:
            output = {} if args.web else {"stdout": log_file, "stderr": subprocess.STDOUT}
            code = subprocess.call(cmd, **output)
        if args.web:
            return code
        if not Path(f"{csv_prefix}_stats.csv").exists():
            print(f"rtcload run: Locust produced no statistics (exit {code}); see {results / 'locust.log'}")
            return code or 1
        summary = read_summary(csv_prefix)
        summary.update({"scenario": args.scenario, "target": target, "users": args.users, "duration": args.duration})
        summary["wall_s"] = round(time.monotonic() - started, 1)
        write_summary(summary, results / "summary.json")
        print(render_summary(summary))
        print(f"\nsummary: {results / 'summary.json'}  (Locust CSV and logs in {results}/)")
        return 0 if code in (0, 1) else code  # Locust exits 1 when any request failed; failures are in the summary
    except (ValueError, RuntimeError) as exc:
        print(f"rtcload run: {exc}", file=sys.stderr)
        return 2
    finally:
        if emulator is not None:
            emulator.terminate()
            try:
                emulator.wait(10)
            except subprocess.TimeoutExpired:
                emulator.kill()
