"""`rtcload run`: the main job. Starts the embedded emulator unless --target is given, runs a
scenario with Locust (headless by default), then judges the run and writes its results.

Every output (summary.json, calls.csv, report.html, JUnit) is computed from one ledger of samples and
call records that the Locust processes write as they fire the same samples into Locust and Prometheus.
The exit code says what happened (README, docs/ci.md): 0 every gate held, 1 an SLO failed, 2 usage
error, 3 the run itself is broken (a default gate failed, or Locust crashed), 128+n stopped by signal n.
"""

from __future__ import annotations

import argparse
import json
import secrets
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from rtcload.emulator.playout import parse_playout
from rtcload.gates.defaults import evaluate_gates
from rtcload.gates.junit import write_junit
from rtcload.gates.slo import SLO, SLOResult, SLOSet, evaluate, load_slo_file, parse_duration, parse_slo, render_results
from rtcload.loadgen import open_options, run_config
from rtcload.loadgen.lifecycle import Interrupted, ProcessGroup, stop_process
from rtcload.loadgen.load_model import load_model_summary, read_scheduler_parts, render_load_model
from rtcload.loadgen.process_health import read_records as read_health_records
from rtcload.loadgen.procwatch import GeneratorLoad, run_watched
from rtcload.loadgen.records import merge_records
from rtcload.loadgen.resources import GrowthLimits
from rtcload.loadgen.run_options import (  # noqa: F401 - the argument builders, re-exported for capacity and tests
    add_arguments,
    add_load_arguments,
    gate_fmt,
    gate_same,
    load_option_args,
)
from rtcload.loadgen.scenarios import SCENARIOS
from rtcload.loadgen.settings import LEGACY_ENV, LOAD_OPTIONS
from rtcload.loadgen.soak_summary import add_soak, option_value
from rtcload.loadgen.summary import render_summary
from rtcload.media.ice import parse_ice_servers
from rtcload.media.ice_options import ENV_SERVERS, ice_servers_text
from rtcload.media_paths import DEFAULT_MEDIA_PATH
from rtcload.metrics.gc_pauses import merge_gc
from rtcload.options import env as process_env
from rtcload.options.kinds import parse_bool
from rtcload.results.ledger import CALLS_PART, SAMPLES_PART, build_summary, read_records, read_samples
from rtcload.results.outcome import Outcome
from rtcload.results.schema import EXIT_OK, EXIT_RUN_BROKEN, EXIT_SLO_FAILED, EXIT_USAGE, write_summary
from rtcload.results.send_gaps import send_gap_summary

SCENARIO_DIR = Path(__file__).resolve().parent / "scenarios"
WARMUP_PLUGIN = Path(__file__).resolve().parents[1] / "gates" / "warmup.py"
LEDGER_DIR = "ledger"  # per-process samples, call records and final counters; merged at the end
STOP_TIMEOUT_S = 30  # Locust's --stop-timeout: calls in progress end with a bye
# Embedded runs use demo defaults (short calls, 1 s stats) so a run shows complete calls in well under a
# minute; they differ from the documented defaults of a --target run (README "Embedded demo defaults").
HEALTH_PARTS = "health"  # in the ledger: per-process whole-run health verdicts (send clock, loop lag)
SOAK_DEMO_DEFAULTS = {
    "--rtc-holding": "uniform:20,40",
    "--rtc-faults": "every=10s,action=drop,share=0.3; every=45s,action=restart,keep_sessions=1",
}
DEMO_DEFAULTS = {
    "--rtc-holding": "uniform:3,5",
    "--rtc-think-time": "uniform:0.5,1.5",
    "--rtc-stats-interval": "1",
}


def demo_defaults(args: argparse.Namespace) -> dict[str, str]:
    """The --rtc-* defaults of an embedded run (shown by --print-config as such)."""
    soak = SOAK_DEMO_DEFAULTS if getattr(args, "scenario", "") == "soak_reconnect" else {}
    return {**DEMO_DEFAULTS, **soak}


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


@dataclass
class Emulator:
    """The embedded emulator child: its URL, and its own counters once it has stopped (the witness)."""

    proc: subprocess.Popen[str]
    url: str
    snapshot: dict[str, Any] = field(default_factory=dict)

    def stop(self) -> dict[str, Any]:
        """SIGTERM: it prints a final snapshot of its counters on stdout, which is kept."""
        if self.proc.poll() is None:
            stop_process(self.proc, timeout_s=10.0)
        assert self.proc.stdout is not None
        for line in self.proc.stdout.read().splitlines():
            if line.startswith('{"emulator_stopped"'):
                self.snapshot = json.loads(line)["emulator_stopped"]
        return self.snapshot


