"""Socket loss: reconnect with backoff, reattach of live calls, lost sessions, grace expiry, dead targets."""

from __future__ import annotations

import asyncio
import socket

import pytest

from rtcload.emulator.session import LegState
from rtcload.protocol.backoff import BackoffPolicy
from rtcload.protocol.call_state import CallState
from rtcload.signaling import (
    ClientConfig,
    ConnectFailed,
    EndedBy,
    EventKind,
    PasswordCredentials,
    SignalingClient,
    SignalingError,
)


def wait_event(client, kind: EventKind) -> asyncio.Event:
    seen = asyncio.Event()
    client.events.subscribe(lambda e: seen.set() if e.kind is kind else None)
    return seen


async def test_reconnect_reattaches_the_active_call(emulator, make_client):
    alice = await make_client("alice")
    sessid = alice.sessid
    call = await alice.call("echo", answer_timeout_s=10)
    reattached = wait_event(alice, EventKind.CALL_REATTACHED)
    assert emulator.drop_socket(sessid)
    await asyncio.wait_for(reattached.wait(), 15)
    assert alice.sessid == sessid and alice.reconnect_count == 1
    assert emulator.counters["sessions_resumed"] == 1  # a reconnection:true login with the old sessid
    assert alice.last_reconnect_s is not None and alice.last_reconnect_s > 0
    assert call.state is CallState.ACTIVE and call.reattach_count == 1 and not call.ended
    assert call.dialog.attach is True
    assert emulator.legs[call.id].reattached == 1 and emulator.legs[call.id].state is LegState.ACTIVE
    (conn,) = emulator.connections
    assert conn.query.get("voice_sdk_id") == alice.voice_sdk_id
    # the call still works on the new socket
    await call.dtmf("9")
    assert emulator.dtmf(call.id) == "9"
    await call.hangup()
    assert call.cause == "NORMAL_CLEARING"


async def test_held_call_comes_back_held(emulator, make_client):
    alice = await make_client("alice")
    call = await alice.call("echo", answer_timeout_s=10)
    await call.hold()
    reattached = wait_event(alice, EventKind.CALL_REATTACHED)
    emulator.drop_socket(alice.sessid)
    await asyncio.wait_for(reattached.wait(), 15)
    assert call.state is CallState.HELD


async def test_lost_session_drops_calls_with_session_not_reattached(emulator, make_client):
    alice = await make_client("alice")
    call = await alice.call("echo", answer_timeout_s=10)
    emulator.faults.forget_sessions = True
    ready_again = wait_event(alice, EventKind.RECONNECTED)
    emulator.drop_socket(alice.sessid)
    assert await call.wait_ended(15)
    assert call.ended_by is EndedBy.NOT_REATTACHED and call.cause_code == 48501
    assert alice.events.events(EventKind.SESSION_NOT_REATTACHED)
    await asyncio.wait_for(ready_again.wait(), 15)
    assert emulator.counters["requests_telnyx_rtc.bye"] == 0  # dropped locally, no bye (as the SDK)


async def test_client_that_vanishes_leaves_no_call_after_the_grace_period(emulator, make_client):
    emulator.config.grace_s = 0.3
    alice = await make_client("alice", auto_reconnect=False)
    call = await alice.call("echo", answer_timeout_s=10)
    sessid = alice.sessid
    emulator.drop_socket(sessid)
    assert await emulator.wait_for(lambda: emulator.legs[call.id].ended, 10)
    assert emulator.legs[call.id].cause == "RECOVERY_ON_TIMER_EXPIRE"
    assert await emulator.wait_for(lambda: sessid not in emulator.sessions, 10)
    assert emulator.snapshot()["live_legs"] == 0


async def test_bridged_peer_gets_a_bye_when_the_other_client_vanishes(emulator, make_client):
    emulator.config.grace_s = 0.3
    bob = await make_client("bob", auto_reconnect=False)
    alice = await make_client("alice")
    outbound = await alice.dial("bob")
    inbound = await bob.next_incoming(10)
    await inbound.answer()
    await outbound.wait_established(10)
    emulator.drop_socket(bob.sessid)
    assert await outbound.wait_ended(10)
    assert outbound.ended_by is EndedBy.REMOTE and outbound.cause == "NORMAL_CLEARING"


async def test_drop_after_fault_reconnects_repeatedly(emulator, make_client):
    alice = await make_client("alice")
    emulator.faults.drop_after_s = 0.2
    emulator.drop_socket(alice.sessid)
    assert await emulator.wait_for(lambda: emulator.counters["fault_drops"] >= 2, 15)
    emulator.faults.drop_after_s = None
    assert alice.reconnect_count >= 1
    attempts = alice.events.events(EventKind.RECONNECT_ATTEMPT)
    assert attempts and all(e.detail["delay_s"] <= 1.0 * 1.25 for e in attempts)


async def test_reconnect_gives_up_after_max_attempts(emulator, make_client):
    alice = await make_client("alice", backoff=BackoffPolicy(base_s=0.05, cap_s=0.1, max_attempts=3))
    call = await alice.call("echo", answer_timeout_s=10)
    exhausted = wait_event(alice, EventKind.RECONNECT_EXHAUSTED)
    await emulator.stop()  # the platform is gone for good
    await asyncio.wait_for(exhausted.wait(), 15)
    with pytest.raises(SignalingError) as info:
        await alice.wait_ready(1)
    assert info.value.code == 45003
    assert call.ended and call.ended_by is EndedBy.PURGED


async def test_dead_target_fails_fast_with_a_clear_error():
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    client = SignalingClient(
        ClientConfig(url=f"ws://127.0.0.1:{port}/", credentials=PasswordCredentials("alice", "Secret-Pass-1"))
    )
    with pytest.raises(ConnectFailed) as info:
        await client.connect(timeout=10)
    assert info.value.code == 90002 and f"127.0.0.1:{port}" in str(info.value)
    assert "Secret-Pass-1" not in str(info.value)


async def test_reconnect_storm_every_client_comes_back_spread_by_jitter(emulator):
    """All sockets drop at once: every client reconnects, and the SDK backoff's jitter spreads the logins."""
    clients = [
        SignalingClient(
            ClientConfig(
                url=emulator.url,
                credentials=PasswordCredentials(f"storm{i:03d}", "pw"),
                label=f"storm{i:03d}",
                backoff=BackoffPolicy(base_s=1.0, jitter=0.25, cap_s=30.0, max_attempts=10),
            )
        )
        for i in range(100)
    ]
    try:
        await asyncio.gather(*(c.connect(timeout=60) for c in clients))
        back = [wait_event(c, EventKind.RECONNECTED) for c in clients]
        logins_before = len(emulator.login_times)
        assert emulator.drop_all() == 100
        await asyncio.wait_for(asyncio.gather(*(e.wait() for e in back)), 60)
        assert all(c.ready for c in clients) and emulator.counters["sessions_resumed"] == 100
        storm = sorted(emulator.login_times)[logins_before:]
        assert len(storm) == 100
        spread = storm[-1] - storm[0]
        assert 0.25 <= spread <= 1.5, spread  # first retry at 1 s +-25 %: spread over about half a second
        per_100ms = max(sum(1 for t in storm if s <= t < s + 0.1) for s in storm)
        assert per_100ms < 100  # never the whole population in one instant
    finally:
        await asyncio.gather(*(c.close() for c in clients))
