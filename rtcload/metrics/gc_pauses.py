"""Garbage-collection pauses of this process, measured with `gc.callbacks`: count, total and largest pause
per generation, objects collected, and a histogram for /metrics.

Why: a collection holds the GIL for as long as it walks the heap, so the media clock, every socket
callback and every timing taken meanwhile wait. A full (generation 2) collection under churn took
150-210 ms before ended calls were freed by reference counting (rtcload/media/teardown.py); this is
the witness that it stays that way, in summary.json (`generator.gc`), emulator.json (`gc`), Prometheus
(`rtcload_gc_pause_seconds`, `rtcload_emulator_gc_pause_seconds`) and the run's health line.

The callback runs inside the collection, on whichever thread allocated: it only does arithmetic on
plain numbers (no lock: a Prometheus lock held by the interrupted code would deadlock); exporters read
the numbers at scrape time.
"""

from __future__ import annotations

import bisect
import gc
import time
from collections import deque
from collections.abc import Iterator
from typing import Any

from prometheus_client.core import HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

from rtcload.metrics.catalog import GC_PAUSE_BUCKETS as PAUSE_BUCKETS
from rtcload.metrics.catalog import measurement

GENERATIONS = (0, 1, 2)
RECENT = 4096  # the latest pauses, for benches that look at a window (bounded: gen-0 runs often)


class GcPauses:
    """Collections of this process since `install()` (or the last `reset()`), per generation."""

    def __init__(self, install: bool = True) -> None:
        self.pauses: deque[tuple[int, float]] = deque(maxlen=RECENT)  # (generation, seconds), latest
        self._started = 0.0
        self.startup: dict[str, float] | None = None  # before the process's first call (start_media)
        self.reset()
        if install:
            self.install()

    def start_media(self) -> None:
        """The process's first call starts: what was collected before (imports, the startup freeze's own
        full collection) is kept apart, as `before_first_call`, and the figures start again from here."""
        if self.startup is None:
            self.startup = {
                "collections": sum(self.count),
                "max_pause_ms": round(self.max_ms(), 3),
                "total_pause_ms": round(1000 * sum(self.total_s), 3),
            }
            buckets, sums = self.buckets, self.hist_sum_s
            self.reset()
            self.buckets, self.hist_sum_s = buckets, sums  # /metrics stays monotonic over the process's life

    def reset(self) -> None:
        """Start a new measurement window (benches: after warm-up)."""
        self.count = [0, 0, 0]
        self.total_s = [0.0, 0.0, 0.0]
        self.max_s = [0.0, 0.0, 0.0]
        self.collected = [0, 0, 0]
        self.max_collected = [0, 0, 0]
        self.buckets = [[0] * (len(PAUSE_BUCKETS) + 1) for _ in GENERATIONS]  # per bucket, not cumulative
        self.hist_sum_s = [0.0, 0.0, 0.0]
        self.pauses.clear()

    def install(self) -> None:
        if self._callback not in gc.callbacks:
            gc.callbacks.append(self._callback)

    def uninstall(self) -> None:
        if self._callback in gc.callbacks:
            gc.callbacks.remove(self._callback)

    def _callback(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
            return
        pause = time.perf_counter() - self._started
        gen = info.get("generation", 2)
        if gen not in GENERATIONS:
            return
        self.count[gen] += 1
        self.total_s[gen] += pause
        self.max_s[gen] = max(self.max_s[gen], pause)
        collected = info.get("collected", 0)
        self.collected[gen] += collected
        self.max_collected[gen] = max(self.max_collected[gen], collected)
        self.buckets[gen][bisect.bisect_left(PAUSE_BUCKETS, pause)] += 1
        self.hist_sum_s[gen] += pause
        self.pauses.append((gen, pause))

    # ------------------------------------------------------------------ readings

    def max_ms(self) -> float:
        return 1000 * max(self.max_s)

    def full(self) -> int:
        """Full (generation 2) collections."""
        return self.count[2]

    def summary(self) -> dict[str, float]:
        """The bench's flat figures (bench/calls_per_core.py, bench/setup_rate.py)."""
        return {
            "gc_count": sum(self.count),
            "gc_full": self.count[2],
            "gc_max_ms": self.max_ms(),
            "gc_total_ms": 1000 * sum(self.total_s),
        }

    def to_json(self) -> dict[str, Any]:
        """What summary.json (`generator.gc`, per process) and emulator.json (`gc`) carry."""
        per = {str(g): self.count[g] for g in GENERATIONS}
        return {
            "collections": per,
            "max_pause_ms": round(self.max_ms(), 3),
            "gen2_max_pause_ms": round(1000 * self.max_s[2], 3),
            "total_pause_ms": round(1000 * sum(self.total_s), 3),
            "max_pause_ms_by_generation": {str(g): round(1000 * self.max_s[g], 3) for g in GENERATIONS},
            "collected": {str(g): self.collected[g] for g in GENERATIONS},
            "gen2_max_collected": self.max_collected[2],
            "before_first_call": self.startup,  # null when no call started (the figures above cover all)
        }

    def histogram(self, generation: int) -> tuple[list[tuple[str, float]], float]:
        """Cumulative (le, count) buckets with +Inf, and the sum of pauses: a Prometheus histogram's sample."""
        running = 0
        out: list[tuple[str, float]] = []
        for edge, n in zip((*PAUSE_BUCKETS, float("inf")), self.buckets[generation], strict=True):
            running += n
            out.append(("+Inf" if edge == float("inf") else repr(edge), float(running)))
        return out, self.hist_sum_s[generation]


class GcPauseCollector(Collector):
    """The catalog's `key` histogram (per generation), built from a GcPauses' numbers at scrape time."""

    def __init__(self, key: str, pauses: GcPauses) -> None:
        self.measurement = measurement(key)
        self.pauses = pauses

    def collect(self) -> Iterator[Metric]:
        m = self.measurement
        family = HistogramMetricFamily(m.prometheus_name, f"{m.help} [{m.unit}]", labels=m.labels)
        for generation in GENERATIONS:
            buckets, total = self.pauses.histogram(generation)
            family.add_metric([str(generation)], buckets, total)
        yield family


def merge_gc(parts: list[dict[str, Any]]) -> dict[str, Any] | None:
    """Several processes' `to_json()` as one: counts and totals summed, maxima the largest."""
    parts = [p for p in parts if p]
    if not parts:
        return None
    out: dict[str, Any] = {
        "collections": {str(g): sum(int(p["collections"].get(str(g), 0)) for p in parts) for g in GENERATIONS},
        "max_pause_ms": max(float(p.get("max_pause_ms", 0.0)) for p in parts),
        "gen2_max_pause_ms": max(float(p.get("gen2_max_pause_ms", 0.0)) for p in parts),
        "total_pause_ms": round(sum(float(p.get("total_pause_ms", 0.0)) for p in parts), 3),
        "gen2_max_collected": max(int(p.get("gen2_max_collected", 0)) for p in parts),
    }
    startup = [p["before_first_call"] for p in parts if p.get("before_first_call")]
    if startup:
        out["before_first_call_max_pause_ms"] = max(float(s.get("max_pause_ms", 0.0)) for s in startup)
    return out


_PROCESS: GcPauses | None = None


def process_gc_pauses() -> GcPauses:
    """This process's one recorder (installed on first use): the Locust process or the emulator."""
    global _PROCESS
    if _PROCESS is None:
        _PROCESS = GcPauses()
    return _PROCESS


def installed_gc_pauses() -> GcPauses | None:
    """The process's recorder if something installed it (an in-process emulator in a test may not)."""
    return _PROCESS
