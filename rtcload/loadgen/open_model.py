"""Open-model load: call attempts offered at a rate (CPS), whatever the platform does.

One scheduler greenlet per Locust process fires attempts at the due times of an arrival process
(rtcload.traffic.Arrivals) on a pool of registered endpoints (the Locust users of the `open_calls`
scenario, which only register and wait). A slow platform therefore does not slow the offered load,
which is what a capacity test must see (a closed model hides overload). Each process runs
`1/--rtc-generators` of the rate, so N workers together offer the whole plan.

What the scheduler did is written to the ledger (`open-model.<process>.json`): attempts made due,
placed, refused by `--rtc-max-concurrent` (SIPp's -l) or for want of an idle endpoint, and how late it
fired them. `summarize` merges every process' file into the summary's `load_model` section; a scheduler
that fell behind its plan or ran out of endpoints is the generator's fault and fails the `generator` gate.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import random
import time
from collections import deque
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Protocol

import gevent
from locust import events
from locust.env import Environment
from locust.runners import MasterRunner

from rtcload.distributions import Distribution, parse_distribution
from rtcload.loadgen.load_model import LATE_LIMIT_S, OPEN_MODEL_PART
from rtcload.options.build import add_locust_options
from rtcload.traffic import ARRIVALS, Arrivals, RatePlan, parse_rate_plan

log = logging.getLogger("rtcload.loadgen")

POOL_WAIT_S = 60.0  # the clock starts when the pool is registered, or after this long
STARTUP_QUIET_S = 1.0  # ... and no user joined for this long


class PoolMember(Protocol):
    """A registered user the scheduler can hand one call to (the open_calls scenario's user)."""

    endpoint: Any
    identity: str
    rng: random.Random

    def place_one_call(self, holding_s: float | None) -> None: ...


@dataclass(frozen=True)
class OpenModel:
    """The open-model settings of one process (its share of the rate and of the concurrency cap)."""

    plan: RatePlan
    arrival: str
    holding: Distribution | None
    max_concurrent: int
    generators: int

    @property
    def share(self) -> float:
        return 1.0 / self.generators

    @property
    def process_plan(self) -> RatePlan:
        return self.plan.scaled(self.share)

    @property
    def process_limit(self) -> int:
        return math.ceil(self.max_concurrent / self.generators) if self.max_concurrent else 0


def open_model_from_options(options: argparse.Namespace | None) -> OpenModel | None:
    """The open model given on the command line, or None (a closed-model run). Bad values raise ValueError."""
    cps = str(getattr(options, "rtc_cps", "") or "")
    steps = str(getattr(options, "rtc_cps_steps", "") or "")
    if not cps and not steps:
        return None
    plan = parse_rate_plan(cps, steps, str(getattr(options, "rtc_step_duration", "") or ""))
    arrival = str(getattr(options, "rtc_arrival", "poisson") or "poisson")
    if arrival not in ARRIVALS:
        raise ValueError(f"bad --rtc-arrival {arrival!r}: use {' or '.join(ARRIVALS)}")
    holding_text = str(getattr(options, "rtc_holding", "") or "")
    holding = parse_distribution(holding_text) if holding_text else None
    limit = int(getattr(options, "rtc_max_concurrent", 0) or 0)
    generators = int(getattr(options, "rtc_generators", 1) or 1)
    if limit < 0 or generators < 1:
        raise ValueError("--rtc-max-concurrent must be >= 0 and --rtc-generators >= 1")
    return OpenModel(plan, arrival, holding, limit, generators)


@dataclass
class SchedulerStats:
    """What one process' scheduler did; merged over processes by `merge_stats`."""

    process: str = ""
    plan: str = ""
    arrival: str = "poisson"
    share: float = 1.0
    holding_mean_s: float | None = None
    max_concurrent: int = 0
    started_at: float = 0.0  # wall clock of the plan's t = 0
    ended_at: float = 0.0
    pool: int = 0  # registered endpoints when the clock started
    due: int = 0  # attempts whose due time had come before the end
    placed: int = 0
    refused_limit: int = 0
    refused_pool: int = 0
    expected: float = 0.0  # the plan's integral over the window: its nominal offered calls
    lags: list[float] = field(default_factory=list)  # how late each attempt fired, seconds

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        lags = sorted(self.lags)
        data["lags"] = len(lags)
        data["lag_p95_s"] = lags[min(len(lags) - 1, int(0.95 * len(lags)))] if lags else 0.0
        data["lag_max_s"] = lags[-1] if lags else 0.0
        data["late"] = sum(1 for lag in lags if lag > LATE_LIMIT_S)
        return data


class EndpointPool:
    """Registered users with no call in progress; the scheduler takes one per attempt (one call each)."""

    def __init__(self) -> None:
        self.idle: deque[PoolMember] = deque()
        self.members: set[PoolMember] = set()
        self.settled = 0  # users whose first registration has finished, registered or not
        self.changed_at = time.monotonic()

    def settle(self) -> None:
        self.settled += 1
        self.changed_at = time.monotonic()

    def join(self, user: PoolMember) -> None:
        if user not in self.members:
            self.members.add(user)
            self.idle.append(user)

    def leave(self, user: PoolMember) -> None:
        self.members.discard(user)
        if user in self.idle:
            self.idle.remove(user)

    def take(self) -> PoolMember | None:
        while self.idle:
            user = self.idle.popleft()
            if user in self.members and user.endpoint is not None:
                return user
        return None

    def give_back(self, user: PoolMember) -> None:
        if user in self.members and user.endpoint is not None:
            self.idle.append(user)


class Scheduler:
    """The per-process dispatcher: fires attempts at their due times, never waits for the platform."""

    def __init__(self, model: OpenModel, pool: EndpointPool, metrics: Any, process: str) -> None:
        self.model, self.pool, self.metrics = model, pool, metrics
        self.in_flight: set[gevent.Greenlet] = set()
        self.stats = SchedulerStats(
            process=process,
            plan=str(model.plan),
            arrival=model.arrival,
            share=model.share,
            holding_mean_s=model.holding.mean if model.holding else None,
            max_concurrent=model.max_concurrent,
        )
        self._t0 = 0.0
        self._arrivals = Arrivals(model.process_plan, model.arrival, random.Random())
        self._pending_due: float | None = None
        self.running = False

    def wait_for_pool(self, ready: Callable[[], bool]) -> None:
        deadline = time.monotonic() + POOL_WAIT_S
        while not ready() and time.monotonic() < deadline:
            gevent.sleep(0.1)

    def run(self, pool_ready: Callable[[], bool]) -> None:
        """Greenlet body: wait for the pool, then fire attempts until killed (Locust's stop)."""
        self.wait_for_pool(pool_ready)
        self.stats.pool = len(self.pool.members)
        self._t0 = time.monotonic()
        self.stats.started_at = time.time()
        self.running = True
        plan = self.model.process_plan
        if self.metrics is not None:
            mean = self.model.holding.mean if self.model.holding else 0.0
            self.metrics.set_function("offered_cps", lambda: plan.rate(self.elapsed()))
            self.metrics.set_function("offered_erlangs", lambda: plan.rate(self.elapsed()) * mean)
        while True:
            due = self._arrivals.next()
            self._pending_due = due
            delay = self._t0 + due - time.monotonic()
            if delay > 0:
                gevent.sleep(delay)
            self._pending_due = None
            self.stats.due += 1
            self.stats.lags.append(max(0.0, time.monotonic() - self._t0 - due))
            self.fire_one()

    def elapsed(self) -> float:
        return time.monotonic() - self._t0 if self.running else 0.0

    def fire_one(self) -> None:
        limit = self.model.process_limit
        if limit and len(self.in_flight) >= limit:
            self.stats.refused_limit += 1
            self._count("refused_limit")
            return
        user = self.pool.take()
        if user is None:
            self.stats.refused_pool += 1
            self._count("refused_pool")
            return
        self.stats.placed += 1
        self._count("placed")
        holding = self.model.holding.sample(user.rng) if self.model.holding else None
        call = gevent.spawn(self._place, user, holding)
        self.in_flight.add(call)
        call.link(self.in_flight.discard)

    def _count(self, result: str) -> None:
        if self.metrics is not None:
            self.metrics.inc("call_attempts", result=result)

    def _place(self, user: PoolMember, holding: float | None) -> None:
        try:
            user.place_one_call(holding)
        except Exception as exc:  # one call's failure must not stop the scheduler
            log.warning("[%s] open-model call failed: %r", user.identity, exc)
        finally:
            self.pool.give_back(user)

    def finish(self) -> SchedulerStats:
        """Close the window: count attempts already due but not fired (the scheduler was behind)."""
        if self.running:
            elapsed = self.elapsed()
            self.stats.ended_at = time.time()
            self.stats.expected = self.model.process_plan.expected_calls(elapsed)
            due = self._pending_due
            while due is not None and due <= elapsed:
                self.stats.due += 1
                due = self._arrivals.next()
            self.running = False
        return self.stats


class _State:
    model: OpenModel | None = None
    pool = EndpointPool()
    scheduler: Scheduler | None = None
    greenlet: gevent.Greenlet | None = None
    ledger: Path | None = None


def pool() -> EndpointPool:
    return _State.pool


def model_of(environment: Environment) -> OpenModel | None:
    if _State.model is None:
        _State.model = open_model_from_options(environment.parsed_options)
    return _State.model


@events.init_command_line_parser.add_listener
def _add_arguments(parser: Any, **_kw: Any) -> None:
    add_locust_options(parser, "open model")  # from the registry (rtcload/options/registry.toml)


def start_scheduler(environment: Environment, metrics: Any, process: str, default_holding: Distribution) -> None:
    """Start this process' scheduler (the scenario calls this on test_start, never on a master).

    The holding time is --rtc-holding (settings), given to the scheduler as `default_holding`."""
    if isinstance(environment.runner, MasterRunner) or _State.scheduler is not None:
        return
    model = model_of(environment)
    if model is None:
        log.warning("open_calls scenario without --rtc-cps/--rtc-cps-steps: no calls will be offered")
        return
    options = environment.parsed_options
    ledger = getattr(options, "rtc_ledger", "") if options else ""
    _State.ledger = Path(ledger) if ledger else None
    if model.holding is None:
        model = _State.model = replace(model, holding=default_holding)
    _State.scheduler = Scheduler(model, _State.pool, metrics, process)
    _State.greenlet = gevent.spawn(_State.scheduler.run, lambda: _pool_ready(environment))


def _pool_ready(environment: Environment) -> bool:
    """The clock starts when this process has spawned its users, every one has finished registering and
    no user was added for a second: registrations are bursts of work that would make the first attempts
    late. (A worker learns its share of -u only from the master's spawn messages, which may come in
    several; hence the runner's own count and the quiet second.)"""
    runner = environment.runner
    if runner is None:
        return False
    state = getattr(runner, "worker_state", None) or runner.state
    pool = _State.pool
    return (
        state == "running"
        and runner.user_count > 0
        and pool.settled >= runner.user_count
        and time.monotonic() - pool.changed_at >= STARTUP_QUIET_S
    )


@events.test_stopping.add_listener
def _on_test_stopping(environment: Environment, **_kw: Any) -> None:
    """The window ends when the stop begins (before users stop): no attempt is fired into a stopping run."""
    stop_scheduler()


def stop_scheduler() -> None:
    """Kill the scheduler greenlet and write what it did to the ledger (calls in flight finish on their own)."""
    scheduler, greenlet = _State.scheduler, _State.greenlet
    if scheduler is None:
        return
    if greenlet is not None:
        greenlet.kill(block=True, timeout=5)
    stats = scheduler.finish()
    if _State.ledger is not None:
        path = _State.ledger / f"{OPEN_MODEL_PART}.{stats.process}.json"
        try:
            path.write_text(json.dumps(stats.to_json(), indent=1) + "\n")
        except OSError as exc:
            log.warning("cannot write %s: %r", path, exc)
    _State.scheduler = _State.greenlet = None
