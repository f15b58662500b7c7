"""Lean media path (pre-encoded send, no receive decoding, payload-forwarding echo) against the emulator.

The lean path must report what the full path reports: first RTP, RTT/jitter/loss from getStats, MOS,
and one-way audio, without decoding every packet.
"""

from __future__ import annotations

import threading

import pytest

from rtcload.emulator import Emulator
from rtcload.emulator.aiortc_answerer import AiortcAnswerer
from rtcload.media.encoded import SEND_GAPS, encoded_frames
from rtcload.media.lean import LeanCallMedia, PayloadAnalyzer, decode_this_call, payload_dbfs
from rtcload.media.loopback import use_loopback_only
from rtcload.media.media_settings import MediaSettings
from rtcload.media.peer import CallMedia
from rtcload.media.rating import rate_samples
from rtcload.quality.emodel import rate
from rtcload.signaling import ClientConfig, PasswordCredentials, SignalingClient
from tests.conftest import fast_config

use_loopback_only()


@pytest.fixture
async def lean_emulator():
    async with Emulator(fast_config(), AiortcAnswerer(loopback_only=True, lean=True)) as emu:
        yield emu


@pytest.fixture
async def full_emulator():
    async with Emulator(fast_config(), AiortcAnswerer(loopback_only=True)) as emu:
        yield emu


async def connect(url: str, factory) -> SignalingClient:
    client = SignalingClient(ClientConfig(url=url, credentials=PasswordCredentials("alice", "alice-pass")), factory)
    await client.connect(timeout=20)
    return client


def decoder_threads() -> int:
    return sum(1 for t in threading.enumerate() if t.name.endswith("-decoder"))


def test_payload_levels_separate_silence_from_audio_in_every_codec():
    for codec in ("opus", "pcmu", "pcma"):
        tone = [payload_dbfs(p, codec) for p in encoded_frames("tone:440", codec)]
        silence = [payload_dbfs(p, codec) for p in encoded_frames("silence", codec)]
        assert min(tone) > -30 and max(silence) < -60, codec
    # G.711 levels are exact: a 0.5-amplitude sine is -9 dBFS
    assert abs(payload_dbfs(encoded_frames("tone:440", "pcmu")[10], "pcmu") - (-9.03)) < 0.5


async def echo_call(url: str, factory, wait_samples: int = 4):
    client = await connect(url, factory)
    try:
        call = await client.call("echo", answer_timeout_s=20)
        media = call.media
        samples = media.stats.samples

        def rated_both_ways(_analyzer: object) -> bool:
            reported = [s for s in samples if s.remote_packets_lost is not None and s.rtt_s is not None]
            return len(reported) >= wait_samples and reported[-1].packets_sent > reported[0].packets_sent

        assert await media.analyzer.wait_until(lambda a: a.first_audio_at is not None, 20)
        assert await media.analyzer.wait_until(rated_both_ways, 20)
        await call.hangup()
        return call.media_report, media
    finally:
        await client.close()


@pytest.mark.parametrize("codec", ["opus", "pcmu"])
async def test_lean_call_to_lean_echo_reports_the_same_quality_as_the_full_path(lean_emulator, full_emulator, codec):
    before = decoder_threads()
    lean_report, lean_media = await echo_call(
        lean_emulator.url, lambda: LeanCallMedia("tone:440", settings=MediaSettings(codec=codec, stats_interval_s=0.5))
    )
    assert isinstance(lean_media.analyzer, PayloadAnalyzer)
    assert decoder_threads() == before  # no decoder thread on either side of the lean call
    full_report, _ = await echo_call(
        full_emulator.url, lambda: CallMedia("tone:440", settings=MediaSettings(codec=codec, stats_interval_s=0.5))
    )

    ideal = rate(ta_ms=0.0, ppl_percent=0.0, codec=codec).mos
    for report in (lean_report, full_report):
        assert report.connected and report.codec == codec and report.timings["first_rtp"] is not None
        assert report.first_audio_s is not None and not report.one_way
        quality = rate_samples(report.samples, report.codec)
        assert quality.mos_mean is not None and abs(quality.mos_mean - ideal) <= 0.05
        for interval in quality.rated:
            assert interval.loss_ratio == 0.0 and 0 <= interval.jitter_s < 0.05 and 0 <= interval.rtt_s < 0.1
    lean_q = rate_samples(lean_report.samples, codec)
    full_q = rate_samples(full_report.samples, codec)
    assert abs(lean_q.mos_mean - full_q.mos_mean) <= 0.05
    # first RTP within the same order (both are loopback ICE+DTLS setups)
    assert lean_report.timings["first_rtp"] < 5 * full_report.timings["first_rtp"] + 0.5
    # an echoed tone is audible; the lean level estimate agrees with the decoded one where exact (G.711)
    assert lean_report.silence_ratio < 0.1
    if codec == "pcmu":
        assert abs(lean_report.rms_dbfs - full_report.rms_dbfs) < 3.0, (lean_report.rms_dbfs, full_report.rms_dbfs)
    assert SEND_GAPS.p99() > 0


async def test_lean_call_detects_one_way_audio(lean_emulator):
    client = await connect(
        lean_emulator.url, lambda: LeanCallMedia("tone:440", settings=MediaSettings(codec="opus", one_way_after_s=1.0))
    )
    try:
        call = await client.call("oneway", answer_timeout_s=20)
        media = call.media
        assert await media.analyzer.wait_until(lambda a: a.one_way(), 15)
        await call.hangup()
        assert call.media_report.one_way
    finally:
        await client.close()


async def test_lean_call_hears_silence_from_a_silent_source(lean_emulator):
    client = await connect(
        lean_emulator.url, lambda: LeanCallMedia("tone:440", settings=MediaSettings(codec="opus", one_way_after_s=1.0))
    )
    try:
        call = await client.call("silence", answer_timeout_s=20)
        media = call.media
        assert await media.wait_first_rtp(15) is not None  # RTP flows ...
        assert await media.analyzer.wait_until(lambda a: a.frames > 25 and a.one_way(), 15)  # ... but is silent
        await call.hangup()
        report = call.media_report
        assert report.one_way and report.first_audio_s is None and report.silence_ratio > 0.9
    finally:
        await client.close()


async def test_sampled_decoding_keeps_full_analysis_for_the_sampled_call(lean_emulator):
    assert [decode_this_call(i, 10) for i in (0, 1, 10, 11)] == [True, False, True, False]
    client = await connect(
        lean_emulator.url,
        lambda: LeanCallMedia("tone:440", decode=True, settings=MediaSettings(codec="pcmu", stats_interval_s=0.5)),
    )
    try:
        call = await client.call("echo", answer_timeout_s=20)
        # decoded analysis: the forwarded payloads are the exact tone, so the frequency is measurable
        assert await call.media.analyzer.wait_until(lambda a: a.detect_tone(440, 10), 20)
        assert call.media.payloads.first_audio_at is not None
    finally:
        await client.close()
