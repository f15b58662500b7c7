"""Garbage-collection pauses are measured (gc.callbacks) and published: the recorder's figures, the
emulator's /metrics histogram and its snapshot (emulator.json `gc`)."""

from __future__ import annotations

import asyncio
import gc
import urllib.request

from prometheus_client.parser import text_string_to_metric_families

from rtcload.emulator import Emulator
from rtcload.metrics.gc_pauses import GcPauses, merge_gc, process_gc_pauses
from tests.conftest import fast_config


def scrape(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=10) as response:
        return response.read()


def test_a_real_collection_is_counted_with_its_pause_and_what_it_collected():
    pauses = GcPauses()
    try:
        for _ in range(50):  # cycles for the collector to find
            a: list = []
            a.append(a)
        del a
        gc.collect()
    finally:
        pauses.uninstall()
    figures = pauses.to_json()
    assert figures["collections"]["2"] >= 1
    assert figures["gen2_max_collected"] >= 50
    assert 0 < figures["gen2_max_pause_ms"] <= figures["max_pause_ms"]
    buckets, total = pauses.histogram(2)
    assert buckets[-1] == ("+Inf", float(pauses.count[2])) and total > 0
    pauses.start_media()  # the first call: what came before is kept apart
    assert pauses.to_json()["before_first_call"]["max_pause_ms"] == figures["max_pause_ms"]
    assert pauses.to_json()["collections"] == {"0": 0, "1": 0, "2": 0}
    merged = merge_gc([figures, {**figures, "max_pause_ms": 999.0}])
    assert merged is not None and merged["collections"]["2"] == 2 * figures["collections"]["2"]
    assert merged["max_pause_ms"] == 999.0


async def test_the_emulator_publishes_its_collection_pauses():
    async with Emulator(fast_config()) as emu:
        gc.collect()  # at least one full collection of this process
        text = await asyncio.to_thread(scrape, f"http://127.0.0.1:{emu.port}/metrics")
        snapshot = emu.snapshot()
    families = {f.name: f for f in text_string_to_metric_families(text.decode())}
    family = families["rtcload_emulator_gc_pause_seconds"]
    assert family.type == "histogram"
    counts = {s.labels["generation"]: s.value for s in family.samples if s.name.endswith("_count")}
    assert set(counts) == {"0", "1", "2"} and counts["2"] >= 1
    assert snapshot["gc"]["collections"]["2"] == process_gc_pauses().count[2] >= 1
