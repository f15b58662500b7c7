"""Telephony traffic arithmetic: call-rate plans (SIPp's -r and ramps), arrival processes and Erlang-B.

Pure and I/O-free so the load generator, the gates and the tests share one definition of
"offered 20 CPS" and one blocking formula. Erlang-B is computed with the standard recursion
B(0) = 1, B(n) = A B(n-1) / (n + A B(n-1)), which never forms A^n / n! and so stays exact for
thousands of trunks.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

from rtcload.options.kinds import parse_duration

ARRIVALS = ("poisson", "fixed")


def erlang_b(servers: int, erlangs: float) -> float:
    """Probability that a call offered `erlangs` of traffic finds all `servers` busy (blocked calls cleared)."""
    if servers < 0 or erlangs < 0:
        raise ValueError("servers and erlangs must be >= 0")
    blocking = 1.0
    for n in range(1, servers + 1):
        blocking = erlangs * blocking / (n + erlangs * blocking)
    return blocking


def binomial_sigma(probability: float, trials: int) -> float:
    """Standard error of a measured proportion: how far a fair sample strays from `probability`."""
    if trials <= 0:
        return math.inf
    return math.sqrt(max(probability * (1 - probability), 0.0) / trials)


def parse_seconds(text: str, name: str = "duration") -> float:
    """`30`, `30s`, `2m`, `1h`, `500ms` -> seconds (the shared duration kind, rtcload.options.kinds)."""
    return parse_duration(text, name)


@dataclass(frozen=True)
class RatePlan:
    """Offered calls per second over time: a constant, a linear ramp then hold, or a staircase.

    `steps` is a tuple of (rate, seconds); the last step holds for the rest of the run. A ramp is
    (start, end, seconds): linear from start to end, then `end` for the rest of the run.
    """

    steps: tuple[tuple[float, float], ...] = ()
    ramp: tuple[float, float, float] | None = None

    def rate(self, t: float) -> float:
        if self.ramp is not None:
            start, end, span = self.ramp
            if t >= span or span <= 0:
                return end
            return start + (end - start) * max(t, 0.0) / span
        elapsed = 0.0
        for rate, seconds in self.steps:
            elapsed += seconds
            if t < elapsed:
                return rate
        return self.steps[-1][0]

    @property
    def peak(self) -> float:
        if self.ramp is not None:
            return max(self.ramp[0], self.ramp[1])
        return max(rate for rate, _s in self.steps)

    def expected_calls(self, t_end: float, dt: float = 0.01) -> float:
        """The integral of the rate from 0 to t_end: calls the plan offers in that time."""
        if self.ramp is None and len(self.steps) == 1:
            return self.steps[0][0] * t_end
        n = max(1, int(t_end / dt))
        step = t_end / n
        return sum(self.rate((i + 0.5) * step) for i in range(n)) * step

    def scaled(self, share: float) -> RatePlan:
        """This plan divided among generators: each runs `share` of every rate."""
        if self.ramp is not None:
            start, end, span = self.ramp
            return RatePlan(ramp=(start * share, end * share, span))
        return RatePlan(steps=tuple((rate * share, s) for rate, s in self.steps))

    def __str__(self) -> str:
        if self.ramp is not None:
            return f"{self.ramp[0]:g}:{self.ramp[1]:g}:{self.ramp[2]:g}s"
        if len(self.steps) == 1:
            return f"{self.steps[0][0]:g}"
        return ",".join(f"{r:g}" for r, _s in self.steps) + f" every {self.steps[0][1]:g}s"


def parse_rate_plan(cps: str = "", steps: str = "", step_duration: str = "") -> RatePlan:
    """`--cps 20`, `--cps 5:50:60s` (ramp), or `--cps-steps 5,10,20 --step-duration 30s` (staircase)."""
    if bool(cps) == bool(steps):
        raise ValueError("give exactly one of --cps RATE|START:END:DURATION and --cps-steps R1,R2,...")
    try:
        if steps:
            if not step_duration:
                raise ValueError("--cps-steps needs --step-duration (e.g. 30s)")
            span = parse_seconds(step_duration)
            rates = tuple(float(x) for x in steps.split(",") if x.strip())
            if not rates or span <= 0:
                raise ValueError
            plan = RatePlan(steps=tuple((r, span) for r in rates))
        else:
            parts = cps.split(":")
            if len(parts) == 1:
                plan = RatePlan(steps=((float(parts[0]), math.inf),))
            elif len(parts) == 3:
                plan = RatePlan(ramp=(float(parts[0]), float(parts[1]), parse_seconds(parts[2])))
            else:
                raise ValueError
    except ValueError as exc:
        detail = f": {exc}" if str(exc) else ""
        raise ValueError(
            f"bad call rate {cps or steps!r}{detail}: use --cps 20, --cps 5:50:60s or --cps-steps 5,10,20"
        ) from None
    rates = [plan.rate(0.0), plan.peak] + [r for r, _s in plan.steps]
    if any(r < 0 for r in rates) or plan.peak <= 0:
        raise ValueError(f"bad call rate {cps or steps!r}: rates must be >= 0 and one of them > 0")
    return plan


class Arrivals:
    """Due times (seconds from the start) of successive call attempts under a rate plan.

    Poisson: a non-homogeneous Poisson process by thinning (Lewis-Shedler), exact for ramps and
    steps. Fixed: deterministic gaps of 1/rate (SIPp's default pacing). Due times are absolute,
    so a late attempt never shifts the ones after it: the offered rate does not drift.
    """

    def __init__(self, plan: RatePlan, kind: str = "poisson", rng: random.Random | None = None) -> None:
        if kind not in ARRIVALS:
            raise ValueError(f"bad arrival process {kind!r}: use {' or '.join(ARRIVALS)}")
        self.plan, self.kind, self.rng = plan, kind, rng or random.Random()
        self.t = 0.0
        self._credit = 0.0  # fixed pacing: calls owed, integrated over the rate

    def next(self) -> float:
        if self.kind == "poisson":
            peak = self.plan.peak
            while True:
                self.t += self.rng.expovariate(peak)
                if self.rng.random() * peak <= self.plan.rate(self.t):
                    return self.t
        dt = 0.001
        while True:  # integrate the rate until one more call is owed (exact 1/rate for a constant plan)
            rate = self.plan.rate(self.t)
            if rate > 0 and self._credit + rate * dt >= 1.0 and self.plan.ramp is None:
                need = (1.0 - self._credit) / rate
                if self._fits_step(need):
                    self.t += need
                    self._credit = 0.0
                    return self.t
            self._credit += rate * dt
            self.t += dt
            if self._credit >= 1.0:
                self._credit -= 1.0
                return self.t

    def _fits_step(self, span: float) -> bool:
        """The rate stays the same over the next `span` seconds (so 1/rate is exact there)."""
        return self.plan.rate(self.t + span) == self.plan.rate(self.t)
