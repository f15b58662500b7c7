"""Bridged calls between legs on different codecs, through the emulator's relay (real clients, loopback).

The platform offers the callee the caller's codec first (no transcoding when the callee takes it);
when the callee answers another codec anyway, the relay transcodes, off the loop, both ways.
"""

from __future__ import annotations

import pytest

from rtcload.emulator import Emulator
from rtcload.emulator.aiortc_answerer import AiortcAnswerer
from rtcload.metrics.emulator_exporter import exposition
from rtcload.protocol.sdp import audio_codecs, first_codec, static_sdp
from rtcload.signaling import ClientConfig, InboundPolicy, PasswordCredentials, SignalingClient
from rtcload.signaling.errors import CallFailed, ServerError
from tests.conftest import fast_config
from tests.test_media_engine import connect, engine_media, wait_stats

CHROME_OFFER_CODECS = "m=audio 9 UDP/TLS/RTP/SAVPF 111 63 9 0 8 13 110 126\r\n"


def test_the_codecs_of_an_sdp_in_offered_order():
    sdp = (
        "v=0\r\n" + CHROME_OFFER_CODECS + "a=rtpmap:111 opus/48000/2\r\na=rtpmap:63 red/48000/2\r\n"
        "a=rtpmap:9 G722/8000\r\na=rtpmap:13 CN/8000\r\na=rtpmap:110 telephone-event/48000\r\n"
        "a=rtpmap:126 telephone-event/8000\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\na=rtpmap:96 VP8/90000\r\n"
    )
    assert audio_codecs(sdp) == ["opus", "red", "g722", "pcmu", "pcma", "cn", "telephone-event", "telephone-event"]
    assert first_codec(sdp, ("pcmu", "pcma")) == "pcmu"  # static payload types need no rtpmap
    assert first_codec(static_sdp(), ("pcma",)) is None


@pytest.fixture
async def engine_emulator():
    async with Emulator(fast_config(), AiortcAnswerer(loopback_only=True)) as emu:
        yield emu


async def clients(emulator: Emulator, alice_codec: str, bob_codec: str | None):
    """alice (tone 440) and bob (tone 880, answers every call); both decode what they hear."""
    bob = SignalingClient(
        ClientConfig(url=emulator.url, credentials=PasswordCredentials("bob", "bob-pass")),
        lambda: engine_media("tone:880", codec=bob_codec, decode=True),
        inbound_policy=InboundPolicy.ANSWER,
    )
    await bob.connect(timeout=20)
    alice = await connect(emulator.url, lambda: engine_media("tone:440", codec=alice_codec, decode=True))
    return alice, bob


async def test_opus_and_pcmu_legs_hear_each_other_through_a_transcoding_relay(engine_emulator):
    alice, bob = await clients(engine_emulator, "opus", "pcmu")  # bob insists on PCMU
    try:
        call = await alice.call("bob", answer_timeout_s=20)
        far = next(iter(bob.calls.values()))
        assert audio_codecs(far.remote_offer or "")[0] == "opus"  # the platform offered bob alice's codec first
        assert await call.media.analyzer.wait_until(lambda a: a.first_audio_at is not None, 20)
        assert await far.media.analyzer.wait_until(lambda a: a.first_audio_at is not None, 20)
        assert (call.media.codec, far.media.codec) == ("opus", "pcmu")
        assert engine_emulator.counters["calls_transcoded"] == 1
        assert b"rtcload_emulator_calls_transcoded_total 1.0" in exposition(engine_emulator.metrics_registry)
        assert await call.media.analyzer.wait_until(lambda a: a.detect_tone(880, 10), 20)  # PCMU -> Opus
        assert await far.media.analyzer.wait_until(lambda a: a.detect_tone(440, 10), 20)  # Opus -> PCMU
        for media in (call.media, far.media):
            # the tone's level (-9 dBFS, -12 through this project's Opus encoder, which every Opus leg has),
            # steady over the last 0.5 s: not noise, not a mangled half-level stream
            assert await media.analyzer.wait_until(lambda a: -15 < a.window_dbfs() < -6, 10), media.analyzer.summary()
            # a second of transcoded audio: nothing lost, no jitter from the thread hop beyond a few ms
            stats = await wait_stats(media, lambda s: s.packets_received >= 50)
            assert stats.packets_lost == 0 and stats.jitter_s is not None and stats.jitter_s < 0.02, stats
        for leg in (call, far):
            transcoder = engine_emulator.answerer.endpoints[leg.id].transcoder
            assert transcoder is not None and transcoder.packets_out >= 50
    finally:
        await alice.close()
        await bob.close()


