"""CPU of one stream leaving and joining the media engine while N streams are up (every setup and hang-up does it).

Why: with calls up, a setup + hang-up must not cost more than on an idle engine. Before 2026-12-07 every
MediaEngine.add/remove rebuilt the loop's tick lists over every stream up (O(calls)), and every add woke the
SCHED_FIFO send thread. This times `engine.remove(stream); engine.add(stream)` of one live stream, with
`time.thread_time_ns` (CPU of the loop thread, not wall: the machine may be shared), `--repeat` times.

Both ends of `--streams / 2` engine calls (PCMU, 60 ms echo playout) run in this process on loopback, so
the engine holds `--streams` streams, sent by its send thread.

    python bench/engine_add_remove.py --streams 1000
    python bench/engine_add_remove.py --streams 1000 --tree /tmp/base   # another checkout (A/B)
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time

import _tree  # noqa: F401  (--tree PATH, or this checkout, first on sys.path)

from bench._common import call_media
from rtcload.media.engine.call_media import EngineCallMedia, EngineMediaEndpoint
from rtcload.media.engine.engine import engine_for
from rtcload.media.loopback import use_loopback_only


async def measure(args: argparse.Namespace) -> None:
    use_loopback_only()
    pairs: list[tuple[EngineCallMedia, EngineMediaEndpoint]] = []
    try:
        for _ in range(args.streams // 2):
            caller = call_media(EngineCallMedia, codec="pcmu", stats_interval_s=0)
            answerer = EngineMediaEndpoint("echo", playout_s=0.06)
            await caller.accept_answer(await answerer.accept_offer(await caller.create_offer()))
            pairs.append((caller, answerer))
        connected = [await caller.wait_connected(30) for caller, _ in pairs]
        await asyncio.sleep(1.0)
        engine = engine_for()
        stream = pairs[0][0].stream
        assert stream is not None and all(connected), "calls did not connect"
        samples = []
        for _ in range(args.repeat):
            started = time.thread_time_ns()
            engine.remove(stream)
            engine.add(stream)
            samples.append(time.thread_time_ns() - started)
            await asyncio.sleep(0.002)  # the loop and the send thread run between samples
        samples.sort()
        print(
            f"remove + add of one stream with {len(engine)} streams up: median "
            f"{samples[len(samples) // 2] / 1000:.1f} us CPU, p90 {samples[int(len(samples) * 0.9)] / 1000:.1f} us "
            f"(n={len(samples)}, load1 {os.getloadavg()[0]:.1f})",
            flush=True,
        )
    finally:
        for caller, answerer in pairs:
            await caller.close()
            await answerer.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--streams", type=int, default=1000, help="streams up in the engine (2 per call)")
    parser.add_argument("--repeat", type=int, default=300)
    parser.add_argument("--tree", default="", help="import rtcload from this checkout")
    args = parser.parse_args()
    import uvloop

    uvloop.run(measure(args))


if __name__ == "__main__":
    main()