def start_emulator(
    media: str, log_path: Path, extra: list[str] | None = None, group: ProcessGroup | None = None
) -> Emulator:
    """The embedded emulator in a child process; its control token reaches Locust via the environment
    (never a command line), so the soak scenario can drive faults against it."""
    process_env.set_default("RTCLOAD_CONTROL_TOKEN", secrets.token_urlsafe(24))
    log_file = open(log_path, "w")  # noqa: SIM115 - lives as long as the emulator process
    cmd = [sys.executable, "-m", "rtcload", "emulator", "--port", "0", "--media", media, *(extra or [])]
    start = group.popen if group is not None else subprocess.Popen
    proc = start(cmd, stdout=subprocess.PIPE, stderr=log_file, text=True)
    assert proc.stdout is not None
    banner = proc.stdout.readline()
    if "listening on " not in banner:
        proc.kill()
        raise RuntimeError(f"embedded emulator did not start (see {log_path})")
    return Emulator(proc, banner.split("listening on ")[1].split()[0])


def stop_emulator(emulator: Emulator | None) -> dict[str, Any]:
    """The emulator's final counters; none when a second signal forced the stop (the group is killed)."""
    if emulator is None:
        return {}
    try:
        return emulator.stop()
    except Interrupted:
        return {}


def emulator_extra(args: argparse.Namespace) -> list[str]:
    """Options for the embedded emulator: media impairment in the path, its users, media path and echo playout."""
    extra: list[str] = []
    if args.impair_up:
        extra += ["--impair-up", args.impair_up]
    if args.impair_down:
        extra += ["--impair-down", args.impair_down]
    if args.emulator_users_file:
        extra += ["--users-file", args.emulator_users_file]
    if args.emulator_media_path != DEFAULT_MEDIA_PATH:
        extra += ["--media-path", args.emulator_media_path]
    if args.emulator_echo_playout is not None:  # seconds (a duration, parsed and range-checked by the parser)
        extra += ["--echo-playout", f"{args.emulator_echo_playout:g}"]
    if args.scenario == "soak_reconnect":  # the emulator samples itself for the soak's slopes
        extra += ["--resource-interval", soak_interval(args)]
    return extra + open_options.emulator_arguments(args)


def soak_interval(args: argparse.Namespace) -> str:
    given = getattr(args, "rtc_resource_interval", None)  # before `--` (run lists every --rtc-* option)
    if given is not None:
        return str(given)
    return option_value(_passthrough(args), "--rtc-resource-interval", "RTCLOAD_RESOURCE_INTERVAL", "30")


def _passthrough(args: argparse.Namespace) -> list[str]:
    return [a for a in (args.locust_args or []) if a != "--"]


def wants_locust_help(args: argparse.Namespace) -> bool:
    return any(a in ("-h", "--help") for a in _passthrough(args))


