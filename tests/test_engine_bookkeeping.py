"""A setup or hang-up costs the media engine the same with hundreds of calls up as with none (issue 21).

Every call's stream joins the engine at setup (MediaEngine.add) and leaves it at hang-up (remove). Those
used to rebuild the loop's tick lists over every stream up, although the send thread's streams never enter
them: ~1 ms of loop CPU per setup + hang-up per side with 500 calls up (docs/benchmarks.md, "setups +
hang-ups with 500 calls' media up"). Real parts: real C streams (real SRTP sessions, real UDP sockets) on a
real engine and its send thread; the streams are not sending (nothing floods the shared machine). CPU time
of this thread (`time.thread_time_ns`), not wall time, so other load on the machine does not move it;
the bound is wide (~1 us both now; ~100 us with 600 streams up before).
"""

from __future__ import annotations

import asyncio
import statistics
import time

import pytest

from rtcload.media.engine.engine import MediaEngine
from rtcload.media.engine.native import NativeEngineStream, native_available
from tests.test_send_thread import native_stream, stamped_receiver

pytestmark = pytest.mark.skipif(not native_available(), reason="the C engine is not built")


def leave_and_join_cpu_us(engine: MediaEngine, stream: NativeEngineStream, samples: int = 101) -> float:
    """Median CPU (us) of one stream leaving and joining the engine."""
    spent = []
    for _ in range(samples):
        started = time.thread_time_ns()
        engine.remove(stream)
        engine.add(stream)
        spent.append(time.thread_time_ns() - started)
    return statistics.median(spent) / 1000


def test_a_stream_joins_and_leaves_the_engine_at_the_same_cost_with_600_streams_up():
    receiver = stamped_receiver()
    streams = [native_stream(receiver.getsockname()) for _ in range(601)]
    for stream in streams:
        stream.set_sending(False)

    async def scenario() -> tuple[float, float]:
        engine = MediaEngine(asyncio.get_running_loop())
        assert engine.sender is not None, "the send thread carries the C streams"
        engine.add(streams[0])
        alone = leave_and_join_cpu_us(engine, streams[0])
        for stream in streams[1:]:
            engine.add(stream)
        crowded = leave_and_join_cpu_us(engine, streams[0])
        assert len(engine) == len(streams)
        for stream in streams:
            engine.remove(stream)
        return alone, crowded

    try:
        alone, crowded = asyncio.run(scenario())
    finally:
        for stream in streams:
            stream.close()
        receiver.close()
    # this branch: ~1 us both; the walk over every stream: ~100 us with 600 up (this VM)
    assert crowded < 5 * alone + 20, f"leave + join: {crowded:.1f} us with 600 streams up vs {alone:.1f} us alone"
