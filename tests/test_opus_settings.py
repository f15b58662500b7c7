"""Opus like libwebrtc (issue 23): pre-encoded frames mono, ~32 kbit/s VBR, sizes that follow the audio.

Real encoder, real decoder: the frames are what the engine sends on the wire; nothing is mocked.
"""

from __future__ import annotations

import argparse
import wave
from pathlib import Path

import numpy as np
import pytest
from aiortc.codecs import get_decoder
from aiortc.jitterbuffer import JitterFrame

from rtcload.emulator import Emulator
from rtcload.emulator.aiortc_answerer import AiortcAnswerer
from rtcload.loadgen.settings import settings_from_options
from rtcload.media.encoded import codec_parameters, encoded_frames
from rtcload.media.engine.call_media import EngineCallMedia
from rtcload.media.lean import payload_dbfs
from rtcload.media.loopback import use_loopback_only
from rtcload.media.opus_settings import (
    DEFAULT_BITRATE,
    OpusSettings,
    configure_opus,
    current_opus,
    parse_bitrate,
)
from rtcload.quality.codecs import get_codec, opus_profile
from rtcload.signaling import ClientConfig, PasswordCredentials, SignalingClient
from tests.conftest import fast_config


def _bitrate(frames: tuple[bytes, ...]) -> float:
    return sum(len(f) for f in frames) * 8 * 50 / len(frames)


def test_frames_are_mono_vbr_near_libwebrtcs_default_bitrate() -> None:
    speech = encoded_frames("speech", "opus")
    # RFC 6716 TOC byte: bit 2 (0x04) is the stereo flag; libwebrtc's mono Opus never sets it
    assert all(frame[0] & 0x04 == 0 for frame in speech)
    sizes = [len(f) for f in speech]
    audible = [n for n in sizes if n > 8]
    # VBR: talk spurts and pauses give spread sizes (aiortc's stereo 96 kbit/s frames were ~240-300 B)
    assert max(audible) - min(audible) >= 30
    assert 40 < sum(audible) / len(audible) < 130
    assert 20_000 < _bitrate(speech) < 45_000


def test_digital_silence_is_the_3_byte_frame_and_reads_as_silence() -> None:
    silence = encoded_frames("silence", "opus")
    assert {len(f) for f in silence} == {3}
    speech = encoded_frames("speech", "opus")
    levels = [payload_dbfs(f, "opus") for f in speech]
    assert any(level < -60 for level in levels) and any(level > -30 for level in levels)  # pauses and talk


def test_frames_decode_to_the_source() -> None:
    decoder = get_decoder(codec_parameters("opus"))
    energies = []
    for index, payload in enumerate(encoded_frames("tone:440", "opus")):
        for frame in decoder.decode(JitterFrame(data=payload, timestamp=index * 960)):
            pcm = frame.to_ndarray().astype(np.float64) / 32768.0
            energies.append(float(np.sqrt(np.mean(pcm * pcm))))
    assert np.median(energies) > 0.2  # a 0.5-amplitude tone comes back at ~0.35 RMS


def test_bitrate_setting_changes_frames_and_the_emodel_profile() -> None:
    try:
        configure_opus(OpusSettings(bitrate=16_000))
        low = encoded_frames("speech", "opus")
        assert get_codec("opus") == opus_profile(16_000)
        configure_opus(OpusSettings(bitrate=64_000))
        high = encoded_frames("speech", "opus")
        assert get_codec("opus").ie == pytest.approx(10.2)
    finally:
        configure_opus(OpusSettings())
    assert _bitrate(low) < _bitrate(encoded_frames("speech", "opus")) < _bitrate(high)
    assert current_opus().bitrate == DEFAULT_BITRATE


@pytest.mark.parametrize(("text", "bps"), [("32000", 32000), ("24k", 24000), ("40kbps", 40000)])
def test_bitrate_spellings(text: str, bps: int) -> None:
    assert parse_bitrate(text) == bps


@pytest.mark.parametrize("text", ["fast", "1000", "600k", ""])
def test_bad_bitrate_is_a_clear_error(text: str) -> None:
    with pytest.raises(ValueError, match="--rtc-opus-bitrate"):
        parse_bitrate(text)


def test_rtc_opus_bitrate_option_reaches_the_settings() -> None:
    options = argparse.Namespace(rtc_opus_bitrate="24k")
    assert settings_from_options(options, "ws://127.0.0.1:1/").opus_bitrate == 24_000
    with pytest.raises(ValueError, match="--rtc-opus-bitrate"):
        settings_from_options(argparse.Namespace(rtc_opus_bitrate="x"), "ws://127.0.0.1:1/")


def talk_and_pause_wav(path: Path) -> str:
    """1.5 s of a 440 Hz tone, then 0.5 s of digital silence: talk spurts whose pauses DTX may skip."""
    t = np.arange(96_000) / 48_000
    pcm = (0.4 * 32767 * np.sin(2 * np.pi * 440 * t) * ((t % 2.0) < 1.5)).astype("<i2")
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(48_000)
        wav.writeframes(pcm.tobytes())
    return f"wav:{path}"


@pytest.mark.parametrize("dtx", [False, True])
async def test_dtx_sends_one_frame_per_400_ms_of_silence_and_offers_usedtx(dtx: bool, tmp_path: Path) -> None:
    """--rtc-opus-dtx: a source's pauses (0.5 s of digital silence every 2 s) are mostly not sent."""
    use_loopback_only()
    source = talk_and_pause_wav(tmp_path / "talk.wav")
    configure_opus(OpusSettings(dtx=dtx))
    try:
        async with Emulator(fast_config(), AiortcAnswerer(loopback_only=True)) as emu:
            config = ClientConfig(url=emu.url, credentials=PasswordCredentials("alice", "alice-pass"))
            client = SignalingClient(config, lambda: EngineCallMedia(source, profile="chrome"))
            try:
                await client.connect(timeout=20)
                call = await client.call("echo", answer_timeout_s=20)
                offer = emu.legs[call.id].offer_sdp
                assert ("usedtx=1" in offer) is dtx
                media = call.media
                # 4 s of the source's ticks: two of its pauses
                assert await media.analyzer.wait_until(lambda a: a.frames >= 150, 20)
                stream = media.stream
                start_sent, start_skipped, start_index = stream.sent.packets_sent, stream.dtx_skipped, stream._index
                await media.analyzer.wait_until(lambda _a: stream._index - start_index >= 200, 20)
                ticks = stream._index - start_index
                sent = stream.sent.packets_sent - start_sent
                skipped = stream.dtx_skipped - start_skipped
                assert await media.analyzer.wait_until(lambda a: a.first_audio_at is not None, 5)  # echo still heard
                await call.hangup()
            finally:
                await client.close()
    finally:
        configure_opus(OpusSettings())
    if dtx:
        # per 2 s loop: 25 pause frames of which 10 + 1 are sent: ~14 skipped per 100 ticks
        assert 0.08 * ticks <= skipped <= 0.2 * ticks and sent + skipped == pytest.approx(ticks, abs=3)
    else:
        assert skipped == 0 and sent == pytest.approx(ticks, abs=3)
