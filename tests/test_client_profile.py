"""`--rtc-client-profile chrome|minimal` (issue 23): the offer like Chrome's for what rtcload does.

Chrome's offer is the official SDK's own invite SDP (tests/data/traces/signaling_trickle.jsonl, SDK
2.27.10 in Chromium). rtcload's offers are aiortc's real ones, shaped; calls go to the real emulator.
"""

from __future__ import annotations

import argparse
import json
import struct
from pathlib import Path
from typing import Any

import pytest

from rtcload.emulator import Emulator
from rtcload.emulator.aiortc_answerer import AiortcAnswerer
from rtcload.loadgen.settings import settings_from_options
from rtcload.media.encoded import frame_levels
from rtcload.media.engine.call_media import EngineCallMedia, engine_header_extensions
from rtcload.media.engine.native import ENV_SWITCH
from rtcload.media.loopback import use_loopback_only
from rtcload.media.media_settings import MediaSettings
from rtcload.media.sdp_profile import AUDIO_LEVEL, shape_sdp
from rtcload.signaling import ClientConfig, PasswordCredentials, SignalingClient
from tests.conftest import fast_config
from tests.sdk.wire import sdp_features

use_loopback_only()

# What Chrome offers that rtcload leaves out on purpose (sdp_profile.py says why for each)
NOT_OFFERED_CODECS = {"red/48000/2", "g722/8000", "cn/8000"}
NOT_OFFERED_EXTENSIONS = {
    "http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time",
    "http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01",
    "urn:ietf:params:rtp-hdrext:sdes:mid",
}


def chrome_offer(traces_dir: Path) -> str:
    for line in (traces_dir / "signaling_trickle.jsonl").read_text().splitlines():
        data = json.loads(line)["data"]
        if data.get("method") == "telnyx_rtc.invite":
            return data["params"]["sdp"]
    raise AssertionError("no invite in the trace")


async def offer_of(profile: str) -> str:
    media = EngineCallMedia("tone:440", profile=profile)
    try:
        return await media.create_offer()
    finally:
        await media.close()


async def test_chrome_profile_offers_chromes_features_minus_what_rtcload_cannot_do(traces_dir: Path) -> None:
    chrome = sdp_features(chrome_offer(traces_dir))
    mine = sdp_features(await offer_of("chrome"))
    assert mine["codecs"] == [c for c in chrome["codecs"] if c not in NOT_OFFERED_CODECS]
    assert mine["fmtp"] == chrome["fmtp"] == {"opus/48000/2": "minptime=10;useinbandfec=1"}
    assert mine["ice_options"] == chrome["ice_options"] == ["trickle"]
    # only the extensions the media path writes: none on the C path, ssrc-audio-level on the Python path
    assert set(mine["extensions"]) == set(chrome["extensions"]) & engine_header_extensions()
    assert not set(mine["extensions"]) & NOT_OFFERED_EXTENSIONS
    assert mine["rtcp_fb"] == {}  # Chrome's transport-cc is not offered: nothing would answer its feedback
    assert mine["candidates"] >= 1  # non-trickle by default: the candidates are in the SDP


async def test_minimal_profile_is_aiortcs_offer_unchanged() -> None:
    mine = sdp_features(await offer_of("minimal"))
    assert "g722/8000" in mine["codecs"] and mine["ice_options"] == [] and "opus/48000/2" not in mine["fmtp"]


def test_an_answer_keeps_the_offers_order_and_extension_ids() -> None:
    answer = (
        "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 0 111 9\r\n"
        "a=ice-ufrag:x\r\na=ice-pwd:y\r\na=extmap:7 urn:ietf:params:rtp-hdrext:ssrc-audio-level\r\n"
        "a=rtpmap:0 PCMU/8000\r\na=rtpmap:111 opus/48000/2\r\na=fmtp:111 stereo=1\r\na=rtpmap:9 G722/8000\r\n"
    )
    shaped = shape_sdp(answer, opus_fmtp="minptime=10;useinbandfec=1", sends=frozenset(), offer=False)
    assert "m=audio 9 UDP/TLS/RTP/SAVPF 0 111\r\n" in shaped and "G722" not in shaped
    assert "a=fmtp:111 minptime=10;useinbandfec=1\r\n" in shaped and "stereo=1" not in shaped
    assert "extmap" not in shaped and "a=ice-options:trickle" in shaped
    level = frozenset({"urn:ietf:params:rtp-hdrext:ssrc-audio-level"})
    kept = shape_sdp(answer, opus_fmtp="x", sends=level, offer=False)
    assert "a=extmap:7 urn:ietf:params:rtp-hdrext:ssrc-audio-level" in kept


