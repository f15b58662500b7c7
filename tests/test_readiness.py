"""Readiness (clientReady -> gatewayState -> REGED, NOREG re-polls, FAILED reconnects) and pings both ways."""

from __future__ import annotations

import asyncio

import pytest

from rtcload.emulator import Emulator
from rtcload.signaling import EventKind, HealthConfig, LoginFailed
from tests.conftest import fast_config

QUICK_REPOLL = (0.02, 0.05)


def wait_event(client, kind: EventKind) -> asyncio.Event:
    seen = asyncio.Event()
    client.events.subscribe(lambda e: seen.set() if e.kind is kind else None)
    return seen


async def test_noreg_five_times_is_login_failed(emulator, make_client):
    emulator.faults.gateway_state = "NOREG"
    with pytest.raises(LoginFailed) as info:
        await make_client("alice", register_repoll_s=QUICK_REPOLL)
    assert info.value.code == 46001
    assert emulator.counters["gateway_NOREG"] == 5


async def test_noreg_then_reged_becomes_ready_after_repolls(emulator, make_client):
    emulator.faults.update(gateway_state="NOREG", gateway_state_count=2)
    client = await make_client("alice", register_repoll_s=QUICK_REPOLL)
    assert client.ready
    states = [e.detail["state"] for e in client.events.events(EventKind.GATEWAY_STATE)]
    assert states == ["NOREG", "NOREG", "REGED"]


async def test_gateway_failed_reconnects_with_skip_last_voice_sdk_id(emulator, make_client):
    emulator.faults.update(gateway_state="FAILED", gateway_state_count=1)
    client = await make_client("alice", register_repoll_s=QUICK_REPOLL)
    assert client.ready
    assert emulator.counters["gateway_FAILED"] == 1 and emulator.counters["connections_total"] == 2
    (conn,) = emulator.connections
    assert conn.query.get("skip_last_voice_sdk_id") == "true"
    assert conn.query.get("voice_sdk_id") == client.voice_sdk_id
    assert any(e.detail.get("code") == 45004 for e in client.events.events(EventKind.PROTOCOL_ERROR))


async def test_client_ping_is_answered(make_client):
    client = await make_client("alice")
    rtt = await client.ping()
    assert 0 < rtt < 5


async def test_server_ping_is_answered_with_a_new_ping_request():
    async with Emulator(fast_config(server_ping_interval_s=0.1)) as emu:
        from rtcload.signaling import ClientConfig, PasswordCredentials, SignalingClient

        client = SignalingClient(ClientConfig(url=emu.url, credentials=PasswordCredentials("alice", "alice-pass")))
        try:
            await client.connect(timeout=10)
            assert await emu.wait_for(lambda: emu.counters["pings_in"] >= 2, 10)
            assert emu.counters["pings_out"] >= 1
            assert client.events.events(EventKind.SERVER_PING)
        finally:
            await client.close()


async def test_silent_server_is_probed_and_then_recovered(emulator, make_client):
    health = HealthConfig(inbound_silence_s=0.3, probe_timeout_s=0.3, check_every_s=0.05)
    client = await make_client("alice", health=health)
    sessid = client.sessid
    recovered = wait_event(client, EventKind.RECOVERY_REQUIRED)
    reconnected = wait_event(client, EventKind.RECONNECTED)
    assert emulator.set_half_open(sessid)  # the socket stays up but the platform goes quiet
    await asyncio.wait_for(recovered.wait(), 10)
    await asyncio.wait_for(reconnected.wait(), 10)
    assert client.ready and client.sessid == sessid  # same session resumed
    probes = [e for e in client.events.events(EventKind.PING_SENT) if e.detail.get("probe")]
    assert probes


async def test_probe_answered_keeps_the_socket(emulator, make_client):
    health = HealthConfig(inbound_silence_s=0.2, probe_timeout_s=2.0, check_every_s=0.05)
    client = await make_client("alice", health=health)
    assert await emulator.wait_for(lambda: emulator.counters["pings_in"] >= 2, 10)
    assert client.events.events(EventKind.PONG)
    assert not client.events.events(EventKind.RECOVERY_REQUIRED)
    assert emulator.counters["connections_total"] == 1
