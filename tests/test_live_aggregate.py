"""The live view's reduction, without a browser: the master's figures from two processes' reports are the
ledger's figures for the same samples; the worst calls, the quality CSVs and the generic health hook."""

from __future__ import annotations

import random

from rtcload.loadgen.live.aggregate import LiveAggregate
from rtcload.loadgen.live.collector import HEALTH_SOURCES, LiveCollector, add_health_source
from rtcload.loadgen.live.csvfiles import read_final, write_final
from rtcload.loadgen.live.values import nearest_rank
from rtcload.results.ledger import build_summary, statistics


def record(call_id: str, mos: float | None, loss: float = 0.0, outcome: str = "answered", **extra):
    return {
        "call_id": call_id,
        "outcome": outcome,
        "mos_mean": mos,
        "loss_ratio_mean": loss,
        "jitter_mean_s": 0.001,
        "cause": "NORMAL_CLEARING" if outcome == "answered" else "USER_BUSY",
        **extra,
    }


def test_nearest_rank_is_the_ledgers_statistics():
    from array import array

    rng = random.Random(7)
    for n in (1, 2, 3, 10, 101, 5000):
        values = [rng.lognormvariate(-7, 1) for _ in range(n)]
        ours, theirs = nearest_rank(array("d", values)), statistics(values)
        for key in ("p5", "p50", "p95", "p99", "min", "max"):
            assert ours[key] == theirs[key], (n, key)
        assert abs(ours["mean"] - theirs["mean"]) <= 1e-12 * abs(theirs["mean"])


def test_two_processes_reports_give_the_summary_figures():
    rng = random.Random(3)
    samples, records = [], []
    workers = [LiveCollector(), LiveCollector()]
    for tag, worker in zip(("w0", "w1"), workers, strict=True):
        worker.tag = tag
    agg = LiveAggregate()
    for step in range(5):
        for i, worker in enumerate(workers):
            for _ in range(20):
                mos = round(rng.uniform(3.0, 4.41), 4)
                jitter = rng.uniform(0, 0.004)
                worker.observe("mos", mos, True)
                worker.observe("jitter", jitter, True)
                samples += [
                    {"t": 1.0, "key": "mos", "value": mos, "ok": True, "outcome": "", "error": ""},
                    {"t": 1.0, "key": "jitter", "value": jitter, "ok": True, "outcome": "", "error": ""},
                ]
            worker.observe("call_setup", None, False)  # a failed sample: counted, no value
            samples.append({"t": 1.0, "key": "call_setup", "value": None, "ok": False, "outcome": "", "error": "x"})
            busy = record(f"c{step}{i}b", None, outcome="failed")
            good = record(f"c{step}{i}", 4.0 + step / 100)
            for row in (busy, good):
                worker.record(row)
                records.append({k: "" if v is None else str(v) for k, v in row.items()})
            agg.merge(worker.take_report())
        agg.tick(users=4)
    summary = build_summary(samples, records)
    point = agg.tick(users=4, exact=True)  # between ticks the percentiles may be cached (MAX_SHARE)
    for key in ("mos", "jitter"):
        for stat in ("p5", "p50", "p95", "p99", "min", "max", "count", "failures"):
            assert point["metrics"][key][stat] == summary["metrics"][key][stat], (key, stat)
    assert point["metrics"]["call_setup"]["failures"] == 10 and point["metrics"]["call_setup"]["p50"] is None
    for field in ("attempted", "answered", "failed", "failed_by_cause", "success_ratio"):
        assert point["calls"][field] == summary["calls"][field], field
    assert point["cps"] is None  # closed model: no offered rate
    assert [p["seq"] for p in agg.snapshot(since=3)["points"]] == [4, 5, 6]


