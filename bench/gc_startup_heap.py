"""How long a full garbage collection stops a Locust worker's event loop, before and after the startup heap is
frozen (rtcload.media.heap.freeze_startup_heap, done before each process' first call).

Imports what a generator process imports (Locust, gevent, aiortc, the engine, the loadgen user), then, with
`--calls` engine calls up in this process (both ends, loopback), times gc.collect() (median of --repeat).

    python bench/gc_startup_heap.py --calls 50 --repeat 5
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import locust  # noqa: F401  (a generator process has it loaded)

import rtcload.loadgen.user  # noqa: F401
from rtcload.media.engine.call_media import EngineCallMedia, EngineMediaEndpoint
from rtcload.media.loopback import use_loopback_only
from rtcload.media.media_settings import MediaSettings


def full_collection_ms(repeat: int) -> float:
    durations = []
    for _ in range(repeat):
        started = time.perf_counter()
        gc.collect()
        durations.append(time.perf_counter() - started)
    return 1000 * statistics.median(durations)


async def calls_up(count: int) -> list[object]:
    up: list[object] = []
    for _ in range(count):
        caller, answerer = (
            EngineCallMedia("tone:440", settings=MediaSettings(codec="opus")),
            EngineMediaEndpoint("echo"),
        )
        await caller.accept_answer(await answerer.accept_offer(await caller.create_offer()))
        await caller.wait_connected(20)
        up += [caller, answerer]
    return up


async def main(args: argparse.Namespace) -> None:
    use_loopback_only()
    os.environ["RTCLOAD_GC_FREEZE"] = "0"  # this bench freezes by hand, at the same point the sessions would
    gc.collect()
    startup = len(gc.get_objects())
    before = full_collection_ms(args.repeat)
    up = await calls_up(args.calls)
    with_calls = full_collection_ms(args.repeat)
    per_call_objects = (len(gc.get_objects()) - startup) / max(1, args.calls)
    print(
        f"startup heap {startup} objects: full collection {before:.1f} ms; with {args.calls} calls up "
        f"({per_call_objects:.0f} objects per call, both ends): {with_calls:.1f} ms"
    )
    await asyncio.gather(*(m.close() for m in up))  # type: ignore[attr-defined]
    del up
    gc.collect()
    gc.freeze()  # what freeze_startup_heap does before the first call
    frozen = full_collection_ms(args.repeat)
    up = await calls_up(args.calls)
    frozen_with_calls = full_collection_ms(args.repeat)
    print(
        f"startup heap frozen ({gc.get_freeze_count()} objects): full collection {frozen:.2f} ms; with "
        f"{args.calls} calls up: {frozen_with_calls:.1f} ms (ratio {with_calls / max(1e-9, frozen_with_calls):.1f}x) "
        f"| load1 {os.getloadavg()[0]:.1f}"
    )
    await asyncio.gather(*(m.close() for m in up))  # type: ignore[attr-defined]


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=50)
    parser.add_argument("--repeat", type=int, default=5)
    asyncio.run(main(parser.parse_args()))