def locust_command(args: argparse.Namespace, target: str, results: Path, warmup_s: float = 0.0) -> list[str]:
    given, _env = load_option_args(args)
    passthrough = given + _passthrough(args)
    files = f"{scenario_file(args.scenario)},{WARMUP_PLUGIN}"
    cmd = [sys.executable, "-m", "locust", "-f", files, "--host", target]
    csv_prefix = results / "locust"
    if args.web:
        if "--web-host" not in passthrough:
            cmd += ["--web-host", args.web_host]
        cmd += ["-u", str(args.users), "-r", str(args.spawn_rate)]  # the UI form's defaults
    else:
        cmd += ["--headless", "-u", str(args.users), "-r", str(args.spawn_rate), "-t", args.duration, "--only-summary"]
    cmd += ["--csv", str(csv_prefix), "--csv-full-history", "--stop-timeout", str(STOP_TIMEOUT_S)]
    if "--json-file" not in passthrough:
        cmd += ["--json-file", str(results / "locust")]  # Locust's final statistics, written after the stop
    if "--rtc-ledger" not in passthrough:
        cmd += ["--rtc-ledger", str(results / LEDGER_DIR)]
    if "--rtc-health-file" not in passthrough:
        cmd += ["--rtc-health-file", str(results / LEDGER_DIR / HEALTH_PARTS)]
    if warmup_s > 0:
        cmd += ["--rtc-warmup", str(warmup_s)]
    if args.processes > 1:
        cmd += ["--processes", str(args.processes)]
        if "--master-bind-port" not in passthrough:  # not Locust's fixed 5557: runs side by side must not collide
            port = str(free_tcp_port())
            cmd += ["--master-bind-host", "127.0.0.1", "--master-bind-port", port, "--master-port", port]
    cmd += open_options.locust_arguments(args)
    if args.holding and not open_options.is_open(args):  # one name for call length
        cmd += ["--rtc-holding", args.holding]
    if args.scenario == "registration_storm" and "--rtc-media" not in passthrough:
        cmd += ["--rtc-media", "none"]
    if args.relay_only and "--rtc-relay-only" not in passthrough:
        cmd += ["--rtc-relay-only"]
    if not args.target:
        defaults = dict(DEMO_DEFAULTS)
        if args.scenario == "soak_reconnect":
            defaults.update(SOAK_DEMO_DEFAULTS)
        for flag, value in defaults.items():
            env = "RTCLOAD_" + flag.removeprefix("--rtc-").replace("-", "_").upper()
            given_env = process_env.is_set(env) or process_env.is_set(LEGACY_ENV.get(env, env))
            if flag not in passthrough and flag not in cmd and not given_env:  # --holding may have given it
                cmd += [flag, value]
    return cmd + passthrough


def free_tcp_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def locust_env(args: argparse.Namespace) -> dict[str, str]:
    """Locust's environment: ours plus secrets given as options (ICE credentials), never on argv."""
    env = process_env.snapshot()
    for _flag, name, _default, _help, kind in LOAD_OPTIONS:
        value = env.get(name, "")
        if kind == "bool" and value.strip():  # one boolean vocabulary: Locust's env parser knows no `y`/`n`
            env[name] = "true" if parse_bool(value, name) else "false"
    _argv, secret = load_option_args(args)
    env.update(secret)
    servers = ice_servers_text(args)
    if servers:
        parse_ice_servers(servers)  # a usage error here, not 30 s later in every user
        env[ENV_SERVERS] = servers
    return env


@dataclass
class LocustRun:
    """One finished Locust run: its exit code, summary (None when nothing was recorded) and generator load."""

    code: int
    summary: dict[str, Any] | None
    load: GeneratorLoad
    csv_prefix: Path
    wall_s: float
    locust_stats: dict[str, dict[str, int]] = field(default_factory=dict)


def clean_results(results: Path) -> None:
    """Files of an earlier run in the same directory must not leak into this one's outputs."""
    for pattern in ("locust_*.csv", "locust.json", f"{LEDGER_DIR}/*"):
        for stale in results.glob(pattern):
            stale.unlink()


def run_locust(
    args: argparse.Namespace, target: str, results: Path, warmup_s: float = 0.0, group: ProcessGroup | None = None
) -> LocustRun:
    """Run Locust into `results`, sampling its CPU, and build the summary from its ledger."""
    clean_results(results)
    cmd = locust_command(args, target, results, warmup_s)
    env = locust_env(args)
    started = time.monotonic()

    def start(command: list[str], **kwargs: Any) -> subprocess.Popen[Any]:
        proc = group.popen(command, env=env, **kwargs) if group else subprocess.Popen(command, env=env, **kwargs)
        if group is not None:
            group.locust = proc
        return proc

    with open(results / "locust.log", "w") as log_file:
        code, load = run_watched(cmd, log_file, start=start)
    load = with_process_health(load, results / LEDGER_DIR)
    wall_s = round(time.monotonic() - started, 1)
    summary = summarize(results, warmup_s, args.trunks)
    csv_prefix = results / "locust"
    if summary is None:
        return LocustRun(code, None, load, csv_prefix, wall_s)
    summary.update({"scenario": args.scenario, "target": target, "users": args.users, "duration": args.duration})
    summary.update({"wall_s": wall_s, "warmup_s": warmup_s, "generator": load.to_json()})
    summary["generator"]["send_gaps"] = send_gap_summary(read_records(results / "calls.csv"), max_send_gap_ms(args))
    if getattr(args, "_effective", None) is not None:
        summary["options"] = run_config.recorded(args, args._effective)
    stats = read_locust_stats(results / "locust.json")
    summary["locust"] = stats
    return LocustRun(code, summary, load, csv_prefix, wall_s, stats)


