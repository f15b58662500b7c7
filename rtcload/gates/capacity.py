"""`rtcload capacity`: hold calls at stepped concurrency, judge the SLOs per step, bisect to the knee.

Each step is its own Locust run of N users, each holding one call after another (short think time),
so N is the concurrent-call load. Steps rise by --step until one fails, then bisection narrows the
gap to --resolution. A failing step whose busiest Locust process was CPU-saturated is blamed on the
generator, not the target: the search stops there and the knee is only a lower bound.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from rtcload.gates.slo import SLOSet, evaluate, parse_duration, parse_slo
from rtcload.loadgen.run_command import (
    add_gate_arguments,
    gate_set,
    run_locust,
    scenario_file,
    start_emulator,
    stop_emulator,
)

EXIT_BELOW_TARGET = 1
EXIT_USAGE = 2
DEFAULT_SLO = "call_success_ratio >= 0.99"


@dataclass
class Step:
    users: int
    verdict: str  # pass, target, generator, no_data
    failed: list[dict[str, Any]] = field(default_factory=list)
    slo: list[dict[str, Any]] = field(default_factory=list)
    generator: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
    calls: dict[str, Any] = field(default_factory=dict)
    results: str = ""

    @property
    def passed(self) -> bool:
        return self.verdict == "pass"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--target", help="ws:// or wss:// URL (default: start the embedded emulator on loopback)")
    parser.add_argument("--scenario", default="regression", help="a scenario without its own load shape")
    parser.add_argument("--start", type=int, default=10, help="users (concurrent calls) at the first step")
    parser.add_argument("--step", type=int, default=10, help="users added per step")
    parser.add_argument("--max", type=int, default=200, help="highest step tried")
    parser.add_argument("--resolution", type=int, default=1, help="bisect until pass and fail are this close")
    parser.add_argument("--step-duration", default="60s", help="how long each step holds (Locust syntax)")
    parser.add_argument("--hold", default="", help="call hold time distribution (default: a third of the step)")
    parser.add_argument("--think", default="fixed:0.2", help="pause between a user's calls")
    parser.add_argument("--processes", type=int, default=1, help="Locust processes per step")
    parser.add_argument("--results", default="rtcload-capacity", help="directory for per-step results and the report")
    parser.add_argument("--emulator-media", choices=("aiortc", "static"), default="aiortc")
    add_gate_arguments(parser)
    parser.add_argument("locust_args", nargs=argparse.REMAINDER, help="after --: passed to Locust unchanged")


def _step_args(args: argparse.Namespace, users: int) -> argparse.Namespace:
    seconds = parse_duration(args.step_duration)
    hold = args.hold or f"uniform:{seconds / 4:g},{seconds / 3:g}"
    extra = [a for a in (args.locust_args or []) if a != "--"]
    if "--rtc-call-duration" not in extra:
        extra += ["--rtc-call-duration", hold]
    if "--rtc-think-time" not in extra:
        extra += ["--rtc-think-time", args.think]
    return argparse.Namespace(
        scenario=args.scenario,
        users=users,
        spawn_rate=float(max(users, 1)),  # everyone calling within a second: the step is the load
        duration=args.step_duration,
        processes=args.processes,
        web=False,
        target=args.target,
        locust_args=extra,
    )


def run_step(args: argparse.Namespace, target: str, gates: SLOSet, users: int) -> Step:
    where = Path(args.results) / f"step-{users:05d}"
    where.mkdir(parents=True, exist_ok=True)
    outcome = run_locust(_step_args(args, users), target, where, gates.warmup_s)
    if outcome.summary is None:
        return Step(users, "no_data", generator=outcome.load.to_json(), results=str(where))
    verdicts = evaluate(gates.slos, outcome.summary)
    summary = outcome.summary
    summary["slo"] = [v.to_json() for v in verdicts]
    summary["passed"] = all(v.passed for v in verdicts)
    (where / "summary.json").write_text(json.dumps(summary, indent=2, sort_keys=True) + "\n")
    log_text = (where / "locust.log").read_text(errors="replace")
    saturated = outcome.load.saturated or "CPU usage above 90%" in log_text
    failed = [v.to_json() for v in verdicts if not v.passed]
    verdict = "pass" if not failed else "generator" if saturated else "target"
    return Step(
        users,
        verdict,
        failed,
        summary["slo"],
        {**outcome.load.to_json(), "saturated": saturated},
        summary["metrics"],
        summary["calls"],
        str(where),
    )


def search(args: argparse.Namespace, target: str, gates: SLOSet) -> list[Step]:
    """Ramp by --step until a step fails (or --max), then bisect between the last pass and the first fail."""
    steps: list[Step] = []

    def probe(users: int) -> Step:
        step = run_step(args, target, gates, users)
        steps.append(step)
        shown = ", ".join(f"{f['name']}: {f['message']}" for f in step.failed) or "all SLOs met"
        print(f"  {users:>6} users: {step.verdict.upper():<9} cpu {step.generator.get('cpu_mean', 0):.0f} %  {shown}")
        return step

    good, bad = 0, None
    users = args.start
    while users <= args.max:
        step = probe(users)
        if step.verdict == "generator":
            return steps
        if not step.passed:
            bad = users
            break
        good = users
        users += args.step
    while bad is not None and bad - good > args.resolution:
        mid = (good + bad) // 2
        step = probe(mid)
        if step.verdict == "generator":
            return steps
        if step.passed:
            good = mid
        else:
            bad = mid
    return steps


def conclude(steps: list[Step], args: argparse.Namespace) -> dict[str, Any]:
    """The knee, the first SLO broken above it and whose fault that was."""
    passed = [s.users for s in steps if s.passed]
    knee = max(passed) if passed else None
    fails = sorted((s for s in steps if not s.passed and (knee is None or s.users > knee)), key=lambda s: s.users)
    first = fails[0] if fails else None
    if first is None:
        verdict = "no_limit_found"
        text = f"all SLOs held up to {knee} users (--max {args.max}); the knee is above that"
    elif first.verdict == "generator":
        verdict = "generator_saturated"
        text = (
            f"the load generator saturated at {first.users} users (cpu {first.generator.get('cpu_mean', 0):.0f} %); "
            f"the target held at {knee or 0} users, so its knee is at least that - add processes or machines"
        )
    elif knee is None:
        verdict = "below_start"
        text = f"SLOs already failed at the first step ({first.users} users)"
    else:
        verdict = "target"
        broken = "; ".join(f"{f['name']} ({f['message']})" for f in first.failed) or first.verdict
        text = f"knee at {knee} users; at {first.users} users the target broke: {broken}"
    return {
        "schema": "rtcload.capacity/1",
        "verdict": verdict,
        "knee_users": knee,
        "first_failing_users": first.users if first else None,
        "first_broken": first.failed if first else [],
        "message": text,
        "steps": [asdict(s) for s in sorted(steps, key=lambda s: s.users)],
    }


def run(args: argparse.Namespace) -> int:
    from rtcload.report.capacity_html import write_capacity_report

    results = Path(args.results)
    results.mkdir(parents=True, exist_ok=True)
    emulator = None
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
            emulator, target = start_emulator(args.emulator_media, results / "emulator.log")
        print(f"rtcload capacity: {args.scenario} against {target}, steps of {args.step_duration}; SLOs:")
        print("".join(f"  {s.text}\n" for s in gates.slos), end="", flush=True)
        steps = search(args, target, gates)
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