def test_worst_calls_rank_no_media_first_then_low_mos_and_show_optional_fields():
    worker = LiveCollector(worst_n=3)
    worker.tag = "w0"
    for row in (
        record("good", 4.4),
        record("lossy", 3.9, loss=0.05),
        record("bad", 2.5, audio_score=1.9),
        record("silent", None),
        record("refused", None, outcome="failed"),  # never had media: counted by cause, not ranked
        record("ok", 4.1),
    ):
        worker.record(row)
    agg = LiveAggregate(worst_n=3)
    agg.merge(worker.take_report())
    table = agg.worst_table()
    assert [r["call_id"] for r in table["rows"]] == ["silent", "bad", "lossy"]
    assert "audio_score" in table["columns"] and table["rows"][1]["audio_score"] == 1.9
    assert agg.worst.find("bad")["row"]["call_id"] == "bad"  # the calls.csv row behind the link
    assert agg.worst_table()["rows"][0]["process"] == "w0"


def test_health_sources_show_up_flattened_and_a_broken_one_is_named():
    worker = LiveCollector()

    def send_thread() -> dict:
        return {"send_gaps": {"p99_s": 0.004, "stalls": 2}, "thread": "sender"}

    def broken() -> dict:
        raise RuntimeError("no")

    add_health_source(send_thread)
    add_health_source(broken)
    try:
        health = worker.take_report()["health"]
    finally:
        HEALTH_SOURCES.remove(send_thread)
        HEALTH_SOURCES.remove(broken)
    assert health["send_gaps.p99_s"] == 0.004 and health["send_gaps.stalls"] == 2 and health["thread"] == "sender"
    assert health["error.broken"].startswith("RuntimeError")
    agg = LiveAggregate()
    agg.merge({"tag": "w0", "health": health})
    assert agg.tick()["health"]["send_gaps.stalls"] == 2.0


def test_quality_csv_round_trip(tmp_path):
    agg = LiveAggregate()
    worker = LiveCollector()
    for v in (4.1, 4.3, 4.41):
        worker.observe("mos", v, True)
    worker.observe("rtt", 0.000123456, True)
    agg.merge(worker.take_report())
    metrics = agg.metrics()
    write_final(tmp_path / "q_quality.csv", metrics)
    back = read_final(tmp_path / "q_quality.csv")
    assert back["mos"]["p50"] == 4.3 and back["rtt"]["p50"] == 0.000123456 and back["mos"]["count"] == 3
    assert back["mos"]["unit"] == "mos" and back["rtt"]["unit"] == "seconds"


def test_costly_percentiles_are_reused_between_ticks_but_never_for_an_exact_point():
    agg = LiveAggregate()
    worker = LiveCollector()
    worker.observe("mos", 4.0, True)
    agg.merge(worker.take_report())
    assert agg.tick()["metrics"]["mos"]["count"] == 1
    agg._cost = 10.0  # as if the last computation took 10 s: the next 200 s reuse it
    worker.observe("mos", 3.0, True)
    agg.merge(worker.take_report())
    assert agg.tick()["metrics"]["mos"]["count"] == 1
    assert agg.tick(exact=True)["metrics"]["mos"]["min"] == 3.0


def test_registry_figures_read_once_equal_the_registrys_samples():
    """The live report's gauges come from one restricted collection (not seven whole-registry ones, issue 22):
    the same values `get_sample_value` finds, and no other metric's function gauge is evaluated for them."""
    from rtcload.loadgen.live.collector import REGISTRY_FIELDS, LiveCollector
    from rtcload.metrics.exporter import GeneratorMetrics

    metrics = GeneratorMetrics()
    evaluated: list[str] = []
    metrics.set_function("active_calls", lambda: 3.0)
    metrics.set_function("users", lambda: 4.0)
    metrics.set_function("saturated", lambda: evaluated.append("saturated") or 0.0)  # costly on a real process
    metrics.inc("call_attempts", 7, result="placed")
    metrics.inc("call_attempts", 2, result="refused_pool")
    collector = LiveCollector()
    collector.attach(metrics.registry, None, "t")
    figures = collector.registry_figures()
    expected = {}
    for field, (name, labels) in REGISTRY_FIELDS.items():
        value = metrics.registry.get_sample_value(name, labels)
        if value is not None:
            expected[field] = value
    evaluated.clear()  # get_sample_value above collected everything
    assert figures == expected and figures["in_progress"] == 3.0 and figures["placed"] == 7.0, figures
    assert collector.registry_figures() == expected and evaluated == []
