"""Traffic arithmetic: Erlang-B against published table values, rate plans and arrival processes."""

from __future__ import annotations

import itertools
import math
import random
import statistics

import pytest

from rtcload.loadgen.load_model import erlang_b_check
from rtcload.traffic import Arrivals, binomial_sigma, erlang_b, parse_rate_plan, parse_seconds

# (trunks, offered Erlangs, blocking) from the standard Erlang-B grade-of-service tables
# (e.g. ITU-T E.600-series traffic tables; the values every telephony engineering text reprints).
PUBLISHED = [
    (1, 1.0, 0.5),
    (5, 2.0, 0.0367),
    (10, 4.46, 0.01),
    (10, 5.08, 0.02),
    (10, 8.0, 0.1217),
    (20, 12.03, 0.01),
    (50, 37.90, 0.01),
    (100, 84.06, 0.01),
    (100, 80.0, 0.0040),
]


@pytest.mark.parametrize(("trunks", "erlangs", "blocking"), PUBLISHED)
def test_erlang_b_matches_published_tables(trunks: int, erlangs: float, blocking: float) -> None:
    assert erlang_b(trunks, erlangs) == pytest.approx(blocking, rel=0.02, abs=2e-4)


def test_erlang_b_is_stable_for_large_trunk_groups() -> None:
    """A^n/n! overflows a float near n = 170; the recursion must not."""
    value = erlang_b(5000, 4900.0)
    assert 0.0 < value < 0.05
    assert erlang_b(2000, 0.0) == 0.0
    assert erlang_b(0, 3.0) == 1.0
    assert erlang_b(200, 150.0) < erlang_b(200, 180.0) < erlang_b(200, 220.0)  # monotone in the load
    with pytest.raises(ValueError):
        erlang_b(-1, 1.0)


def test_erlang_b_check_judges_within_three_sigma() -> None:
    predicted = erlang_b(10, 8.0)
    sigma = binomial_sigma(predicted, 400)
    inside = erlang_b_check(10, 8.0, 1.0, 400, round(400 * (predicted + 2 * sigma)))
    outside = erlang_b_check(10, 8.0, 1.0, 400, round(400 * (predicted + 4 * sigma)))
    assert inside["within"] is True and outside["within"] is False
    assert outside["z"] > 3.0


def test_fixed_arrivals_are_evenly_paced() -> None:
    arrivals = Arrivals(parse_rate_plan("20"), "fixed")
    times = [arrivals.next() for _ in range(200)]
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert all(gap == pytest.approx(0.05, abs=1e-9) for gap in gaps)


def test_poisson_arrivals_have_exponential_gaps_at_the_rate() -> None:
    arrivals = Arrivals(parse_rate_plan("20"), "poisson", random.Random(7))
    times = [arrivals.next() for _ in range(20000)]
    gaps = [b - a for a, b in itertools.pairwise(times)]
    mean = statistics.fmean(gaps)
    assert mean == pytest.approx(1 / 20, rel=0.03)
    assert statistics.pstdev(gaps) / mean == pytest.approx(1.0, abs=0.05)  # CV of an exponential is 1


def test_ramp_and_staircase_offer_the_integral_of_their_rate() -> None:
    ramp = parse_rate_plan("5:50:60s")
    assert ramp.rate(0) == 5 and ramp.rate(30) == pytest.approx(27.5) and ramp.rate(100) == 50
    fixed = Arrivals(ramp, "fixed")
    times = [fixed.next() for _ in range(3000)]
    assert sum(t < 60 for t in times) == pytest.approx(ramp.expected_calls(60), abs=2)
    steps = parse_rate_plan(steps="5,10,20", step_duration="30s")
    assert [steps.rate(t) for t in (0, 29.9, 30, 61, 500)] == [5, 5, 10, 20, 20]
    poisson = Arrivals(steps, "poisson", random.Random(3))
    times = [poisson.next() for _ in range(3000)]
    counts = [sum(a <= t < a + 30 for t in times) for a in (0, 30, 60)]
    for count, rate in zip(counts, (5, 10, 20), strict=True):
        assert abs(count - rate * 30) < 4 * math.sqrt(rate * 30)  # Poisson count within 4 sigma


def test_scaled_plan_splits_the_rate_among_generators() -> None:
    plan = parse_rate_plan("5:50:60s").scaled(0.25)
    assert plan.rate(0) == 1.25 and plan.rate(60) == 12.5


@pytest.mark.parametrize(
    ("cps", "steps", "duration"),
    [
        ("", "", ""),
        ("abc", "", ""),
        ("5:50", "", ""),
        ("-3", "", ""),
        ("0", "", ""),
        ("", "5,10", ""),
        ("5", "5", "1s"),
    ],
)
def test_bad_rate_plans_are_refused_with_the_syntax(cps: str, steps: str, duration: str) -> None:
    with pytest.raises(ValueError, match=r"call rate|--cps"):
        parse_rate_plan(cps, steps, duration)


def test_durations() -> None:
    assert parse_seconds("30s") == 30 and parse_seconds("2m") == 120 and parse_seconds("500ms") == 0.5
    with pytest.raises(ValueError):
        parse_seconds("soon")