def max_send_gap_ms(args: argparse.Namespace) -> float:
    """--rtc-max-send-gap / RTCLOAD_MAX_SEND_GAP in ms (default 40 ms): the `generator` gate's limit."""
    text = getattr(args, "rtc_max_send_gap", None) or process_env.given("RTCLOAD_MAX_SEND_GAP") or "40ms"
    try:
        limit = parse_duration(str(text))
    except ValueError:
        raise ValueError(f"--rtc-max-send-gap must be a duration such as 40ms (got {text!r})") from None
    if limit <= 0:
        raise ValueError(f"--rtc-max-send-gap must be longer than 0 (got {text!r})")
    return limit * 1000.0


def summarize(results: Path, warmup_s: float, trunks: int | None = None) -> dict[str, Any] | None:
    """Merge the ledger's call records into calls.csv and build the summary from its samples."""
    ledger = results / LEDGER_DIR
    sample_parts = list(ledger.glob(f"{SAMPLES_PART}.*.csv"))
    if not sample_parts:
        return None
    merge_records(list(ledger.glob(f"{CALLS_PART}.*.csv")), results / "calls.csv")
    starts = [float(p.read_text() or 0) for p in ledger.glob("test_start.*")]
    since = (min(starts) + warmup_s) if warmup_s > 0 and starts else 0.0
    summary = build_summary(read_samples(sample_parts), read_records(results / "calls.csv"), since)
    summary["calls"]["recorded"] = len(read_records(results / "calls.csv"))
    load_model = load_model_summary(read_scheduler_parts(ledger), read_records(results / "calls.csv"), trunks)
    if load_model is not None:
        summary["load_model"] = load_model
    return summary


def read_locust_stats(path: Path) -> dict[str, dict[str, int]]:
    """Locust's own final counts per request name (its --json-file), kept beside ours as a cross-check."""
    if not path.exists():
        return {}
    try:
        entries = json.loads(path.read_text())
    except ValueError:
        return {}
    return {
        f"{e['method']} {e['name']}": {"count": e["num_requests"], "failures": e["num_failures"]}
        for e in entries
        if isinstance(e, dict) and "name" in e
    }


def with_process_health(load: GeneratorLoad, ledger: Path) -> GeneratorLoad:
    """Add the Locust processes' own health records (process_health.py): each one as written, in
    `per_process`; the worst send-clock lateness and loop lag of any of them; the busiest by CPU; their
    collection pauses together. CPU is the larger of a process's own figure and the one sampled here."""
    records = read_health_records(list(ledger.glob(f"{HEALTH_PARTS}.*.json")))
    if not records:
        return load
    for record in records:
        record["cpu_watched_mean"] = load.cpu_by_pid.get(int(record.get("pid") or 0))
    busiest = max(records, key=_record_cpu)
    return replace(
        load,
        cpu_mean=max(load.cpu_mean, _record_cpu(busiest)),
        cpu_max=max(load.cpu_max, float(busiest.get("cpu_max") or 0.0)),
        send_late_p99_s=max(float(v.get("send_late_p99_s", 0.0)) for v in records),
        loop_lag_p95_s=max(float(v.get("loop_lag_p95_s", 0.0)) for v in records),
        clock_saturated=any(bool(v.get("saturated")) for v in records),
        clock_saturated_whole_run=any(bool(v.get("saturated_whole_run")) for v in records),
        engine=",".join(sorted({str(v["engine"]) for v in records if v.get("engine")})) or None,
        per_process=tuple(records),
        busiest=str(busiest.get("process")),
        gc=merge_gc([v.get("gc") or {} for v in records]),
    )


def _record_cpu(record: dict[str, Any]) -> float:
    """% of a core, mean over the run: the process's own figure or the watched one, whichever is larger."""
    return max(float(record.get("cpu_mean") or 0.0), float(record.get("cpu_watched_mean") or 0.0))