async def test_a_callee_that_takes_the_offered_codec_is_relayed_without_transcoding(engine_emulator):
    alice, bob = await clients(engine_emulator, "pcmu", None)
    try:
        call = await alice.call("bob", answer_timeout_s=20)
        far = next(iter(bob.calls.values()))
        assert audio_codecs(far.remote_offer or "")[0] == "pcmu"  # alice's codec first, not the default Opus
        assert await far.media.analyzer.wait_until(lambda a: a.detect_tone(440, 10), 20)
        assert await call.media.analyzer.wait_until(lambda a: a.detect_tone(880, 10), 20)
        assert (call.media.codec, far.media.codec) == ("pcmu", "pcmu")
        assert engine_emulator.counters["calls_transcoded"] == 0
        assert engine_emulator.answerer.endpoints[call.id].transcoder is None
    finally:
        await alice.close()
        await bob.close()


async def test_a_media_path_that_cannot_transcode_ends_the_call_clearly():
    """The lean baseline relays payloads as they are: a PCMU callee of an Opus caller is refused, not noise."""
    async with Emulator(fast_config(), AiortcAnswerer(loopback_only=True, media_path="lean")) as emulator:
        alice, bob = await clients(emulator, "opus", "pcmu")
        try:
            with pytest.raises(CallFailed) as failed:
                await alice.call("bob", answer_timeout_s=20)
            assert failed.value.cause == "INCOMPATIBLE_DESTINATION"
            legs = list(emulator.legs.values())
            assert len(legs) == 2 and all(leg.cause == "INCOMPATIBLE_DESTINATION" for leg in legs)
            assert emulator.counters["media_refused"] == 1 and emulator.counters["calls_transcoded"] == 0
        finally:
            await alice.close()
            await bob.close()


async def test_renegotiating_to_a_codec_the_lean_relay_cannot_carry_ends_the_call_clearly():
    """updateMedia to PCMU on a lean Opus bridge: a JSON-RPC error and a bye, not an internal error or noise."""
    async with Emulator(fast_config(), AiortcAnswerer(loopback_only=True, media_path="lean")) as emulator:
        codec = ["opus"]
        bob = SignalingClient(
            ClientConfig(url=emulator.url, credentials=PasswordCredentials("bob", "bob-pass")),
            lambda: engine_media("tone:880", codec=None),
            inbound_policy=InboundPolicy.ANSWER,
        )
        await bob.connect(timeout=20)
        alice = await connect(emulator.url, lambda: engine_media("tone:440", codec=codec[0]))
        try:
            call = await alice.call("bob", answer_timeout_s=20)
            far = next(iter(bob.calls.values()))
            assert (call.media.codec, far.media.codec) == ("opus", "opus")
            codec[0] = "pcmu"  # alice's new offer prefers PCMU: the lean relay endpoint answers it
            with pytest.raises(ServerError):
                await call.update_media()
            assert await call.wait_ended(10) and await far.wait_ended(10)
            assert call.cause == "INCOMPATIBLE_DESTINATION"
            assert emulator.counters["media_refused"] == 1 and emulator.counters["internal_errors"] == 0
        finally:
            await alice.close()
            await bob.close()
