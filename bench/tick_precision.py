"""How evenly can one event loop tick every 20 ms? The floor under the engine's send timing (self-jitter).

An idle ticker (no work per tick) scheduled three ways, on uvloop and on asyncio's default loop:
- `call_at` at the deadline (libuv/epoll timers are millisecond-granular);
- `call_at` 1 ms early, then `time.sleep` to the deadline (high-resolution timer; blocks the loop <= 1 ms);
- `call_at` 2 ms early, then busy-wait to the deadline (burns CPU).
Prints the mean |interval - 20 ms| (the sender's share of RFC 3550 jitter), lateness p50/p99 and CPU %.
Bounded: --ticks per variant.

    python bench/tick_precision.py --ticks 250
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import statistics
import time
from collections.abc import Callable

import uvloop

PERIOD_S = 0.02


def measure(new_loop: Callable[[], asyncio.AbstractEventLoop], early_s: float, spin: bool, ticks: int) -> str:
    loop = new_loop()
    sends: list[float] = []
    origin = time.monotonic() + PERIOD_S
    count = 0

    def schedule(deadline: float) -> None:
        loop.call_at(loop.time() + (deadline - early_s - time.monotonic()), fire)

    def fire() -> None:
        nonlocal count
        deadline = origin + count * PERIOD_S
        rest = deadline - time.monotonic()
        if rest > 0 and early_s:
            if spin:
                while time.monotonic() < deadline:
                    pass
            else:
                time.sleep(rest)
        sends.append(time.monotonic())
        count += 1
        if count < ticks:
            schedule(origin + count * PERIOD_S)
        else:
            loop.stop()

    schedule(origin)
    started_cpu, started = time.process_time(), time.monotonic()
    loop.run_forever()
    cpu = 100 * (time.process_time() - started_cpu) / (time.monotonic() - started)
    loop.close()
    gaps = [b - a for a, b in itertools.pairwise(sends)]
    late = sorted(s - (origin + i * PERIOD_S) for i, s in enumerate(sends))
    mad = 1000 * statistics.mean(abs(g - PERIOD_S) for g in gaps)
    p99 = 1000 * late[min(len(late) - 1, int(0.99 * len(late)))]
    return f"interval MAD {mad:.3f} ms, late p50 {1000 * late[len(late) // 2]:.2f} / p99 {p99:.2f} ms, CPU {cpu:.1f} %"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ticks", type=int, default=250)
    args = parser.parse_args()
    variants = [
        ("call_at on time", 0.0, False),
        ("1 ms early + sleep", 0.001, False),
        ("2 ms early + spin", 0.002, True),
    ]
    for loop_name, new_loop in (("uvloop", uvloop.new_event_loop), ("asyncio", asyncio.new_event_loop)):
        for label, early_s, spin in variants:
            print(f"{loop_name:8s} {label:20s} {measure(new_loop, early_s, spin, args.ticks)}", flush=True)


if __name__ == "__main__":
    main()
