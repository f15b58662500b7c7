"""rtcload.media: real aiortc peers over loopback plus the pure analysis functions."""

from __future__ import annotations

import asyncio
import re
import time
import wave
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import numpy as np
import pytest

from rtcload.media import (
    CallMedia,
    MediaEndpoint,
    dominant_frequency,
    goertzel,
    make_source,
    rms_dbfs,
    rtc_configuration,
    sample_stats,
    use_loopback_only,
)
from rtcload.media.loopback import loopback_only_active
from rtcload.media.media_settings import MediaSettings
from rtcload.media.sources import FRAME_SAMPLES, SAMPLE_RATE
from rtcload.signaling.media_port import MediaPort

CONNECT_TIMEOUT = 10.0
AUDIO_TIMEOUT = 10.0
RATE = 48_000


@pytest.fixture
def loopback() -> None:
    use_loopback_only()


@pytest.fixture
async def make_call(loopback: None) -> AsyncIterator[Callable[..., object]]:
    """Builds CallMedia <-> MediaEndpoint pairs (caller offers) and closes them all afterwards."""
    created: list[CallMedia | MediaEndpoint] = []

    async def build(source: str, mode: str, **caller_kwargs: object) -> tuple[CallMedia, MediaEndpoint]:
        caller = CallMedia(source, MediaSettings(**caller_kwargs))  # type: ignore[arg-type]
        endpoint = MediaEndpoint(mode)
        created.extend([caller, endpoint])
        answer = await endpoint.answer(await caller.create_offer())
        await caller.accept_answer(answer)
        assert await caller.wait_connected(CONNECT_TIMEOUT), "caller never reached connectionState connected"
        return caller, endpoint

    yield build
    for media in created:
        await media.close()


async def wait_for_stats(media: CallMedia, predicate: Callable[[object], bool], timeout: float) -> object:
    """Poll getStats until predicate holds (RTCP-driven values have no event to wait on)."""
    deadline = time.monotonic() + timeout
    stats = await sample_stats(media.pc)
    while not predicate(stats) and time.monotonic() < deadline:
        await asyncio.sleep(0.2)
        stats = await sample_stats(media.pc)
    return stats


# --- peers over loopback -----------------------------------------------------------------------


async def test_echo_caller_detects_own_tone_and_records_timings_and_stats(make_call) -> None:
    caller, endpoint = await make_call("tone:440", "echo", codec="opus")
    assert isinstance(caller, MediaPort)
    assert await caller.analyzer.wait_until(lambda a: a.detect_tone(440, 5), AUDIO_TIMEOUT)

    stats = await wait_for_stats(caller, lambda s: s.packets_received > 0 and s.rtt_s is not None, 8.0)
    assert stats.packets_received > 0 and stats.packets_sent > 0
    assert stats.codec == "opus" and stats.clock_rate == 48_000
    assert stats.jitter_s is not None and 0 <= stats.jitter_s < 1
    assert stats.rtt_s is not None and 0 <= stats.rtt_s < 1

    report = await caller.close()
    t = report.timings
    assert report.connected
    assert t["remote_sdp_applied"] is not None and t["ice_connected"] is not None
    assert t["dtls_connected"] is not None and t["first_rtp"] is not None
    assert t["remote_sdp_applied"] <= t["dtls_connected"] <= t["first_rtp"] <= t["first_frame"]
    assert report.first_audio_s is not None and 0 < report.first_audio_s < AUDIO_TIMEOUT
    assert report.dominant_hz is not None and abs(report.dominant_hz - 440) < 5
    assert report.stats is not None and report.stats.packets_received > 0
    assert not report.one_way
    # the platform side heard the tone too
    assert endpoint.analyzer.first_audio_at is not None


@pytest.mark.parametrize("codec", ["opus", "pcmu", "pcma"])
async def test_codec_preference_negotiates_that_codec(make_call, codec: str) -> None:
    caller, endpoint = await make_call("tone:1000", "echo", codec=codec)
    assert await caller.analyzer.wait_until(lambda a: a.detect_tone(1000, 10), AUDIO_TIMEOUT)
    caller_report = await caller.close()
    endpoint_report = await endpoint.close()
    assert caller_report.codec == codec
    assert endpoint_report.codec == codec
    assert caller_report.stats is not None and caller_report.stats.codec == codec


async def test_silent_far_end_is_detected_as_silence(make_call) -> None:
    caller, _ = await make_call("tone:440", "silence")
    assert await caller.analyzer.wait_until(lambda a: a.frames >= 25, AUDIO_TIMEOUT)
    report = await caller.close()
    assert report.frames_received >= 25
    assert report.silence_ratio == 1.0
    assert report.first_audio_s is None
    assert report.dominant_hz is None


