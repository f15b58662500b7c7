"""Echo with a playout schedule (issue 21): the emulator's echo leaves at kernel arrival + a fixed delay,
sent by the engine's send thread, so a stall of the emulator's loop shorter than the delay leaves no trace
on the wire; a longer one is the emulator's own stall and its media clock reports it.

Real parts: the real emulator and a real engine client (one process, one uvloop loop), real libsrtp, real
loopback sockets, the kernel's receive stamps. The loop is blocked with time.sleep on the loop itself: it
holds the emulator's receive callback (and the generator's), not the kernel's stamps, so the generator's
received jitter (RFC 3550, from kernel stamps) sees only what the emulator put on the wire. Thresholds are
wide (the machine is shared): immediate forwarding under the same blocks gives jitter of several ms and
gaps of ~60 ms; the schedule gives ~0.1 ms and none.
"""

from __future__ import annotations

import asyncio
import itertools
import time
import urllib.request

import pytest

from rtcload.emulator.playout import parse_playout, split_mode, with_playout
from rtcload.emulator.routing import RouteError, route
from rtcload.media.engine.native import NativeEngineStream, native_available
from rtcload.media.media_settings import MediaSettings
from tests.test_send_thread import kernel_arrivals, native_stream, stamped_receiver

pytestmark = pytest.mark.skipif(not native_available(), reason="the C engine is not built")


def test_the_playout_knob_is_parsed_and_carried_to_the_answerer():
    assert parse_playout("60ms") == pytest.approx(0.06)
    assert parse_playout("0.08s") == pytest.approx(0.08) and parse_playout("0") == 0.0
    assert route("echo;playout=80ms", {}).media_mode == "echo;playout=0.08"
    assert route("echo", {}).media_mode == "echo"
    assert split_mode("echo;playout=0.08") == ("echo", pytest.approx(0.08))
    assert split_mode("relay") == ("relay", None)
    assert with_playout("echo", {"playout": "0"}) == "echo;playout=0"
    for bad in ("echo;playout=soon", "echo;playout=5s", "echo;playout=-1ms"):
        with pytest.raises(RouteError, match="playout"):
            route(bad, {})


async def echo_call_under_blocks(destination: str, block_s: float, every_s: float, blocks: int) -> tuple:
    """An echo call through the real emulator; the shared loop is blocked `blocks` times. Returns the
    largest RFC 3550 jitter (s) the generator measured on the echo while blocked, the emulator's
    media-clock summary, the playout counts of the emulator's echo stream and its /metrics families."""
    from prometheus_client.parser import text_string_to_metric_families

    from rtcload.emulator import Emulator
    from rtcload.emulator.aiortc_answerer import AiortcAnswerer
    from rtcload.media.engine.call_media import EngineCallMedia
    from rtcload.media.engine.send_gaps import EMULATOR_SEND_GAPS
    from rtcload.media.loopback import use_loopback_only
    from tests.conftest import fast_config
    from tests.test_media_engine import connect

    use_loopback_only()
    streams_before = EMULATOR_SEND_GAPS.streams
    async with Emulator(fast_config(), AiortcAnswerer(loopback_only=True)) as emu:
        client = await connect(
            emu.url, lambda: EngineCallMedia("tone:440", settings=MediaSettings(codec="pcmu", stats_interval_s=0.5))
        )
        try:
            call = await client.call(destination, answer_timeout_s=20)
            media = call.media
            assert await media.analyzer.wait_until(lambda a: a.first_audio_at is not None, 20)
            assert isinstance(media.stream, NativeEngineStream)
            (endpoint,) = emu.answerer.endpoints.values()
            echo_tx = endpoint.stream.ntx
            await asyncio.sleep(2.5)  # the echo's jitter estimate forgets the call's start (1/16 per packet)
            worst = 0.0
            for _ in range(blocks):
                time.sleep(block_s)  # the loop (emulator, generator, signaling) runs nothing meanwhile
                deadline = time.monotonic() + every_s
                while time.monotonic() < deadline:  # the loop runs: received packets are counted
                    await asyncio.sleep(0.01)
                    worst = max(worst, media.stream.nrx.jitter / 8000)  # RTP units of PCMU -> s
            counts = echo_tx.playout_counts
            await call.hangup()
            for _ in range(200):  # the emulator ends its leg on the bye (no event to wait on from here)
                if EMULATOR_SEND_GAPS.streams > streams_before:
                    break
                await asyncio.sleep(0.05)
            snapshot = emu.snapshot()
            url = f"http://127.0.0.1:{emu.port}/metrics"
            text = await asyncio.to_thread(lambda: urllib.request.urlopen(url, timeout=10).read().decode())
            metrics = {f.name: f.samples[0].value for f in text_string_to_metric_families(text) if f.samples}
        finally:
            await client.close()
    return worst, snapshot["media_clock"]["send_gaps"], counts, metrics


