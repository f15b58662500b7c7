"""`rtcload run` options of the open model (--cps, --holding, --max-concurrent, --erlangs, ...).

They map one to one onto SIPp's knobs (docs/scenarios.md): --cps is -r (a ramp START:END:DURATION
or --cps-steps for a staircase, like SIPp's -rate_increase/-rate_max), --max-concurrent is -l,
--holding is -d. This module turns them into the open_calls scenario's Locust options and sizes the
endpoint pool when --users is not given.
"""

from __future__ import annotations

import argparse
import math

from rtcload.distributions import parse_distribution
from rtcload.traffic import RatePlan, parse_rate_plan

OPEN_SCENARIO = "open_calls"
SETUP_ALLOWANCE_S = 2.0  # an endpoint is busy for setup + holding + hangup: pool headroom per call
POOL_HEADROOM = 1.3
CLOSED_DEFAULT_USERS = 10


def is_open(args: argparse.Namespace) -> bool:
    return bool(args.cps or args.cps_steps or args.erlangs)


def prepare(args: argparse.Namespace) -> RatePlan | None:
    """Validate the open-model options and fill in what they imply (scenario, pool size); ValueError = usage."""
    if not is_open(args):
        if args.users is None:
            args.users = CLOSED_DEFAULT_USERS
        return None
    holding = parse_distribution(args.holding) if args.holding else None
    if args.erlangs is not None:
        if args.cps or args.cps_steps:
            raise ValueError("give --erlangs or --cps/--cps-steps, not both")
        if holding is None or holding.mean <= 0:
            raise ValueError("--erlangs needs --holding with a mean > 0 (CPS = Erlangs / mean holding time)")
        args.cps = f"{args.erlangs / holding.mean:g}"
    plan = parse_rate_plan(args.cps or "", args.cps_steps or "", args.step_duration or "")
    if args.max_concurrent < 0:
        raise ValueError("--max-concurrent must be >= 0")
    if args.scenario in ("smoke", OPEN_SCENARIO):
        args.scenario = OPEN_SCENARIO
    else:
        raise ValueError(f"--cps runs the {OPEN_SCENARIO} scenario; --scenario {args.scenario} is a closed model")
    if args.users is None:
        mean = holding.mean if holding else 5.0
        need = math.ceil(plan.peak * (mean + SETUP_ALLOWANCE_S) * POOL_HEADROOM) + 5 * args.processes
        if args.max_concurrent:
            need = min(need, args.max_concurrent + 5 * args.processes)
        args.users = need
        # one spawn message per worker: the pool registers at once, then the scheduler's clock starts
        args.spawn_rate = max(args.spawn_rate, float(args.users))
    if args.emulator_max_calls is not None and args.trunks is None:
        args.trunks = args.emulator_max_calls
    return plan


def locust_arguments(args: argparse.Namespace) -> list[str]:
    """The open_calls scenario's options for Locust (each process offers 1/--processes of the rate)."""
    if not is_open(args):
        return []
    out = ["--rtc-arrival", args.arrival, "--rtc-generators", str(max(1, args.processes))]
    if args.cps_steps:
        out += ["--rtc-cps-steps", args.cps_steps, "--rtc-step-duration", args.step_duration or ""]
    else:
        out += ["--rtc-cps", args.cps]
    if args.holding:
        out += ["--rtc-holding", args.holding]
    if args.max_concurrent:
        out += ["--rtc-max-concurrent", str(args.max_concurrent)]
    return out


def emulator_arguments(args: argparse.Namespace) -> list[str]:
    max_calls = args.emulator_max_calls
    return ["--max-calls", str(max_calls)] if max_calls is not None else []