async def test_oneway_far_end_flags_one_way(make_call) -> None:
    caller, endpoint = await make_call("tone:440", "oneway", one_way_after_s=1.0)
    assert await caller.analyzer.wait_until(lambda a: a.one_way(), AUDIO_TIMEOUT)
    # the far end does receive us: the audio really is one-way
    assert await endpoint.analyzer.wait_until(lambda a: a.detect_tone(440, 5), AUDIO_TIMEOUT)
    report = await caller.close()
    assert report.one_way
    assert report.frames_received == 0


async def test_hold_makes_far_end_hear_silence(make_call) -> None:
    caller, endpoint = await make_call("tone:440", "silence", one_way_after_s=1.0)
    assert await endpoint.analyzer.wait_until(lambda a: a.detect_tone(440, 5), AUDIO_TIMEOUT)
    caller.set_hold(True)
    floor = endpoint.analyzer.energy_floor_dbfs
    assert await endpoint.analyzer.wait_until(lambda a: a.window_dbfs() < floor, AUDIO_TIMEOUT)
    assert caller.analyzer.sending_since is None  # not sending energy while held: no one-way verdict
    caller.set_hold(False)
    assert await endpoint.analyzer.wait_until(lambda a: a.detect_tone(440, 5), AUDIO_TIMEOUT)


async def test_platform_offer_flow_and_trickled_candidates(loopback: None) -> None:
    """Endpoint offers (reattach/inbound); the caller answers; candidates arrive via add_remote_candidate."""
    endpoint = MediaEndpoint("tone:700")
    caller = CallMedia("silence", settings=MediaSettings(codec="pcmu"))
    try:
        offer = await endpoint.offer()
        candidates = re.findall(r"^a=(candidate:.*?)\r?$", offer, flags=re.MULTILINE)
        assert candidates and all(" 127.0.0.1 " in c for c in candidates)
        bare_offer = "".join(
            line
            for line in offer.splitlines(keepends=True)
            if not line.startswith(("a=candidate", "a=end-of-candidates"))
        )
        answer = await caller.accept_offer(bare_offer)
        for candidate in candidates:
            await caller.add_remote_candidate(candidate, "0", 0)
        await caller.add_remote_candidate("", "0", 0)  # end-of-candidates
        await endpoint.accept_answer(answer)
        assert await caller.wait_connected(CONNECT_TIMEOUT)
        assert await caller.analyzer.wait_until(lambda a: a.detect_tone(700, 10), AUDIO_TIMEOUT)
        assert caller.codec == "pcmu"
    finally:
        await caller.close()
        await endpoint.close()


async def test_close_is_idempotent_and_quick(make_call) -> None:
    caller, _ = await make_call("speech", "echo")
    started = time.monotonic()
    first, second = await asyncio.gather(caller.close(), caller.close())
    third = await caller.close()
    assert first is second is third
    assert time.monotonic() - started < 3.0
    assert caller.pc.connectionState == "closed"


async def test_close_before_negotiation_reports_not_connected(loopback: None) -> None:
    report = await CallMedia("tone:440").close()
    assert not report.connected and report.stats is None and report.frames_received == 0


# --- configuration -----------------------------------------------------------------------------


def test_loopback_patch_is_idempotent_and_config_has_no_public_stun() -> None:
    use_loopback_only()
    use_loopback_only()
    assert loopback_only_active()
    import aioice.ice

    assert aioice.ice.get_host_addresses(use_ipv4=True, use_ipv6=True) == ["127.0.0.1"]
    assert rtc_configuration().iceServers == []
    assert rtc_configuration(None).iceServers == []
    config = rtc_configuration(["stun:127.0.0.1:3478"])
    assert [s.urls for s in config.iceServers] == ["stun:127.0.0.1:3478"]


def test_unknown_codec_is_rejected() -> None:
    with pytest.raises(ValueError, match="unknown codec"):
        CallMedia("tone:440", settings=MediaSettings(codec="g729"))


# --- sources -----------------------------------------------------------------------------------


async def test_source_frames_are_20ms_s16_mono_48k_with_continuous_pts() -> None:
    track = make_source("tone:440")
    frames = [await track.recv() for _ in range(3)]
    track.stop()
    for i, frame in enumerate(frames):
        assert frame.format.name == "s16" and frame.layout.name == "mono"
        assert frame.sample_rate == SAMPLE_RATE and frame.samples == FRAME_SAMPLES
        assert frame.pts == i * FRAME_SAMPLES and frame.time_base == pytest.approx(1 / SAMPLE_RATE)


