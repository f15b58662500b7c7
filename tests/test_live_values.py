"""The live view's value store: exact below its cap (the view equals summary.json), a bounded uniform
sample above it, with count, mean, min and max still exact (issue 22: the view's raw values were the
Locust master's one unbounded growth in a soak)."""

from __future__ import annotations

import math
import random

import pytest

from rtcload.loadgen.live import values as live_values
from rtcload.loadgen.live.aggregate import LiveAggregate
from rtcload.loadgen.live.values import ValueStore, nearest_rank
from rtcload.results.ledger import statistics


def lognormal(n: int, seed: int) -> list[float]:
    rng = random.Random(seed)
    return [rng.lognormvariate(-4, 1) for _ in range(n)]


def test_below_the_cap_the_figures_are_the_ledgers():
    data = lognormal(5_000, 1)
    store = ValueStore(cap=5_000)
    store.extend(data[:1_234])
    store.extend(data[1_234:])
    figures = store.statistics()
    assert not store.sampled and "sampled_from" not in figures
    theirs = statistics(data)
    for stat in ("p5", "p50", "p95", "p99", "min", "max"):
        assert figures[stat] == theirs[stat], stat
    assert figures["mean"] == pytest.approx(theirs["mean"], rel=1e-12)


def test_above_the_cap_memory_stays_and_percentiles_stay_close():
    data = lognormal(200_000, 2)
    store = ValueStore(cap=10_000)
    for k in range(0, len(data), 777):  # reports arrive in batches
        store.extend(data[k : k + 777])
    figures = store.statistics()
    assert len(store.kept) == 10_000 and len(store) == 200_000 and figures["sampled_from"] == 10_000
    assert figures["mean"] == pytest.approx(math.fsum(data) / len(data), rel=1e-12)
    assert (figures["min"], figures["max"]) == (min(data), max(data))
    ordered = sorted(data)
    for stat, q, tolerance in (("p50", 0.5, 0.02), ("p95", 0.95, 0.01), ("p99", 0.99, 0.005)):
        rank = sum(1 for v in ordered if v <= figures[stat]) / len(ordered)  # its rank in all the values
        assert abs(rank - q) < tolerance, (stat, rank)


def test_the_sample_is_uniform_over_the_whole_run_not_its_start_or_end():
    store = ValueStore(cap=10_000)
    store.extend(float(k) for k in range(1_000_000))  # the run's time order: early values are small
    kept = sorted(store.kept)
    assert abs(sum(kept) / len(kept) / 1_000_000 - 0.5) < 0.02
    assert kept[len(kept) // 10] == pytest.approx(100_000, rel=0.1)  # the first tenth of the run has a tenth


def test_the_aggregate_keeps_each_metric_bounded(monkeypatch):
    monkeypatch.setattr(live_values, "MAX_VALUES", 1_000)
    aggregate = LiveAggregate()
    for seq in range(30):
        values = lognormal(200, seq)
        aggregate.merge({"tag": "p1", "values": {"mos": values}, "samples": {"mos": len(values)}})
    store = aggregate.values["mos"]
    assert len(store) == 6_000 and len(store.kept) == 1_000
    point = aggregate.tick(exact=True)
    assert point["metrics"]["mos"]["count"] == 6_000 and point["metrics"]["mos"]["sampled_from"] == 1_000


def test_nearest_rank_of_nothing_is_empty():
    assert nearest_rank(ValueStore().kept)["p50"] is None
    assert ValueStore().statistics()["mean"] is None