@pytest.mark.parametrize(
    ("destination", "scheduled"), [("echo", True), ("echo;playout=0", False)], ids=["playout-60ms", "immediate"]
)
async def test_loop_stalls_shorter_than_the_playout_delay_leave_no_trace_on_the_echo(destination, scheduled):
    """40 ms blocks every 200 ms: with the default 60 ms playout the echo keeps the arrivals' spacing (the
    generator's kernel-stamped jitter stays under 1 ms, the emulator reports no gap); forwarding at once
    (`playout=0`) puts every block on the wire, and both the jitter and the emulator's gaps show it."""
    from rtcload.media.engine.send_gaps import EMULATOR_SEND_GAPS

    over_before = EMULATOR_SEND_GAPS.gaps_over
    worst, _gaps, counts, _metrics = await echo_call_under_blocks(destination, 0.04, 0.2, 15)
    added_gaps = EMULATOR_SEND_GAPS.gaps_over - over_before
    if scheduled:
        queued, _late, dropped, _pending = counts
        assert queued > 100 and dropped == 0, counts
        assert worst < 0.001, f"echo jitter {worst * 1000:.2f} ms with the playout schedule"
        assert added_gaps == 0, f"{added_gaps} emulator send gaps with the playout schedule"
    else:
        assert counts[0] == 0, counts  # nothing queued: forwarded from the receive callback
        assert worst > 0.002, f"echo jitter {worst * 1000:.2f} ms forwarding at once"
        assert added_gaps > 0


async def test_a_stall_longer_than_the_playout_delay_is_the_emulators_and_is_reported():
    """One 250 ms block against a 60 ms playout: the payloads that waited past their deadline go at once,
    counted late, and the emulator's media clock reports the gap it put on the wire (~250 - 60 ms), in
    emulator.json and on its /metrics (`rtcload_emulator_playout_late_total`, `..._playout_dropped_total`)."""
    _worst, gaps, counts, metrics = await echo_call_under_blocks("echo;playout=60ms", 0.25, 0.5, 1)
    assert counts[1] > 0, counts  # late forwards
    assert gaps["playout_late"] > 0 and gaps["gaps_over_threshold"] > 0, gaps
    assert 120 <= gaps["gap_max_ms"] <= 1000, gaps
    assert metrics["rtcload_emulator_playout_late"] == gaps["playout_late"], metrics
    assert metrics["rtcload_emulator_playout_dropped"] == gaps["playout_dropped"], metrics
    assert metrics["rtcload_emulator_send_gaps"] == gaps["gaps_over_threshold"], metrics


async def test_the_send_thread_keeps_the_arrivals_spacing_and_a_full_ring_drops_the_oldest():
    """Straight on a C stream registered with the engine's send thread: payloads forwarded in one burst
    with arrival stamps 20 ms apart leave 20 ms apart at arrival + playout (kernel stamps of the far end);
    a burst larger than the ring keeps the newest and counts the dropped."""
    from rtcload.media.engine.engine import engine_for

    receiver = stamped_receiver()
    stream = native_stream(receiver.getsockname())
    stream.set_sending(False)  # no frames of its own: only forwards (sending stays on for forwards)
    stream.ntx.sending = True
    stream.frames = None
    engine = engine_for()
    engine.add(stream)
    try:
        stream.ntx.playout = 0.2
        stream.ntx.playout_ring = 4
        now = time.monotonic()
        for k in range(10):  # arrivals 20 ms apart in the past: due from now + 0.02 + k * 0.02
            stream.ntx.forward(bytes([k]) * 160, 160 * k, False, now, now - 0.18 + 0.02 * k)
        queued, late, dropped, pending = stream.ntx.playout_counts
        assert (queued, late, dropped, pending) == (10, 0, 6, 4)
        for _ in range(300):
            await asyncio.sleep(0.01)
            if stream.ntx.playout_counts[3] == 0:
                break
        await asyncio.sleep(0.05)
        arrivals = kernel_arrivals(receiver)
    finally:
        engine.remove(stream)
        stream.close()
    assert len(arrivals) == 4, arrivals
    times = [t for _, t in arrivals]
    spacing = [b - a for a, b in itertools.pairwise(times)]
    assert all(abs(s - 0.02) < 0.005 for s in spacing), spacing
