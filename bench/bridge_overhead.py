"""Bridge overhead: what a greenlet pays to run a coroutine on rtcload's asyncio thread.

Runs the same short coroutine (an `asyncio.sleep`) N times three ways and prints wall time per call:
  baseline  - awaited directly inside the asyncio loop (no gevent, no thread hop)
  bridge    - Bridge.run() from C concurrent greenlets (Locust's situation)
and the bridge's own overhead distribution (greenlet wall time minus coroutine wall time).

    python bench/bridge_overhead.py --calls 2000 --concurrency 50 --sleep-ms 1

Bounded by --calls; no network traffic at all.
"""

from __future__ import annotations

import gevent.monkey

gevent.monkey.patch_all()  # as Locust does, before anything else is imported

import argparse  # noqa: E402
import asyncio  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402

import gevent  # noqa: E402
from gevent.pool import Pool  # noqa: E402

from rtcload.loadgen.bridge import Bridge  # noqa: E402


async def work(sleep_s: float) -> float:
    started = time.perf_counter()
    await asyncio.sleep(sleep_s)
    return time.perf_counter() - started


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--sleep-ms", type=float, default=1.0)
    args = parser.parse_args()
    sleep_s = args.sleep_ms / 1000

    bridge = Bridge()
    per_call: list[float] = []

    # baseline: the same coroutines gathered inside the loop thread, no bridge hop per call
    async def baseline() -> list[float]:
        sem = asyncio.Semaphore(args.concurrency)

        async def one() -> float:
            async with sem:
                started = time.perf_counter()
                await work(sleep_s)
                return time.perf_counter() - started

        return await asyncio.gather(*(one() for _ in range(args.calls)))

    t0 = time.perf_counter()
    base = bridge.run(baseline())
    base_wall = time.perf_counter() - t0

    def one_bridged() -> None:
        started = time.perf_counter()
        bridge.run(work(sleep_s))
        per_call.append(time.perf_counter() - started)

    t0 = time.perf_counter()
    pool = Pool(args.concurrency)
    for _ in range(args.calls):
        pool.spawn(one_bridged)
    pool.join()
    bridged_wall = time.perf_counter() - t0
    overhead = list(bridge.overhead_s)[-args.calls :]
    bridge.stop()

    print(f"calls={args.calls} concurrency={args.concurrency} coroutine=sleep({args.sleep_ms} ms)")
    print(f"baseline in-loop : mean {statistics.mean(base) * 1e3:.3f} ms  p99 {pct(base, 0.99) * 1e3:.3f} ms  "
          f"throughput {args.calls / base_wall:.0f}/s")  # fmt: skip
    print(f"bridged          : mean {statistics.mean(per_call) * 1e3:.3f} ms  p99 {pct(per_call, 0.99) * 1e3:.3f} ms  "
          f"throughput {args.calls / bridged_wall:.0f}/s")  # fmt: skip
    print(f"bridge overhead  : mean {statistics.mean(overhead) * 1e3:.3f} ms  p50 {pct(overhead, 0.5) * 1e3:.3f} ms  "
          f"p99 {pct(overhead, 0.99) * 1e3:.3f} ms  max {max(overhead) * 1e3:.3f} ms")  # fmt: skip
    print(f"ratio bridged/baseline mean latency: {statistics.mean(per_call) / statistics.mean(base):.2f}")
    gevent.sleep(0)


if __name__ == "__main__":
    main()
