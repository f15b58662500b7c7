"""Relay-only calls through a real coturn on loopback: audio flows via TURN; bad credentials fail fast."""

from __future__ import annotations

import time

import pytest

from rtcload.emulator import Emulator
from rtcload.emulator.aiortc_answerer import AiortcAnswerer
from rtcload.media.coturn import Coturn, turnserver_available
from rtcload.media.ice_diag import ICE_GATHERING_EMPTY, TURN_ALLOCATIONS
from rtcload.media.loopback import use_loopback_only
from rtcload.media.media_settings import MediaSettings
from rtcload.media.peer import CallMedia
from rtcload.signaling import ClientConfig, PasswordCredentials, SignalingClient
from tests.conftest import fast_config

use_loopback_only()
pytestmark = pytest.mark.skipif(not turnserver_available(), reason="coturn (turnserver) not installed")


@pytest.fixture
async def turn():
    async with Coturn(user="u", password="p") as server:
        yield server


@pytest.fixture
async def media_emulator():
    async with Emulator(fast_config(), AiortcAnswerer(loopback_only=True)) as emu:
        yield emu


async def relay_client(url: str, spec) -> SignalingClient:
    client = SignalingClient(
        ClientConfig(url=url, credentials=PasswordCredentials("alice", "alice-pass")),
        lambda: CallMedia(
            "tone:440", settings=MediaSettings(codec="opus", ice_servers=[spec], relay_only=True, stats_interval_s=0.5)
        ),
    )
    await client.connect(timeout=20)
    return client


@pytest.mark.parametrize("transport", ["udp", "tcp"])
async def test_relay_only_call_through_coturn_has_echo_audio_and_reports_relay(turn, media_emulator, transport):
    client = await relay_client(media_emulator.url, turn.spec(transport))
    try:
        call = await client.call("echo", answer_timeout_s=20)
        media = call.media
        assert await media.wait_connected(20)
        assert await media.analyzer.wait_until(lambda a: a.detect_tone(440, 5), 20)
        await call.hangup()
        ice = call.media_report.ice
        assert ice is not None
        assert ice.selected_local_type == "relay", ice
        assert set(ice.local_candidates) == {"relay/udp"}  # relay-only: no host candidate offered
        (allocation,) = ice.turn
        assert allocation.result == "ok" and allocation.server.endswith(f"/{transport}")
        assert allocation.duration_s is not None and 0 < allocation.duration_s < 5
        assert "p" not in allocation.server.split(":")[0]  # no credentials in the report
        assert ice.gathering_s is not None and ice.gathering_s < 5
        assert not ice.warnings
    finally:
        await client.close()


async def test_wrong_turn_credentials_fail_allocation_quickly_with_a_counted_error(turn, media_emulator):
    before = TURN_ALLOCATIONS["auth_failed"]
    client = await relay_client(media_emulator.url, turn.spec("udp", password="wrong"))
    try:
        started = time.monotonic()
        call = await client.call("echo", answer_timeout_s=20)
        media = call.media
        assert not await media.wait_connected(15)  # fails, does not hang until the timeout
        assert media.failed.is_set()
        assert time.monotonic() - started < 15
        await call.hangup()
        ice = call.media_report.ice
        (allocation,) = ice.turn
        assert allocation.result == "auth_failed" and "401" in (allocation.error or "")
        assert ice.local_candidates == {} and ice.selected_local_type is None
        assert ICE_GATHERING_EMPTY in ice.warning_codes
        assert TURN_ALLOCATIONS["auth_failed"] == before + 1
    finally:
        await client.close()


async def test_rtcload_call_takes_turn_credentials_in_the_uri_and_relay_only(turn):
    """`rtcload call` parses --ice-server/--relay-only with `rtcload run`'s code: no 'malformed uri'."""
    import asyncio
    import json
    import subprocess
    import sys

    url = f"turn:u:p@127.0.0.1:{turn.port}?transport=udp"
    cmd = [sys.executable, "-m", "rtcload", "call", "--duration", "2", "--json", "--ice-server", url, "--relay-only"]
    done = await asyncio.to_thread(subprocess.run, cmd, capture_output=True, text=True, timeout=90)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    out = json.loads(done.stdout)
    assert out["ok"] is True and out["ice_local"] == "relay" and out["packets_received"] > 0
    assert ":p@" not in done.stdout + done.stderr  # the password is never echoed
    bad = subprocess.run([*cmd[:-3], "--ice-server", "http://nope"], capture_output=True, text=True, timeout=30)
    assert bad.returncode == 2 and "must start with stun:" in bad.stderr
