"""The capacity search's rules: how a step is judged, where to probe next, what the knee is. Pure.

`rtcload capacity` (rtcload.loadgen.capacity_command) runs each step as a Locust run of N users, each
holding one call after another, and hands the step's summary here. Steps rise by --step until one
fails, then bisection narrows the gap to --resolution. A failing step whose busiest Locust process was
CPU-saturated is blamed on the generator, not the target: the search stops there and the knee is only
a lower bound.

With `--cps` the load axis is call attempts per second (an open model): `Step.users` then holds the
step's CPS, and a step where the scheduler could not keep its rate (load_model.generator_kept_rate) is
the generator's fault exactly as a saturated CPU is.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from rtcload.gates.slo import SLOSet, evaluate
from rtcload.results.outcome import Outcome

EXIT_BELOW_TARGET = 1
EXIT_USAGE = 2
DEFAULT_SLO = "call_success_ratio >= 0.99"
# /2: steps[].verdict is an Outcome (passed, slo_failed, generator_saturated, run_broken), was pass/target/...
CAPACITY_SCHEMA = "rtcload.capacity/2"


@dataclass
class Step:
    users: int
    verdict: Outcome  # passed, slo_failed (the target broke), generator_saturated, run_broken (no data)
    failed: list[dict[str, Any]] = field(default_factory=list)
    slo: list[dict[str, Any]] = field(default_factory=list)
    generator: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
    calls: dict[str, Any] = field(default_factory=dict)
    results: str = ""

    @property
    def passed(self) -> bool:
        return self.verdict is Outcome.PASSED


def judge_step(users: int, summary: dict[str, Any], gates: SLOSet, generator: dict[str, Any], where: str) -> Step:
    """One step's verdict from its summary: passed, slo_failed (the target broke an SLO) or generator_saturated."""
    verdicts = evaluate(gates.slos, summary)
    summary["slo"] = [v.to_json() for v in verdicts]
    summary["passed"] = all(v.passed for v in verdicts)
    failed = [v.to_json() for v in verdicts if not v.passed]
    verdict = (
        Outcome.PASSED
        if not failed
        else Outcome.GENERATOR_SATURATED
        if generator.get("saturated")
        else Outcome.SLO_FAILED
    )
    return Step(users, verdict, failed, summary["slo"], generator, summary["metrics"], summary["calls"], where)


def search(run_step: Callable[[int], Step], args: argparse.Namespace) -> list[Step]:
    """Ramp by --step until a step fails (or --max), then bisect between the last pass and the first fail.

    `run_step(users)` runs and judges one step (the orchestration lives beside `rtcload run`)."""
    steps: list[Step] = []

    def probe(users: int) -> Step:
        step = run_step(users)
        steps.append(step)
        shown = ", ".join(f"{f['name']}: {f['message']}" for f in step.failed) or "all SLOs met"
        cpu = step.generator.get("cpu_mean", 0)
        print(f"  {users:>6} {axis_unit(args)}: {step.verdict.upper():<19} cpu {cpu:.0f} %  {shown}")
        return step

    good, bad = 0, None
    users = args.start
    while users <= args.max:
        step = probe(users)
        if step.verdict is Outcome.GENERATOR_SATURATED:
            return steps
        if not step.passed:
            bad = users
            break
        good = users
        users += args.step
    while bad is not None and bad - good > args.resolution:
        mid = (good + bad) // 2
        step = probe(mid)
        if step.verdict is Outcome.GENERATOR_SATURATED:
            return steps
        if step.passed:
            good = mid
        else:
            bad = mid
    return steps


def axis_unit(args: argparse.Namespace) -> str:
    """What a step's load counts: users (concurrent calls) or CPS (call attempts per second)."""
    return "CPS" if getattr(args, "by", "users") == "cps" else "users"


def conclude(steps: list[Step], args: argparse.Namespace) -> dict[str, Any]:
    """The knee, the first SLO broken above it and whose fault that was."""
    unit = axis_unit(args)
    passed = [s.users for s in steps if s.passed]
    knee = max(passed) if passed else None
    fails = sorted((s for s in steps if not s.passed and (knee is None or s.users > knee)), key=lambda s: s.users)
    first = fails[0] if fails else None
    if first is None:
        verdict = "no_limit_found"
        text = f"all SLOs held up to {knee} {unit} (--max {args.max}); the knee is above that"
    elif first.verdict is Outcome.GENERATOR_SATURATED:
        verdict = "generator_saturated"
        why = first.generator.get("reason") or f"cpu {first.generator.get('cpu_mean', 0):.0f} %"
        text = (
            f"the load generator saturated at {first.users} {unit} ({why}); "
            f"the target held at {knee or 0} {unit}, so its knee is at least that - add processes or machines"
        )
    elif knee is None:
        verdict = "below_start"
        text = f"SLOs already failed at the first step ({first.users} {unit})"
    else:
        verdict = "target"
        broken = "; ".join(f"{f['name']} ({f['message']})" for f in first.failed) or first.verdict
        text = f"knee at {knee} {unit}; at {first.users} {unit} the target broke: {broken}"
    return {
        "schema": CAPACITY_SCHEMA,
        "verdict": verdict,
        "axis": unit,
        "knee_users": knee if unit == "users" else None,
        "knee_cps": knee if unit == "CPS" else None,
        "knee": knee,
        "first_failing_users": first.users if first else None,
        "first_broken": first.failed if first else [],
        "message": text,
        "steps": [asdict(s) for s in sorted(steps, key=lambda s: s.users)],
    }