def run(args: argparse.Namespace) -> int:
    results = Path(args.results)
    emulator: Emulator | None = None
    try:
        args._effective = run_config.apply(
            args, add_arguments, demo_defaults
        )  # the run file, under flags and the environment
        open_options.prepare(args)
        scenario_file(args.scenario)
        gates = gate_set(args)
        max_send_gap_ms(args)  # --rtc-max-send-gap: a bad value is a usage error now, not after the run
        if args.emulator_echo_playout is not None:  # its range, as the emulator would refuse it after starting
            parse_playout(f"{args.emulator_echo_playout:g}", "--emulator-echo-playout")
        locust_env(args)  # validates --ice-server before anything starts
    except (ValueError, OSError) as exc:  # SLOError and RunFileError are ValueErrors: a usage error
        print(f"rtcload run: {exc}", file=sys.stderr)
        return EXIT_USAGE
    if getattr(args, "print_config", False):
        print(run_config.render(args, args._effective))
        return EXIT_OK
    if wants_locust_help(args):
        return subprocess.call([sys.executable, "-m", "locust", "-f", f"{scenario_file(args.scenario)}", "--help"])
    results.mkdir(parents=True, exist_ok=True)
    with ProcessGroup() as group:
        try:
            if args.target:
                target = args.target
            else:
                emulator = start_emulator(args.emulator_media, results / "emulator.log", emulator_extra(args), group)
                target = emulator.url
            where = "embedded emulator " + target if emulator else target
            mode = (
                f"web UI on {args.web_host} (Locust's --web-port, default 8089); Ctrl-C ends the run"
                if args.web
                else f"{args.users} users for {args.duration}"
                + (f", offering {args.cps or args.cps_steps} CPS" if open_options.is_open(args) else "")
            )
            print(f"rtcload run: scenario {args.scenario}, {mode} against {where}", flush=True)
            outcome = run_locust(args, target, results, gates.warmup_s, group)
        except Interrupted as exc:
            forced = "a second signal forced the stop; results not written" if group.forced else "nothing ran"
            print(f"rtcload run: {exc}; {forced}", file=sys.stderr)
            return 128 + (group.signum or exc.signum)
        except (RuntimeError, OSError) as exc:
            print(f"rtcload run: RUN BROKEN: {exc}", file=sys.stderr)
            return EXIT_RUN_BROKEN
        finally:
            snapshot = stop_emulator(emulator)
        if group.forced:
            print("rtcload run: a second signal forced the stop; results not written", file=sys.stderr)
            return 128 + (group.signum or signal.SIGTERM)
        if outcome.summary is None:
            print(
                f"rtcload run: RUN BROKEN: Locust recorded nothing (exit {outcome.code}); see {results / 'locust.log'}",
                file=sys.stderr,
            )
            return group.exit_code or EXIT_RUN_BROKEN
        if args.scenario == "soak_reconnect":
            limits = GrowthLimits(
                fd_per_h=args.soak_max_fd_per_h, udp_per_h=args.soak_max_fd_per_h, mb_per_h=args.soak_max_mb_per_h
            )
            warmup = parse_duration(args.soak_warmup) if args.soak_warmup else None
            duration = None if args.web else parse_duration(args.duration)
            ledger = results / LEDGER_DIR
            add_soak(outcome.summary, results, ledger, snapshot.get("resources"), warmup, limits, duration)
        if snapshot:
            outcome.summary["emulator"] = {"counters": snapshot.get("counters", {}), "gc": snapshot.get("gc")}
            (results / "emulator.json").write_text(json.dumps(snapshot, indent=2, sort_keys=True) + "\n")
        try:
            code = finish(args, outcome, gates, results, group.signum)
        except Interrupted as exc:
            print(f"rtcload run: {exc}; a second signal forced the stop while writing results", file=sys.stderr)
            return 128 + (group.signum or exc.signum)
        return group.exit_code or code


def judge(
    args: argparse.Namespace, outcome: LocustRun, gates: SLOSet, signum: int | None
) -> tuple[list[SLOResult], Outcome, str]:
    """Default gates + SLOs; the run's outcome (passed, slo_failed, run_broken, interrupted) and why, in one line."""
    summary = outcome.summary
    assert summary is not None
    verdicts = [*evaluate_gates(summary, args.no_gate), *evaluate(gates.slos, summary)]
    broken = [v for v in verdicts if v.kind == "gate" and not v.passed]
    failed = [v for v in verdicts if v.kind == "slo" and not v.passed]
    if signum is not None:
        import signal

        return verdicts, Outcome.INTERRUPTED, f"stopped by {signal.Signals(signum).name}; results cover what ran"
    if outcome.code not in (0, 1):  # Locust exits 1 when any request failed: those failures are in the ledger
        return verdicts, Outcome.RUN_BROKEN, f"Locust exited {outcome.code}; see {args.results}/locust.log"
    if broken:
        return verdicts, Outcome.RUN_BROKEN, "; ".join(f"{v.name}: {v.message}" for v in broken)
    if failed:
        return (
            verdicts,
            Outcome.SLO_FAILED,
            f"{len(failed)} SLO(s) failed: " + "; ".join(f"{v.name}: {v.message}" for v in failed),
        )
    return verdicts, Outcome.PASSED, f"{len(verdicts)} gates held"


