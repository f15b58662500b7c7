"""The lag window's samples (send lateness, loop lag): bounded, in order, and no memory growth as they fill.

Issue 22: the engine's send-lateness window keeps 100,000 samples (33 minutes of 20 ms ticks); as a
deque of (time, lag) tuples it grew every media process's RSS by ~12 MB over a soak's first half hour,
the first site a tracemalloc diff of the soak named.
"""

from __future__ import annotations

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


def test_percentiles_are_the_nearest_rank_of_the_windows_samples_after_the_ring_wraps():
    """values_since() masks the filled slots instead of ordering them: the same figures as a sort of the
    retained (time, lag) pairs, before and after the ring wraps, for the window and the whole ring."""
    import math
    import random
    import time

    rng = random.Random(22)
    window = LagWindow(window_s=300.0, capacity=1000)
    now = time.monotonic()
    for count in (1, 7, 999, 1000, 1737):  # partly filled, just full, wrapped
        window.samples.clear()
        for k in range(count):  # 1 s apart, half a second off the window's edge: the last 300 s hold 300
            window.samples.append((now + 0.5 - (count - k), rng.expovariate(1000.0)))
        pairs = window.samples.pairs()
        for whole in (False, True):
            cutoff = float("-inf") if whole else time.monotonic() - window.window_s
            kept = sorted(lag for t, lag in pairs if t >= cutoff)
            for q in (0.5, 0.95, 0.99):
                expected = kept[max(0, math.ceil(q * len(kept)) - 1)] if kept else 0.0
                assert window.p99(whole, q) == expected, (count, whole, q)
