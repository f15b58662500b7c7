"""`rtcload run`: the main job. Starts the embedded emulator unless --target is given, runs a
scenario with Locust (headless by default), then prints the summary and writes it as JSON.

With SLOs (--slo, --slo-file) it is a CI gate: each objective is judged, JUnit XML is written and
the exit code is 1 when any objective fails. An offline HTML report is written after every run.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import subprocess
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from rtcload.gates.junit import write_junit
from rtcload.gates.procwatch import GeneratorLoad, run_watched
from rtcload.gates.slo import SLO, SLOSet, evaluate, load_slo_file, parse_duration, parse_slo, render_results
from rtcload.loadgen.records import merge_records
from rtcload.loadgen.scenarios import SCENARIOS
from rtcload.loadgen.summary import read_summary, render_summary, write_summary
from rtcload.media_paths import DEFAULT_MEDIA_PATH, MEDIA_PATHS

SCENARIO_DIR = Path(__file__).resolve().parent / "scenarios"
WARMUP_PLUGIN = Path(__file__).resolve().parents[1] / "gates" / "warmup.py"
EXIT_SLO_FAILED = 1
EXIT_USAGE = 2
# Short calls for the default demo so a run shows complete calls in well under a minute.
# Against the embedded emulator the soak scenario brings its own faults and long calls.
CALL_RECORD_PARTS = "calls-part"  # per-process CSVs, merged into calls.csv at the end
HEALTH_PARTS = "health-part"  # per-process whole-run health verdicts (send clock, loop lag)
SOAK_DEMO_DEFAULTS = {
    "--rtc-call-duration": "uniform:20,40",
    "--rtc-faults": "every=10s,action=drop,share=0.3; every=45s,action=restart,keep_sessions=1",
}
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
    parser.add_argument("--impair-up", help="embedded emulator: impair media client->platform (profile or spec)")
    parser.add_argument("--impair-down", help="embedded emulator: impair media platform->client (profile or spec)")
    parser.add_argument(
        "--emulator-media-path",
        choices=MEDIA_PATHS,
        default=DEFAULT_MEDIA_PATH,
        help="embedded emulator's media: the media engine (default) or an aiortc baseline",
    )
    parser.add_argument("--emulator-lean", action="store_true", help="same as --emulator-media-path lean")
    parser.add_argument("--emulator-media", choices=("aiortc", "static"), default="aiortc")
    add_gate_arguments(parser)
    parser.add_argument("--junit", help="JUnit XML path (default: RESULTS/junit.xml when any SLO is given)")
    parser.add_argument("--report", help="HTML report path (default: RESULTS/report.html)")
    parser.add_argument("--no-report", action="store_true", help="do not write the HTML report")
    parser.add_argument("locust_args", nargs=argparse.REMAINDER, help="after --: passed to Locust unchanged")


def add_gate_arguments(parser: argparse.ArgumentParser) -> None:
    """SLO options shared by `rtcload run` and `rtcload capacity`."""
    parser.add_argument(
        "--slo", action="append", default=[], metavar="RULE", help="an objective, e.g. 'registration p95 < 500ms'"
    )
    parser.add_argument("--slo-file", help="TOML (or YAML) file of objectives; see docs/ci.md")
    parser.add_argument("--warmup", help="drop the first DURATION of samples (e.g. 10s); overrides the SLO file")


def gate_set(args: argparse.Namespace) -> SLOSet:
    """The SLOs and warm-up for this run: the file's global + scenario rules, then --slo flags."""
    base = load_slo_file(args.slo_file, args.scenario) if args.slo_file else SLOSet(())
    flags: list[SLO] = [parse_slo(text) for text in args.slo]
    warmup = parse_duration(args.warmup) if args.warmup else base.warmup_s
    return SLOSet((*base.slos, *flags), warmup)


def scenario_file(name: str) -> Path:
    path = Path(name)
    if path.suffix == ".py" and path.exists():
        return path
    if name not in SCENARIOS:
        raise ValueError(f"unknown scenario {name!r}; choose one of {', '.join(SCENARIOS)} or give a .py path")
    return SCENARIO_DIR / f"{name}.py"