def gc_text(gc: dict[str, Any] | None) -> str:
    """The largest garbage-collection pause, for the health line (it stops the media clock)."""
    if not gc:
        return ""
    counts = gc.get("collections", {})
    largest, full = float(gc.get("max_pause_ms", 0.0)), float(gc.get("gen2_max_pause_ms", 0.0))
    since = " since the first call" if "before_first_call_max_pause_ms" in gc else ""
    return (
        f", largest GC pause{since} {largest:.1f} ms (full collections: {counts.get('2', 0)} of "
        f"{sum(int(n) for n in counts.values())}, longest {full:.1f} ms)"
    )


def finish(
    args: argparse.Namespace, outcome: LocustRun, gates: SLOSet, results: Path, signum: int | None = None
) -> int:
    """Judge the run, write summary.json, JUnit and the HTML report, print the verdict; the exit code."""
    from rtcload.report.html import write_report  # the report pulls in chart code only when it is needed

    summary = outcome.summary
    assert summary is not None
    verdicts, verdict, reason = judge(args, outcome, gates, signum)
    summary["gates"] = [v.to_json() for v in verdicts if v.kind == "gate"]
    summary["slo"] = [v.to_json() for v in verdicts if v.kind == "slo"]
    summary["outcome"] = {"verdict": verdict.value, "reason": reason}
    summary["passed"] = verdict.passed
    write_summary(summary, results / "summary.json")
    print(render_summary(summary))
    if summary.get("load_model"):
        print(render_load_model(summary["load_model"]))
    load = outcome.load
    gaps = (summary.get("generator") or {}).get("send_gaps") or {}
    stalled = gaps.get("gap_max_ms", 0.0) > gaps.get("limit_ms", 40.0) or gaps.get("send_drops", 0) > 0
    if load.send_late_p99_s is not None or gaps.get("calls_measured"):
        print(
            f"\ngenerator health: media send clock late p99 {(load.send_late_p99_s or 0.0) * 1000:.1f} ms, "
            f"largest send gap {gaps.get('gap_max_ms', 0.0):.1f} ms ({gaps.get('gaps_over_threshold', 0)} gaps over "
            f"{gaps.get('threshold_ms', 30):.0f} ms in {gaps.get('calls_with_gaps', 0)} calls, "
            f"{gaps.get('send_drops', 0)} send drops), loop lag p95 "
            f"{(load.loop_lag_p95_s or 0.0) * 1000:.1f} ms, busiest process "
            + (f"{load.busiest} " if load.busiest and len(load.per_process) > 1 else "")
            + f"{load.cpu_mean:.0f} % CPU"
            + (f", media engine {load.engine}" if load.engine else "")
            + gc_text(load.gc)
            + ": "
            + (
                "SATURATED"
                if load.saturated_whole_run
                else "STALLED: the generator's own send gaps reached the platform"
                if stalled
                else "late at times: figures below that include the generator's own delay"
                if load.saturated
                else "not saturated"
            )
        )
    written = [str(results / "summary.json"), f"{results / 'calls.csv'} ({summary['calls']['recorded']} calls)"]
    junit = Path(args.junit) if args.junit else results / "junit.xml"
    write_junit(verdicts, junit, f"rtcload.slo.{Path(args.scenario).stem}", outcome.wall_s)
    written.append(str(junit))
    if not args.no_report:
        report = Path(args.report) if args.report else results / "report.html"
        write_report(summary, outcome.csv_prefix, report, results / LEDGER_DIR)
        written.append(str(report))
    print(f"\nwritten: {', '.join(written)}  (Locust CSV and logs in {results}/)")
    print("\n" + render_results([v for v in verdicts if v.kind == "gate"], "Default gates"))
    if gates.slos:
        print("\n" + render_results([v for v in verdicts if v.kind == "slo"]))
    if verdict.passed:
        return EXIT_OK
    label = verdict.value.replace("_", " ").upper()
    print(f"rtcload run: {label}: {reason}", file=sys.stderr)
    return EXIT_SLO_FAILED if verdict is Outcome.SLO_FAILED else EXIT_RUN_BROKEN
