"""`--rtc-trickle` does what the official SDK does with `trickleIce: true` (issue 23).

The reference is the SDK's own trickle call (tests/data/traces/signaling_trickle.jsonl, SDK 2.27.10 in
Chromium): the frames rtcload sends for one engine call with trickle are compared with it, key order
included, as the real emulator receives them. Both offers (trickle and not) are accepted by the emulator.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from rtcload.emulator import Emulator
from rtcload.emulator.aiortc_answerer import AiortcAnswerer
from rtcload.media.engine.call_media import EngineCallMedia
from rtcload.media.loopback import use_loopback_only
from rtcload.protocol.sdp import trickle_sdp
from rtcload.signaling import ClientConfig, PasswordCredentials, SignalingClient
from tests.conftest import fast_config

use_loopback_only()


def trace_frames(traces_dir: Path) -> list[dict[str, Any]]:
    frames = [json.loads(line) for line in (traces_dir / "signaling_trickle.jsonl").read_text().splitlines()]
    return [f["data"] for f in frames if f["kind"] == "in" and "method" in f["data"]]


async def frames_of_one_call(trickle: bool) -> tuple[list[dict[str, Any]], Any]:
    seen: list[dict[str, Any]] = []
    async with Emulator(fast_config(), AiortcAnswerer(loopback_only=True)) as emu:
        original = emu._on_text

        async def hook(conn: Any, text: str | bytes) -> None:  # the emulator's view of every client frame
            frame = json.loads(text)
            if "method" in frame:
                seen.append(frame)
            await original(conn, text)

        emu._on_text = hook  # type: ignore[method-assign]
        config = ClientConfig(url=emu.url, credentials=PasswordCredentials("alice", "alice-pass"), trickle_ice=trickle)
        client = SignalingClient(config, lambda: EngineCallMedia("tone:440"))
        try:
            await client.connect(timeout=20)
            call = await client.call("echo", answer_timeout_s=20)
            assert await call.media.analyzer.wait_until(lambda a: a.first_audio_at is not None, 20)
            leg = emu.legs[call.id]
            assert await emu.wait_for(lambda: leg.end_of_candidates or not trickle, 10)
            await call.hangup()
        finally:
            await client.close()
    return seen, leg


async def test_trickle_frames_match_the_sdks_trickle_call(traces_dir: Path) -> None:
    sdk = trace_frames(traces_dir)
    mine, leg = await frames_of_one_call(trickle=True)

    def methods(frames: list[dict[str, Any]]) -> list[str]:
        return [f["method"] for f in frames if f["method"] != "telnyx_rtc.candidate"]

    assert methods(mine) == methods(sdk)  # login, gatewayState, invite, endOfCandidates, bye
    by_method = {m: next(f for f in sdk if f["method"] == m) for m in ("telnyx_rtc.invite", "telnyx_rtc.candidate")}
    mine_by = {m: next(f for f in mine if f["method"] == m) for m in by_method}
    for method in by_method:
        assert list(mine_by[method]["params"]) == list(by_method[method]["params"]), method
    end_sdk = next(f for f in sdk if f["method"] == "telnyx_rtc.endOfCandidates")["params"]
    end_mine = next(f for f in mine if f["method"] == "telnyx_rtc.endOfCandidates")["params"]
    assert list(end_mine) == list(end_sdk) and end_mine["endOfCandidates"] is True
    invite = mine_by["telnyx_rtc.invite"]["params"]
    assert invite["trickle"] is True and invite["dialogParams"]["trickleIce"] is True
    sdp = invite["sdp"]
    assert "a=candidate" not in sdp and "a=end-of-candidates" not in sdp and "a=ice-options:trickle" in sdp
    assert "\r\nm=audio 9 " in sdp and "\r\nc=IN IP4 0.0.0.0\r\n" in sdp  # as Chrome writes it before gathering
    candidate = mine_by["telnyx_rtc.candidate"]["params"]
    assert candidate["sdpMid"] == "0" and candidate["sdpMLineIndex"] == 0
    # every candidate frame comes before endOfCandidates, and the emulator applied them
    order = [f["method"] for f in mine]
    assert order.index("telnyx_rtc.endOfCandidates") > max(i for i, m in enumerate(order) if m.endswith("candidate"))
    assert leg.candidates and leg.end_of_candidates


async def test_without_trickle_the_candidates_are_in_the_invite() -> None:
    mine, leg = await frames_of_one_call(trickle=False)
    assert [f["method"] for f in mine if "andidate" in f["method"]] == []
    invite = next(f for f in mine if f["method"] == "telnyx_rtc.invite")["params"]
    assert "trickle" not in invite and "a=candidate:" in invite["sdp"]
    assert not leg.candidates


@pytest.mark.parametrize("family", ["IP4", "IP6"])
def test_trickle_sdp_has_chromes_placeholders(family: str) -> None:
    sdp = f"v=0\r\nm=audio 40000 UDP/TLS/RTP/SAVPF 111\r\nc=IN {family} ::1\r\n"
    sdp += "a=candidate:1 1 udp 1 ::1 40000 typ host\r\n"
    shaped, candidates = trickle_sdp(sdp + "a=end-of-candidates\r\n")
    assert candidates == ["candidate:1 1 udp 1 ::1 40000 typ host"]
    assert shaped.split("\r\n")[1:3] == ["m=audio 9 UDP/TLS/RTP/SAVPF 111", "c=IN IP4 0.0.0.0"]
