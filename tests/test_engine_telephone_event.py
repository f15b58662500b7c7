"""RFC 4733 telephone-event is negotiated by engine peers only, not by every aiortc peer of the process.

Real aiortc offers and answers on loopback (ICE gathering only; no media): the engine's peers offer and
accept telephone-event, the naive and lean baselines in the same process, at the same time, do not.
"""

from __future__ import annotations

import asyncio
import re

import pytest
from aiortc.codecs import CODECS

from rtcload.emulator import Emulator
from rtcload.emulator.aiortc_answerer import AiortcAnswerer
from rtcload.media.endpoint import MediaEndpoint
from rtcload.media.engine.call_media import EngineCallMedia, EngineMediaEndpoint
from rtcload.media.lean import LeanCallMedia
from rtcload.media.loopback import use_loopback_only
from rtcload.media.media_settings import MediaSettings
from rtcload.media.peer import CallMedia
from tests.conftest import fast_config
from tests.test_media_engine import connect, engine_media

use_loopback_only()


def events_in(sdp: str) -> list[str]:
    """The telephone-event rtpmap lines of an SDP ("110 telephone-event/48000", ...)."""
    return re.findall(r"a=rtpmap:(\d+ telephone-event/\d+)", sdp)


async def test_only_engine_peers_offer_and_accept_telephone_event() -> None:
    engine = EngineCallMedia(
        "tone:440", profile="minimal", settings=MediaSettings(codec="opus")
    )  # aiortc's fmtp (chrome: none, as Chrome)
    naive = CallMedia("tone:440", settings=MediaSettings(codec="opus"))
    lean = LeanCallMedia("tone:440", settings=MediaSettings(codec="pcmu"))
    engine_far, naive_far = EngineMediaEndpoint("echo"), MediaEndpoint("echo")
    peers = [engine, naive, lean, engine_far, naive_far]
    try:
        # all three offers negotiate at once on one loop: the engine's setting must not leak to the others
        engine_offer, naive_offer, lean_offer = await asyncio.gather(
            engine.create_offer(), naive.create_offer(), lean.create_offer()
        )
        assert events_in(engine_offer) == ["110 telephone-event/48000", "126 telephone-event/8000"]
        assert "a=fmtp:110 0-16" in engine_offer and "a=fmtp:126 0-15" in engine_offer
        assert events_in(naive_offer) == [] and events_in(lean_offer) == []
        assert not any(c.mimeType.lower() == "audio/telephone-event" for c in CODECS["audio"])  # outside a peer

        # an engine endpoint answers telephone-event to an offer that has it, and only then
        assert events_in(await engine_far.accept_offer(engine_offer)) == [
            "110 telephone-event/48000",
            "126 telephone-event/8000",
        ]
        assert events_in(await naive_far.accept_offer(naive_offer)) == []
        # a naive endpoint answering the engine's offer leaves it out: it could not decode one
        naive_to_engine = MediaEndpoint("echo")
        peers.append(naive_to_engine)
        assert events_in(await naive_to_engine.accept_offer(engine_offer)) == []
    finally:
        for peer in peers:
            await peer.close()


async def test_a_g711_engine_call_offers_the_8_khz_event_its_digits_need() -> None:
    """Events go at the call codec's clock rate: a PCMU call needs telephone-event/8000 (not only 48000)."""
    engine = EngineCallMedia("tone:440", settings=MediaSettings(codec="pcmu"))
    try:
        offer = await engine.create_offer()
        assert re.search(r"m=audio \d+ \S+ 0 ", offer)  # PCMU first, as asked
        assert events_in(offer) == ["110 telephone-event/48000", "126 telephone-event/8000"]
    finally:
        await engine.close()


@pytest.fixture
async def engine_emulator():
    async with Emulator(fast_config(), AiortcAnswerer(loopback_only=True)) as emu:
        yield emu


async def test_pcmu_engine_call_sends_in_band_digits_the_emulator_detects(engine_emulator) -> None:
    client = await connect(engine_emulator.url, lambda: engine_media(codec="pcmu"))
    try:
        call = await client.call("echo", answer_timeout_s=20)
        assert await call.media.analyzer.wait_until(lambda a: a.first_audio_at is not None, 20)
        assert call.media.codec == "pcmu" and call.media.stream.dtmf_payload_type == 126
        endpoint = engine_emulator.answerer.endpoints[call.id]
        await call.dtmf("5*")
        assert await engine_emulator.wait_for(lambda: engine_emulator.dtmf(call.id) == "5*", 10)  # signaling
        assert await call.media.analyzer.wait_until(lambda _a: endpoint.dtmf_received == "5*", 10)  # RFC 4733
    finally:
        await client.close()
