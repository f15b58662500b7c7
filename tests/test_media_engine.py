"""The media engine against the real emulator (itself on the engine): real aiortc negotiation, loopback.

Correctness only: audio both ways, RTCP RTT in both directions, the same loss/RTT/jitter/MOS as the
aiortc path on an impaired call, one-way/silent/tone detection, updateMedia, reattach, TURN relay,
and no thread per call. Hold is in test_engine_hold.py.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import threading

import pytest

from rtcload.emulator import Emulator
from rtcload.emulator.aiortc_answerer import AiortcAnswerer
from rtcload.loadgen.settings import settings_from_options
from rtcload.media.coturn import Coturn, turnserver_available
from rtcload.media.engine import native_path
from rtcload.media.engine.call_media import EngineCallMedia, EngineMediaEndpoint
from rtcload.media.engine.engine import engine_for
from rtcload.media.engine.native import ENV_SWITCH, NativeEngineStream, native_available
from rtcload.media.loopback import use_loopback_only
from rtcload.media.media_settings import MediaSettings
from rtcload.media.peer import CallMedia
from rtcload.media.rating import rate_samples
from rtcload.media.stats import MediaStats
from rtcload.netem.impairment import Impairment
from rtcload.netem.sdp_relay import ImpairedAnswerer
from rtcload.signaling import ClientConfig, PasswordCredentials, SignalingClient
from rtcload.signaling.events import EventKind
from tests.conftest import fast_config
from tests.test_netem_media import PCMU_PPS, sample_until

use_loopback_only()


@pytest.fixture
async def engine_emulator():
    async with Emulator(fast_config(), AiortcAnswerer(loopback_only=True)) as emu:
        yield emu


async def connect(url: str, factory, user: str = "alice") -> SignalingClient:
    client = SignalingClient(ClientConfig(url=url, credentials=PasswordCredentials(user, f"{user}-pass")), factory)
    await client.connect(timeout=20)
    return client


def engine_media(source: str = "tone:440", codec: str = "opus", decode: bool = False, **settings) -> EngineCallMedia:
    return EngineCallMedia(source, MediaSettings(codec=codec, stats_interval_s=0.5, **settings), decode=decode)


async def wait_stats(media: EngineCallMedia, done, timeout: float = 20) -> MediaStats:
    """Engine statistics until `done` (RTCP-derived values have no event to wait on)."""
    return await sample_until(media, done, timeout)


def test_the_engine_is_the_default_media_path_and_the_baselines_are_options():
    assert AiortcAnswerer(loopback_only=True).media_path == "engine"
    assert AiortcAnswerer(loopback_only=True, lean=True).media_path == "lean"
    target = "ws://127.0.0.1:1/"
    assert settings_from_options(argparse.Namespace(), target).media_path == "engine"
    assert settings_from_options(argparse.Namespace(rtc_media_path="naive"), target).media_path == "naive"
    assert settings_from_options(argparse.Namespace(rtc_media_path="lean"), target).media_path == "lean"
    with pytest.raises(ValueError, match="--rtc-media-path must be one of engine, lean, naive"):
        settings_from_options(argparse.Namespace(rtc_media_path="fast"), target)
    with pytest.raises(ValueError, match="media path must be one of engine, lean, naive"):
        AiortcAnswerer(loopback_only=True, media_path="fast")


@pytest.mark.parametrize("codec", ["opus", "pcmu", "pcma"])
async def test_echo_call_has_audio_and_rtt_both_ways_without_any_thread(engine_emulator, codec):
    threads_before = threading.active_count()
    client = await connect(engine_emulator.url, lambda: engine_media(codec=codec))
    try:
        call = await client.call("echo", answer_timeout_s=20)
        media = call.media
        assert isinstance(media, EngineCallMedia)
        assert await media.analyzer.wait_until(lambda a: a.first_audio_at is not None, 20)
        stats = await wait_stats(media, lambda s: s.rtt_s is not None and s.remote_packets_lost is not None)
        assert stats.codec == codec and stats.packets_lost == 0 and stats.remote_packets_lost == 0
        assert 0 < stats.rtt_s < 0.5
        endpoint = engine_emulator.answerer.endpoints[call.id]
        assert isinstance(endpoint, EngineMediaEndpoint)
        # both ends on the C per-packet path, unless RTCLOAD_ENGINE_NATIVE=0 asked for the Python one
        assert isinstance(media.stream, NativeEngineStream) == isinstance(endpoint.stream, NativeEngineStream)
        assert isinstance(media.stream, NativeEngineStream) == (native_path() == "native")
        far = await wait_stats(media, lambda _s: endpoint.engine_stats().rtt_s is not None)
        assert far.packets_received > 0 and endpoint.engine_stats().packets_received > 0  # RTT measured both ends
        assert threading.active_count() == threads_before  # no decoder thread, no executor: nothing per call
        assert len(engine_for()) >= 2  # the caller's and the emulator's stream share this loop's engine
        await call.hangup()
        report = call.media_report
        assert report.first_audio_s is not None and not report.one_way and report.silence_ratio < 0.1
        first = next(s for s in report.samples if s.packets_received > 0)
        (whole,) = rate_samples([first, report.samples[-1]], report.codec).rated
        assert whole.mos > 4.0 and whole.packets_lost == 0
    finally:
        await client.close()


async def test_decoded_call_hears_the_platform_tone_and_silent_and_one_way_routes_are_detected(engine_emulator):
    client = await connect(engine_emulator.url, lambda: engine_media(decode=True, one_way_after_s=1.0))
    try:
        tone = await client.call("tone", answer_timeout_s=20)
        assert await tone.media.analyzer.wait_until(lambda a: a.detect_tone(440, 5), 20)  # decoded off the loop
        await tone.hangup()
        assert tone.media_report.dominant_hz == pytest.approx(440, abs=5)
        silent = await client.call("silence", answer_timeout_s=20)
        assert await silent.media.analyzer.wait_until(lambda a: a.frames > 25 and a.one_way(), 15)
        await silent.hangup()
        assert silent.media_report.first_audio_s is None and silent.media_report.silence_ratio > 0.9
        oneway = await client.call("oneway", answer_timeout_s=20)
        assert await oneway.media.analyzer.wait_until(lambda a: a.one_way(), 15)
        await oneway.hangup()
        assert oneway.media_report.one_way and oneway.media_report.timings["first_rtp"] is None
    finally:
        await client.close()


async def test_payload_analysis_tells_silence_from_audio_without_decoding(engine_emulator):
    client = await connect(engine_emulator.url, lambda: engine_media(codec="pcmu", one_way_after_s=1.0))
    try:
        call = await client.call("silence", answer_timeout_s=20)
        assert await call.media.analyzer.wait_until(lambda a: a.frames > 25 and a.one_way(), 15)
        await call.hangup()
        assert call.media_report.first_audio_s is None and call.media_report.one_way
    finally:
        await client.close()


async def test_dtmf_digits_arrive_at_the_emulator_over_signaling_and_in_band(engine_emulator):
    client = await connect(engine_emulator.url, lambda: engine_media())
    try:
        call = await client.call("echo", answer_timeout_s=20)
        assert await call.media.analyzer.wait_until(lambda a: a.first_audio_at is not None, 20)
        endpoint = engine_emulator.answerer.endpoints[call.id]
        assert call.media.stream.dtmf_payload_type is not None  # telephone-event/48000 was negotiated
        await call.dtmf("12#")
        assert await engine_emulator.wait_for(lambda: engine_emulator.dtmf(call.id) == "12#", 10)  # signaling
        # ... and in-band, RFC 4733 on the call's RTP (a 0.1 s event and a gap per digit)
        assert await call.media.analyzer.wait_until(lambda _a: endpoint.dtmf_received == "12#", 10)
        far = endpoint.engine_stats()
        assert far.packets_lost == 0  # events took their ticks' sequence numbers: nothing looks lost
        assert far.jitter_s is not None and far.jitter_s < 0.01  # their repeated timestamps are not jitter
    finally:
        await client.close()


async def test_update_media_and_reattach_keep_audio(engine_emulator):
    client = await connect(engine_emulator.url, lambda: engine_media(decode=True))
    try:
        call = await client.call("echo", answer_timeout_s=20)
        first = call.media
        assert await first.analyzer.wait_until(lambda a: a.detect_tone(440, 5), 20)
        await call.update_media()
        restarted = call.media
        assert restarted is not first and engine_emulator.counters["ice_restarts"] == 1
        assert await restarted.analyzer.wait_until(lambda a: a.detect_tone(440, 5), 20)
        reattached = asyncio.Event()
        client.events.subscribe(lambda e: reattached.set() if e.kind is EventKind.CALL_REATTACHED else None)
        engine_emulator.drop_socket(client.sessid)
        await asyncio.wait_for(reattached.wait(), 20)
        assert call.media is not restarted
        assert await call.media.analyzer.wait_until(lambda a: a.detect_tone(440, 5), 20)
        assert first.stream not in engine_for()  # the replaced media's stream left the engine
    finally:
        await client.close()


@pytest.mark.skipif(not turnserver_available(), reason="coturn (turnserver) not installed")
@pytest.mark.parametrize("transport", ["udp", "tcp"])
async def test_relay_only_call_through_coturn_has_audio_on_the_engine(engine_emulator, transport):
    async with Coturn(user="u", password="p") as turn:
        spec = turn.spec(transport)
        client = await connect(engine_emulator.url, lambda: engine_media(ice_servers=[spec], relay_only=True))
        try:
            call = await client.call("echo", answer_timeout_s=20)
            media = call.media
            assert await media.analyzer.wait_until(lambda a: a.first_audio_at is not None, 20)
            assert media.stream is not None and media.stream.link.relayed
            stats = await wait_stats(media, lambda s: s.rtt_s is not None and s.packets_received > 100)
            assert stats.packets_lost == 0
            await call.hangup()
            assert call.media_report.ice.selected_local_type == "relay"
        finally:
            await client.close()


LOSS, DELAY, JITTER = 0.05, 0.03, 0.004


async def impaired_measure(engine: bool, seed: int) -> dict[str, float]:
    """One PCMU echo call through an impairing relay: delay both ways, loss and jitter on the way back."""
    up = Impairment(delay_s=DELAY, seed=seed)
    down = Impairment(delay_s=DELAY, loss=LOSS, jitter_s=JITTER, reorder=True, seed=seed + 1)
    answerer = ImpairedAnswerer(
        AiortcAnswerer(loopback_only=True, media_path="engine" if engine else "naive"), up, down
    )
    media_class = EngineCallMedia if engine else CallMedia
    async with Emulator(fast_config(), answerer) as emu:
        client = await connect(
            emu.url, lambda: media_class("tone:440", settings=MediaSettings(codec="pcmu", stats_interval_s=1.0))
        )
        try:
            call = await client.call("echo", answer_timeout_s=20)
            media = call.media
            assert isinstance(media, media_class)
            last = await sample_until(media, lambda s: s.packets_received + s.packets_lost >= 20 * PCMU_PPS, 60)
            counters = answerer.relay(call.id).counters["down"]
            injected = counters.rtp_dropped / counters.rtp_in
            first = next(s for s in media.stats.samples if s.packets_received > 0 and s.rtt_s is not None)
            (whole,) = rate_samples([first, last], media.codec).rated
            jitters = [s.jitter_s for s in media.stats.samples if s.jitter_s is not None][-10:]
        finally:
            await client.close()
    return {
        "native": isinstance(getattr(media, "stream", None), NativeEngineStream),
        "loss": last.packets_lost / (last.packets_received + last.packets_lost),
        "injected": injected,
        "rtt": whole.rtt_s,
        "mos": whole.mos,
        "jitter": statistics.median(jitters),
    }


async def test_engine_and_aiortc_paths_agree_on_an_impaired_call(monkeypatch):
    """aiortc, the engine's C path and its pure-Python path measure the same impaired call alike."""
    naive = await impaired_measure(engine=False, seed=31)
    engine = await impaired_measure(engine=True, seed=31)  # same seeds: the relay impairs the same way
    monkeypatch.setenv(ENV_SWITCH, "0")
    python_engine = await impaired_measure(engine=True, seed=31)
    assert engine["native"] == (native_available()) and not python_engine["native"]
    for run in (naive, engine, python_engine):
        assert abs(run["loss"] - run["injected"]) <= 0.005, run  # each reports what the relay dropped
        # the relay's delays run on this process's loop: a busy machine adds to them, nothing takes away
        assert 2 * DELAY - 0.005 <= run["rtt"] <= 2 * DELAY + 0.02, run
    for a, b in ((naive, engine), (naive, python_engine), (python_engine, engine)):
        assert abs(a["loss"] - b["loss"]) <= 0.005, (a, b)
        assert abs(a["rtt"] - b["rtt"]) <= 0.005, (a, b)
        assert abs(a["jitter"] - b["jitter"]) <= 0.25 * a["jitter"], (a, b)
        assert abs(a["mos"] - b["mos"]) <= 0.1, (a, b)
    assert naive["mos"] < 4.0  # the impairment shows in all


async def test_a_codec_the_engine_cannot_carry_fails_the_call_media_clearly(caplog):
    """G.722 negotiated (the far end offers nothing else): the endpoint's media fails fast, with the reason."""
    from aiortc import RTCPeerConnection, RTCRtpSender, RTCSessionDescription

    offerer = RTCPeerConnection()
    transceiver = offerer.addTransceiver("audio", direction="sendrecv")
    transceiver.setCodecPreferences([c for c in RTCRtpSender.getCapabilities("audio").codecs if "G722" in c.mimeType])
    endpoint = EngineMediaEndpoint("echo")
    try:
        await offerer.setLocalDescription(await offerer.createOffer())
        answer = await endpoint.answer(offerer.localDescription.sdp)
        await offerer.setRemoteDescription(RTCSessionDescription(sdp=answer, type="answer"))
        await asyncio.wait_for(endpoint.failed.wait(), 20)  # at the hand-over, right after DTLS connected
        assert endpoint.timings.failed is not None and endpoint.stream is None
        assert "cannot carry" in caplog.text and "g722" in caplog.text
    finally:
        await endpoint.close()
        await offerer.close()
