"""What one percentile read of a full send-lateness window costs: the array read (today) against the
tuple-per-sample read it replaced (rebuilt here as the baseline, same run, same samples).

The engine's window holds 100,000 samples; the health line, the live view and every Prometheus scrape
read its p99, the first two on the gevent hub (issue 22: the hub's lag p99 read ~50-100 ms at 4 % CPU).

    python bench/lag_window.py
    python bench/lag_window.py --samples 100000 --reads 20
"""

from __future__ import annotations

import argparse
import math
import time
import tracemalloc
from collections.abc import Callable

from rtcload.metrics.lag import LagWindow


def tuple_read(window: LagWindow, quantile: float = 0.99) -> float:
    """The old read: every (time, lag) pair as a tuple, then a sort."""
    recent = sorted(lag for _t, lag in window.samples.pairs())
    return recent[max(0, math.ceil(quantile * len(recent)) - 1)] if recent else 0.0


def measure(read: Callable[[], float], reads: int) -> tuple[float, float, float, float]:
    """(median ms, max ms, traced peak MiB, value) of `reads` untraced calls and one traced call."""
    times = []
    value = 0.0
    for _ in range(reads):
        started = time.perf_counter()
        value = read()
        times.append(1000 * (time.perf_counter() - started))
    tracemalloc.start()  # memory apart: tracing slows every allocation, so it would inflate the times
    read()
    peak = tracemalloc.get_traced_memory()[1] / 2**20
    tracemalloc.stop()
    times.sort()
    return times[len(times) // 2], times[-1], peak, value


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--samples", type=int, default=100_000)
    parser.add_argument("--reads", type=int, default=20)
    args = parser.parse_args()
    window = LagWindow(window_s=3600.0, capacity=args.samples)
    for k in range(args.samples):
        window.record(((k * 7919) % 10_000) * 1e-6)
    old = measure(lambda: tuple_read(window), args.reads)
    new = measure(lambda: window.p99(whole=True), args.reads)
    assert old[3] == new[3], (old[3], new[3])  # the same nearest-rank p99
    print(f"{args.samples} samples, {args.reads} reads of the whole-window p99 (same value: {new[3] * 1000:.3f} ms)")
    print(f"{'read':<16} {'median ms':>10} {'max ms':>8} {'peak MiB':>9}")
    print(f"{'tuples (before)':<16} {old[0]:>10.2f} {old[1]:>8.2f} {old[2]:>9.1f}")
    print(f"{'arrays (now)':<16} {new[0]:>10.2f} {new[1]:>8.2f} {new[2]:>9.1f}")
    print(f"ratio before/now: {old[0] / new[0]:.1f}x time, {old[2] / max(new[2], 1e-9):.1f}x memory")


if __name__ == "__main__":
    main()
