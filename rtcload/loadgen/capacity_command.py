"""`rtcload capacity`: hold calls at stepped concurrency, judge the SLOs per step, bisect to the knee.

The orchestration (emulator, one Locust run per step) lives here beside `rtcload run`; the rules
(how a step is judged, where to probe next, what the knee is) are rtcload.gates.capacity's.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from rtcload.gates.capacity import DEFAULT_SLO, EXIT_BELOW_TARGET, EXIT_USAGE, Step, conclude, judge_step, search
from rtcload.gates.slo import SLOSet, parse_duration, parse_slo
from rtcload.loadgen import open_options
from rtcload.loadgen.lifecycle import ProcessGroup
from rtcload.loadgen.run_command import (
    Emulator,
    gate_fmt,
    gate_same,
    gate_set,
    run_locust,
    scenario_file,
    start_emulator,
    stop_emulator,
)
from rtcload.loadgen.run_command import add_arguments as add_run_arguments
from rtcload.media_paths import DEFAULT_MEDIA_PATH, MEDIA_PATHS
from rtcload.options.build import add_options
from rtcload.results.outcome import Outcome

GROUPS = (  # `rtcload capacity --help`'s sections, in order
    "the search: what is stepped, from where, how far, how long",
    "the load of each step",
    "embedded emulator (no --target)",
    "outputs",
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """`rtcload capacity`'s options, from the registry (rtcload/options/registry.toml)."""
    same = {**gate_same(), "--media-path": {"choices": MEDIA_PATHS, "default": DEFAULT_MEDIA_PATH}}
    add_options(parser, "capacity", fmt=gate_fmt(), same=same, order=GROUPS)
    parser.add_argument("locust_args", nargs=argparse.REMAINDER, help="after --: passed to Locust unchanged")


def _cps_step_args(args: argparse.Namespace, cps: int) -> argparse.Namespace:
    """One open-model step: `cps` attempts per second held for the step, calls of --hold (default 5-10 % of it)."""
    seconds = parse_duration(args.step_duration)
    step = run_args(
        scenario="open_calls",
        duration=args.step_duration,
        processes=args.processes,
        target=args.target,
        locust_args=[*_media_args(args), *(a for a in (args.locust_args or []) if a != "--")],
        cps=str(cps),
        arrival=args.arrival,
        holding=args.holding or f"uniform:{seconds / 20:g},{seconds / 10:g}",
        max_concurrent=args.max_concurrent,
    )
    open_options.prepare(step)
    return step


def _media_args(args: argparse.Namespace) -> list[str]:
    """--media-path reaches the generator as --rtc-media-path (before the user's own Locust arguments)."""
    path = args.media_path
    return [] if path == DEFAULT_MEDIA_PATH else ["--rtc-media-path", path]


def _step_args(args: argparse.Namespace, users: int) -> argparse.Namespace:
    if args.by == "cps":
        return _cps_step_args(args, users)
    seconds = parse_duration(args.step_duration)
    hold = args.holding or f"uniform:{seconds / 4:g},{seconds / 3:g}"
    extra = [*_media_args(args), *(a for a in (args.locust_args or []) if a != "--")]
    if "--rtc-holding" not in extra and "--rtc-call-duration" not in extra:
        extra += ["--rtc-holding", hold]
    if "--rtc-think-time" not in extra:
        extra += ["--rtc-think-time", args.think]
    return run_args(
        scenario=args.scenario,
        users=users,
        spawn_rate=float(max(users, 1)),  # everyone calling within a second: the step is the load
        duration=args.step_duration,
        processes=args.processes,
        target=args.target,
        locust_args=extra,
    )


def run_args(**values: Any) -> argparse.Namespace:
    """A step's `rtcload run` options: every option of `rtcload run` at its registry default, then the
    step's own values, so the run code reads each one as it is (no hand-built partial Namespace)."""
    parser = argparse.ArgumentParser(add_help=False)
    add_run_arguments(parser)
    args = parser.parse_args([])
    unknown = sorted(set(values) - set(vars(args)))
    if unknown:
        raise ValueError(f"not options of rtcload run: {unknown}")
    for name, value in values.items():
        setattr(args, name, value)
    return args


def run_step(args: argparse.Namespace, target: str, gates: SLOSet, users: int, group: ProcessGroup) -> Step:
    where = Path(args.results) / f"step-{users:05d}"
    where.mkdir(parents=True, exist_ok=True)
    outcome = run_locust(_step_args(args, users), target, where, gates.warmup_s, group)
    if outcome.summary is None:
        return Step(users, Outcome.RUN_BROKEN, generator=outcome.load.to_json(), results=str(where))
    log_text = (where / "locust.log").read_text(errors="replace")
    generator = {**outcome.load.to_json()}
    generator["saturated"] = outcome.load.saturated or "CPU usage above 90%" in log_text
    load_model = outcome.summary.get("load_model")
    if load_model is not None:  # --cps: a scheduler that fell behind is the generator's fault, not the target's
        generator.update({k: load_model[k] for k in ("achieved_cps", "placed", "due", "window_s")})
        if not load_model["generator_kept_rate"]:
            generator["saturated"] = True
            generator["reason"] = load_model["generator_message"]
    step = judge_step(users, outcome.summary, gates, generator, str(where))
    (where / "summary.json").write_text(json.dumps(outcome.summary, indent=2, sort_keys=True) + "\n")
    return step


def run(args: argparse.Namespace) -> int:
    from rtcload.report.capacity_html import write_capacity_report

    results = Path(args.results)
    results.mkdir(parents=True, exist_ok=True)
    emulator: Emulator | None = None
    with ProcessGroup() as group:
        try:
            scenario_file(args.scenario)
            gates = gate_set(args)
            if not gates.slos:
                gates = SLOSet((parse_slo(DEFAULT_SLO),), gates.warmup_s)
            if args.start < 1 or args.step < 1 or args.resolution < 1 or args.max < args.start:
                raise ValueError("need 1 <= --start <= --max, --step >= 1 and --resolution >= 1")
            if args.target:
                target = args.target
            else:
                extra = open_options.emulator_arguments(args)
                emulator = start_emulator(args.emulator_media, results / "emulator.log", extra, group=group)
                target = emulator.url
            what = f"open model ({args.arrival} arrivals) in CPS" if args.by == "cps" else args.scenario
            print(f"rtcload capacity: {what} against {target}, steps of {args.step_duration}; SLOs:")
            print("".join(f"  {s.text}\n" for s in gates.slos), end="", flush=True)
            steps = search(lambda users: run_step(args, target, gates, users, group), args)
        except (ValueError, RuntimeError, OSError) as exc:
            print(f"rtcload capacity: {exc}", file=sys.stderr)
            return EXIT_USAGE
        finally:
            stop_emulator(emulator)
    report = conclude(steps, args)
    report["slos"] = [s.text for s in gates.slos]
    (results / "capacity.json").write_text(json.dumps(report, indent=2, sort_keys=True) + "\n")
    write_capacity_report(report, results / "capacity.html")
    print(f"\n{report['message']}\nwritten: {results / 'capacity.json'}, {results / 'capacity.html'}")
    return 0 if report["verdict"] in ("target", "no_limit_found") else EXIT_BELOW_TARGET