def start_emulator(media: str, log_path: Path, extra: list[str] | None = None) -> tuple[subprocess.Popen[str], str]:
    """The embedded emulator in a child process; its control token reaches Locust via the environment
    (never a command line), so the soak scenario can drive faults against it."""
    os.environ.setdefault("RTCLOAD_CONTROL_TOKEN", secrets.token_urlsafe(24))
    log_file = open(log_path, "w")  # noqa: SIM115 - lives as long as the emulator process
    proc = subprocess.Popen(
        [sys.executable, "-m", "rtcload", "emulator", "--port", "0", "--media", media, *(extra or [])],
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


def emulator_extra(args: argparse.Namespace) -> list[str]:
    """Options for the embedded emulator: media impairment in the path, if asked for."""
    extra: list[str] = []
    if getattr(args, "impair_up", None):
        extra += ["--impair-up", args.impair_up]
    if getattr(args, "impair_down", None):
        extra += ["--impair-down", args.impair_down]
    if getattr(args, "emulator_lean", False):
        extra += ["--lean-media"]
    elif getattr(args, "emulator_media_path", DEFAULT_MEDIA_PATH) != DEFAULT_MEDIA_PATH:
        extra += ["--media-path", args.emulator_media_path]
    return extra


def locust_command(args: argparse.Namespace, target: str, csv_prefix: Path, warmup_s: float = 0.0) -> list[str]:
    passthrough = [a for a in (args.locust_args or []) if a != "--"]
    files = f"{scenario_file(args.scenario)},{WARMUP_PLUGIN}"
    cmd = [sys.executable, "-m", "locust", "-f", files, "--host", target]
    if not args.web:
        cmd += ["--headless", "-u", str(args.users), "-r", str(args.spawn_rate), "-t", args.duration]
        cmd += ["--csv", str(csv_prefix), "--csv-full-history", "--only-summary", "--stop-timeout", "30"]
        if "--rtc-call-records" not in passthrough:
            cmd += ["--rtc-call-records", str(csv_prefix.parent / CALL_RECORD_PARTS)]
        if "--rtc-health-file" not in passthrough:
            cmd += ["--rtc-health-file", str(csv_prefix.parent / HEALTH_PARTS)]
    if warmup_s > 0:
        cmd += ["--rtc-warmup", str(warmup_s)]
    if args.processes > 1:
        cmd += ["--processes", str(args.processes)]
    if args.scenario == "registration_storm" and "--rtc-media" not in passthrough:
        cmd += ["--rtc-media", "none"]
    if not args.target:
        defaults = dict(DEMO_DEFAULTS)
        if args.scenario == "soak_reconnect":
            defaults.update(SOAK_DEMO_DEFAULTS)
        for flag, value in defaults.items():
            env = "RTCLOAD_" + flag.removeprefix("--rtc-").replace("-", "_").upper()
            if flag not in passthrough and env not in os.environ:
                cmd += [flag, value]
    return cmd + passthrough


@dataclass
class LocustRun:
    """One finished Locust run: its exit code, summary (None without statistics) and generator load."""

    code: int
    summary: dict[str, Any] | None
    load: GeneratorLoad
    csv_prefix: Path
    wall_s: float


def run_locust(args: argparse.Namespace, target: str, results: Path, warmup_s: float = 0.0) -> LocustRun:
    """Run Locust headless into `results` and read its summary; the Locust process's CPU is sampled."""
    csv_prefix = results / "locust"
    for stale in results.glob("locust_*.csv"):
        stale.unlink()
    for stale in results.glob(f"{HEALTH_PARTS}.*.json"):
        stale.unlink()
    cmd = locust_command(args, target, csv_prefix, warmup_s)
    started = time.monotonic()
    with open(results / "locust.log", "w") as log_file:
        code, load = run_watched(cmd, log_file)
    load = with_process_health(load, results)
    wall_s = round(time.monotonic() - started, 1)
    if not Path(f"{csv_prefix}_stats.csv").exists():
        return LocustRun(code, None, load, csv_prefix, wall_s)
    summary = read_summary(csv_prefix)
    summary.update({"scenario": args.scenario, "target": target, "users": args.users, "duration": args.duration})
    summary.update({"wall_s": wall_s, "warmup_s": warmup_s, "generator": load.to_json()})
    return LocustRun(code, summary, load, csv_prefix, wall_s)


def with_process_health(load: GeneratorLoad, results: Path) -> GeneratorLoad:
    """Add the Locust processes' own verdicts: the worst send-clock lateness and loop lag of any process."""
    verdicts = []
    for part in sorted(results.glob(f"{HEALTH_PARTS}.*.json")):
        try:
            verdicts.append(json.loads(part.read_text()))
        except (OSError, ValueError):
            continue
    if not verdicts:
        return load
    return replace(
        load,
        send_late_p99_s=max(float(v.get("send_late_p99_s", 0.0)) for v in verdicts),
        loop_lag_p95_s=max(float(v.get("loop_lag_p95_s", 0.0)) for v in verdicts),
        clock_saturated=any(bool(v.get("saturated")) for v in verdicts),
    )


def run(args: argparse.Namespace) -> int:
    results = Path(args.results)
    results.mkdir(parents=True, exist_ok=True)
    for stale in results.glob(f"{CALL_RECORD_PARTS}.*.csv"):
        stale.unlink()
    emulator = None
    try:
        scenario_file(args.scenario)
        gates = gate_set(args)
        if args.target:
            target = args.target
        else:
            emulator, target = start_emulator(args.emulator_media, results / "emulator.log", emulator_extra(args))
        where = "embedded emulator " + target if emulator else target
        print(
            f"rtcload run: scenario {args.scenario}, {args.users} users for {args.duration} against {where}", flush=True
        )
        if args.web:
            return subprocess.call(locust_command(args, target, results / "locust", gates.warmup_s))
        outcome = run_locust(args, target, results, gates.warmup_s)
        if outcome.summary is None:
            print(f"rtcload run: Locust produced no statistics (exit {outcome.code}); see {results / 'locust.log'}")
            return outcome.code or 1
        return finish(args, outcome, gates, results)
    except (ValueError, RuntimeError, OSError) as exc:  # SLOError is a ValueError: a usage error
        print(f"rtcload run: {exc}", file=sys.stderr)
        return EXIT_USAGE
    finally:
        stop_emulator(emulator)


def stop_emulator(emulator: subprocess.Popen[str] | None) -> None:
    """Terminate the embedded emulator child (SIGTERM: it prints its final snapshot), kill if stuck."""
    if emulator is None:
        return
    emulator.terminate()
    try:
        emulator.wait(10)
    except subprocess.TimeoutExpired:
        emulator.kill()


def finish(args: argparse.Namespace, outcome: LocustRun, gates: SLOSet, results: Path) -> int:
    """Judge the SLOs, write summary.json, JUnit and the HTML report, print the verdict; the exit code."""
    from rtcload.report.html import write_report  # the report pulls in chart code only when it is needed

    summary = outcome.summary
    assert summary is not None
    verdicts = evaluate(gates.slos, summary)
    summary["slo"] = [v.to_json() for v in verdicts]
    summary["passed"] = all(v.passed for v in verdicts)
    write_summary(summary, results / "summary.json")
    print(render_summary(summary))
    load = outcome.load
    if load.send_late_p99_s is not None:
        print(
            f"\ngenerator health: media send clock late p99 {load.send_late_p99_s * 1000:.1f} ms, loop lag p95 "
            f"{(load.loop_lag_p95_s or 0.0) * 1000:.1f} ms, busiest process {load.cpu_mean:.0f} % CPU: "
            + ("SATURATED" if load.saturated else "not saturated")
        )
    if load.saturated:
        print(
            "\nwarning: the load generator was saturated (busiest Locust process at "
            f"{load.cpu_mean:.0f} % CPU, send clock late p99 {(load.send_late_p99_s or 0.0) * 1000:.1f} ms); "
            "timings include its own delay - add --processes or machines"
        )
    written = [str(results / "summary.json")]
    parts = list(results.glob(f"{CALL_RECORD_PARTS}.*.csv"))
    if parts:
        summary_rows = merge_records(parts, results / "calls.csv")
        for part in parts:
            part.unlink()
        written.append(f"{results / 'calls.csv'} ({summary_rows} calls)")
    if verdicts:
        junit = Path(args.junit) if args.junit else results / "junit.xml"
        write_junit(verdicts, junit, f"rtcload.slo.{Path(args.scenario).stem}", outcome.wall_s)
        written.append(str(junit))
    if not args.no_report:
        report = Path(args.report) if args.report else results / "report.html"
        write_report(summary, outcome.csv_prefix, report)
        written.append(str(report))
    print(f"\nwritten: {', '.join(written)}  (Locust CSV and logs in {results}/)")
    if verdicts:
        print("\n" + render_results(verdicts))
    if not summary["passed"]:
        failed = [v.name for v in verdicts if not v.passed]
        print(f"\nrtcload run: FAILED {len(failed)} SLO(s): {'; '.join(failed)}", file=sys.stderr)
        return EXIT_SLO_FAILED
    code = outcome.code
    return 0 if code in (0, 1) else code  # Locust exits 1 when any request failed; failures are in the summary