@pytest.mark.parametrize("profile", ["chrome", "minimal"])
async def test_the_emulator_takes_both_offers_and_audio_flows(profile: str) -> None:
    async with Emulator(fast_config(), AiortcAnswerer(loopback_only=True)) as emu:
        config = ClientConfig(url=emu.url, credentials=PasswordCredentials("alice", "alice-pass"))
        client = SignalingClient(config, lambda: EngineCallMedia("tone:440", profile=profile))
        try:
            await client.connect(timeout=20)
            call = await client.call("echo", answer_timeout_s=20)
            assert await call.media.analyzer.wait_until(lambda a: a.first_audio_at is not None, 20)
            assert call.media.codec == "opus"
            await call.hangup()
        finally:
            await client.close()


def test_profile_option_and_bad_values() -> None:
    def settings(value: str):
        return settings_from_options(argparse.Namespace(rtc_client_profile=value), "ws://127.0.0.1:1/")

    assert settings("chrome").client_profile == "chrome" and settings("Minimal").client_profile == "minimal"
    assert settings_from_options(argparse.Namespace(), "ws://127.0.0.1:1/").client_profile == "chrome"
    with pytest.raises(ValueError, match="--rtc-client-profile"):
        settings("firefox")


class _Recorder:
    """Stands in front of a stream's SRTP sender and keeps the plain RTP it protects."""

    def __init__(self, srtp: Any) -> None:
        self.srtp = srtp
        self.packets: list[bytes] = []

    def protect(self, packet: bytes) -> bytes:
        self.packets.append(packet)
        return self.srtp.protect(packet)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.srtp, name)


async def test_python_path_offers_and_writes_ssrc_audio_level_with_the_frames_level(monkeypatch) -> None:
    """With the C path off, the chrome offer advertises ssrc-audio-level and every audio packet carries it."""
    monkeypatch.setenv(ENV_SWITCH, "0")
    assert engine_header_extensions() == {AUDIO_LEVEL}
    async with Emulator(fast_config(), AiortcAnswerer(loopback_only=True)) as emu:
        config = ClientConfig(url=emu.url, credentials=PasswordCredentials("alice", "alice-pass"))
        client = SignalingClient(config, lambda: EngineCallMedia("speech", profile="chrome"))
        try:
            await client.connect(timeout=20)
            call = await client.call("echo", answer_timeout_s=20)
            assert await call.media.analyzer.wait_until(lambda a: a.frames >= 1, 20)
            stream = call.media.stream
            assert stream is not None and stream.audio_level_id == 1  # Chrome's id for it
            recorder = _Recorder(stream._tx)
            stream._tx = recorder
            assert await call.media.analyzer.wait_until(lambda a: a.frames >= 150, 20)
            await call.hangup()
        finally:
            await client.close()
    audio = [p for p in recorder.packets if p[1] & 0x7F == stream.codec.payload_type]
    assert len(audio) >= 50 and all(p[0] & 0x10 for p in audio)  # X bit on every audio packet
    levels = []
    for packet in audio:
        profile, words, element, value = struct.unpack_from("!HHBB", packet, 12)
        assert (profile, words, element >> 4, element & 0x0F) == (0xBEDE, 1, 1, 0)
        levels.append((value & 0x7F, bool(value & 0x80)))
    table = set(frame_levels("speech"))
    assert {level for level, _ in levels} <= table  # each packet's level is its frame's
    assert any(voice for _, voice in levels) and any(level >= 100 and not voice for level, voice in levels)


async def test_the_codec_asked_for_stays_first_in_a_chrome_offer() -> None:
    media = EngineCallMedia("tone:440", profile="chrome", settings=MediaSettings(codec="pcmu"))
    try:
        codecs = sdp_features(await media.create_offer())["codecs"]
    finally:
        await media.close()
    assert codecs == ["pcmu/8000", "opus/48000/2", "pcma/8000", "telephone-event/48000", "telephone-event/8000"]
