"""The lag window's samples (send lateness, loop lag): bounded, in order, and no memory growth as they fill.

Issue 22: the engine's send-lateness window keeps 100,000 samples (33 minutes of 20 ms ticks); as a
deque of (time, lag) tuples it grew every media process's RSS by ~12 MB over a soak's first half hour,
the first site a tracemalloc diff of the soak named.
"""

from __future__ import annotations

import math
import tracemalloc

from rtcload.media.engine.clock import SEND_LATENESS
from rtcload.metrics.lag import LagWindow, SampleRing


def test_filling_the_window_allocates_nothing_more():
    window = LagWindow(capacity=100_000)
    window.record(0.001)  # the first sample takes the whole ring at once
    lags = [k * 1e-6 for k in range(100_000)]  # the caller's floats, made before measuring
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for lag in lags:
            window.record(lag)
        grown = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    # the unreported queue (4,096 slots, drained by the gevent side) is all that may fill: ~40 KB of
    # deque blocks; 100,000 tuples of two floats would be ~11 MB
    assert grown < 256 * 1024, f"{grown / 1024:.0f} KiB allocated while 100,000 samples filled the window"
    assert len(window.samples) == 100_000


def test_the_ring_keeps_the_last_samples_oldest_first():
    ring = SampleRing(3)
    assert ring.pairs() == [] and len(ring) == 0
    for k in range(5):
        ring.append((float(k), 10.0 * k))
    assert ring.pairs() == [(2.0, 20.0), (3.0, 30.0), (4.0, 40.0)]
    assert list(ring) == ring.pairs() and len(ring) == 3
    ring.clear()
    ring.append((9.0, 1.0))
    assert ring.pairs() == [(9.0, 1.0)]


def test_percentiles_read_the_window_or_every_retained_sample():
    window = LagWindow(window_s=3600.0, capacity=100)
    for k in range(1, 201):  # only the last 100 (0.101 .. 0.200 s) are retained
        window.record(k / 1000)
    assert window.p99(whole=True, quantile=0.5) == 0.15
    assert window.p99() == 0.199
    window.window_s = 0.0  # every sample is older than an empty window
    assert window.p99() == 0.0


def test_the_engines_send_lateness_window_holds_its_33_minutes():
    assert SEND_LATENESS.samples.capacity == 100_000


def test_percentiles_match_nearest_rank_before_and_after_the_ring_wraps():
    window = LagWindow(window_s=3600.0, capacity=1000)
    lags = [((k * 7919) % 1000) / 1e5 for k in range(1, 2501)]  # a shuffled spread, 2.5 laps of the ring
    for seen, lag in enumerate(lags, start=1):
        window.record(lag)
        if seen in (1, 10, 999, 1000, 1001, 1500, 2500):
            kept = sorted(lags[max(0, seen - 1000) : seen])
            for quantile in (0.5, 0.95, 0.99):
                expected = kept[max(0, math.ceil(quantile * len(kept)) - 1)]
                assert window.p99(whole=True, quantile=quantile) == expected, (seen, quantile)
    window.samples.clear()
    assert window.p99(whole=True) == 0.0
    window.record(0.25)
    assert window.p99(whole=True) == 0.25  # the cleared laps are not read


def test_reading_a_percentile_of_100000_samples_makes_no_object_per_sample():
    window = LagWindow(window_s=3600.0, capacity=100_000)
    for k in range(100_000):
        window.record(k * 1e-7)
    tracemalloc.start()
    try:
        window.p99()
        window.p99(whole=True, quantile=0.95)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    # two 800 KB copies of the arrays and a mask; 100,000 (time, lag) tuples were ~11 MB per read
    assert peak < 4 * 2**20, f"a percentile read peaked at {peak / 2**20:.1f} MiB"
