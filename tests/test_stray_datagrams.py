"""Zero-length datagrams at a call's media ports: dropped and counted, the call's media goes on.

Why: aiortc's DTLS loop reads `data[0]` of whatever aioice hands it, so one empty datagram used to
close the transport and end the call's media (28 of 40 calls in a spray test). The spray goes to
every UDP port this test process holds on 127.0.0.1: the caller's and the emulator's candidates.
"""

from __future__ import annotations

import asyncio
import socket

import psutil
import pytest

from rtcload.emulator import Emulator
from rtcload.emulator.aiortc_answerer import AiortcAnswerer
from rtcload.media import stray
from rtcload.media.engine.call_media import EngineCallMedia
from rtcload.media.engine.native import NativeEngineStream
from rtcload.media.lean import LeanCallMedia
from rtcload.media.loopback import use_loopback_only
from rtcload.media.media_settings import MediaSettings
from tests.conftest import fast_config
from tests.test_media_engine import connect, wait_stats

use_loopback_only()


def our_udp_ports() -> list[int]:
    return sorted(
        {c.laddr.port for c in psutil.Process().net_connections(kind="udp4") if c.laddr.ip.startswith("127.")}
    )


async def spray_empty(ports: list[int], rounds: int) -> int:
    sent = 0
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.setblocking(False)
        for _ in range(rounds):
            for port in ports:
                sock.sendto(b"", ("127.0.0.1", port))
                sent += 1
            await asyncio.sleep(0.005)
    return sent


@pytest.mark.parametrize("path", ["engine", "lean"])
async def test_empty_datagrams_are_dropped_and_the_call_keeps_its_media(path):
    lean = path == "lean"
    async with Emulator(fast_config(), AiortcAnswerer(loopback_only=True, lean=lean)) as emulator:

        def factory():
            if lean:
                return LeanCallMedia("tone:440", settings=MediaSettings(codec="pcmu", stats_interval_s=0.5))
            return EngineCallMedia("tone:440", settings=MediaSettings(codec="pcmu", stats_interval_s=0.5))

        client = await connect(emulator.url, factory)
        try:
            call = await client.call("echo", answer_timeout_s=20)
            media = call.media
            before = await wait_stats(media, lambda s: s.packets_received > 10)
            guarded_before = stray.empty_datagrams_dropped
            ports = our_udp_ports()
            assert len(ports) >= 2  # the caller's and the emulator's candidates
            sent = await spray_empty(ports, rounds=50)
            # media goes on both ways after the spray: 2 s more of echoed audio arrives
            after = await wait_stats(media, lambda s: s.packets_received >= before.packets_received + 100)
            assert after.packets_lost == 0
            stream = getattr(media, "stream", None)
            if isinstance(stream, NativeEngineStream):
                dropped_here = stream.nrx.empty
                assert dropped_here > 0  # counted at the C Demux, never handed to aiortc
            else:
                assert stray.empty_datagrams_dropped > guarded_before
            assert sent == 50 * len(ports)
            await call.hangup()
            assert call.media_report.timings["first_rtp"] is not None
        finally:
            await client.close()