@pytest.mark.parametrize(
    ("spec", "expected_hz"),
    [("tone:440", 440.0), ("dualtone:350,440", None), ("speech", None), ("silence", None)],
)
def test_make_source_specs_produce_expected_audio(spec: str, expected_hz: float | None) -> None:
    pcm = make_source(spec).buffer.pcm.astype(np.float64) / 32768.0
    if spec == "silence":
        assert rms_dbfs(pcm) == -120.0
        return
    assert rms_dbfs(pcm) > -30
    if expected_hz is not None:
        assert abs(dominant_frequency(pcm, RATE) - expected_hz) < 2
    if spec.startswith("dualtone"):
        assert goertzel(pcm, RATE, 350) > 0.02 and goertzel(pcm, RATE, 440) > 0.02
        assert goertzel(pcm, RATE, 1000) < 1e-4
    if spec == "speech":
        frames = pcm[: pcm.size - pcm.size % FRAME_SAMPLES].reshape(-1, FRAME_SAMPLES)
        levels = np.array([rms_dbfs(f) for f in frames])
        assert (levels < -50).mean() > 0.1, "speech needs pauses"
        assert (levels > -30).mean() > 0.3, "speech needs talk spurts"
        assert np.array_equal(make_source("speech").buffer.pcm, make_source("speech").buffer.pcm)


def test_wav_source_is_resampled_to_48k(tmp_path: Path) -> None:
    path = tmp_path / "tone.wav"
    rate = 8000
    t = np.arange(rate) / rate
    stereo = np.stack([0.5 * np.sin(2 * np.pi * 600 * t)] * 2, axis=1)
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(2)
        wav.setsampwidth(2)
        wav.setframerate(rate)
        wav.writeframes((stereo * 32767).astype("<i2").tobytes())
    pcm = make_source(f"wav:{path}").buffer.pcm.astype(np.float64) / 32768.0
    assert pcm.size >= SAMPLE_RATE
    assert abs(dominant_frequency(pcm[:SAMPLE_RATE], RATE) - 600) < 2


@pytest.mark.parametrize(
    "spec",
    ["", "tone", "tone:", "tone:abc", "tone:0", "tone:30000", "dualtone:350", "dualtone:1,2,3", "speech:1", "noise"],
)
def test_make_source_rejects_bad_specs(spec: str) -> None:
    with pytest.raises(ValueError, match="bad source spec"):
        make_source(spec)


def test_make_source_rejects_unreadable_wav(tmp_path: Path) -> None:
    bogus = tmp_path / "not.wav"
    bogus.write_bytes(b"definitely not a wav file")
    with pytest.raises(ValueError, match="cannot read PCM WAV"):
        make_source(f"wav:{bogus}")
    with pytest.raises(ValueError, match="cannot read PCM WAV"):
        make_source(f"wav:{tmp_path / 'missing.wav'}")


# --- pure analysis -----------------------------------------------------------------------------


def _sine(freq: float, amplitude: float = 1.0, seconds: float = 0.5, rate: int = RATE) -> np.ndarray:
    t = np.arange(int(rate * seconds)) / rate
    return amplitude * np.sin(2 * np.pi * freq * t)


@pytest.mark.parametrize("freq", [300.0, 440.0, 1000.0, 1234.5, 3000.0])
def test_dominant_frequency_within_2hz(freq: float) -> None:
    assert abs(dominant_frequency(_sine(freq), RATE) - freq) < 2
    assert abs(dominant_frequency(_sine(freq, rate=8000), 8000) - freq) < 2


def test_dominant_frequency_of_silence_is_none() -> None:
    assert dominant_frequency(np.zeros(RATE // 2), RATE) is None
    assert dominant_frequency(np.zeros(10), RATE) is None


def test_goertzel_measures_power_at_the_tone_only() -> None:
    signal = _sine(697, 0.5) + _sine(1209, 0.5)  # DTMF "1"
    assert goertzel(signal, RATE, 697) == pytest.approx(0.25**2, rel=0.1)
    assert goertzel(signal, RATE, 1209) == pytest.approx(0.25**2, rel=0.1)
    assert goertzel(signal, RATE, 941) < 1e-4


def test_rms_dbfs_of_full_scale_sine_is_minus_3() -> None:
    assert rms_dbfs(_sine(1000)) == pytest.approx(-3.01, abs=0.05)
    assert rms_dbfs(_sine(1000, 0.1)) == pytest.approx(-23.01, abs=0.05)
    assert rms_dbfs(np.zeros(100)) == -120.0
    assert rms_dbfs(np.zeros(0)) == -120.0


def test_receive_analyzer_one_way_and_silence_on_synthetic_frames() -> None:
    from rtcload.media.analysis import ReceiveAnalyzer

    analyzer = ReceiveAnalyzer(one_way_after_s=2.0)
    analyzer.set_sending(True, now=100.0)
    silence = np.zeros(FRAME_SAMPLES)
    tone = _sine(440, 0.5, seconds=FRAME_SAMPLES / RATE)
    analyzer.add_samples(silence, RATE, now=100.5)
    assert not analyzer.one_way(now=101.0)
    assert analyzer.one_way(now=102.1)
    assert analyzer.first_frame_at == 100.5 and analyzer.first_audio_at is None
    analyzer.add_samples(tone, RATE, now=102.2)
    assert analyzer.first_audio_at == 102.2
    assert not analyzer.one_way(now=103.0)
    assert analyzer.silence_ratio() == 0.5
    analyzer.set_sending(False)
    assert not analyzer.one_way(now=200.0)
