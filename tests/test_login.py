"""Login variants and every auth failure, against the real emulator over loopback."""

from __future__ import annotations

import asyncio
import json
import logging

import pytest
from websockets.asyncio.client import connect

from rtcload.emulator import Emulator, UserDirectory, mint_token
from rtcload.emulator.auth import token_payload_is_atob_safe
from rtcload.protocol import messages
from rtcload.signaling import (
    AnonymousCredentials,
    ClientConfig,
    EventKind,
    LoginFailed,
    PasswordCredentials,
    SignalingClient,
    TokenCredentials,
)
from tests.conftest import fast_config


async def test_password_login_registers_and_times_each_phase(emulator, make_client):
    client = await make_client("alice")
    assert client.ready and client.sessid
    reg = client.registration
    assert reg is not None and reg.ws_connect_s > 0 and reg.login_s > 0 and reg.ready_s > 0
    kinds = [e.kind for e in client.events.events()]
    assert kinds.index(EventKind.LOGIN_OK) < kinds.index(EventKind.CLIENT_READY) < kinds.index(EventKind.READY)
    assert emulator.snapshot()["registered"] == 1
    assert client.voice_sdk_id and client.voice_sdk_id.startswith("vsdk-")


@pytest.mark.parametrize(
    ("login", "password", "reason"),
    [("alice", "Wrong-Secret-7", "wrong password"), ("mallory", "mallory-Secret-9", "unknown user")],
)
async def test_bad_password_or_unknown_user_is_authentication_failure(login, password, reason, caplog):
    users = UserDirectory()  # closed: only listed users
    users.add("alice", "alice-pass")
    caplog.set_level(logging.DEBUG)
    async with Emulator(fast_config(users=users)) as emu:
        client = SignalingClient(ClientConfig(url=emu.url, credentials=PasswordCredentials(login, password)))
        with pytest.raises(LoginFailed) as info:
            await client.connect(timeout=10)
        assert info.value.server_code == -32001
        assert info.value.code == 46001
        assert emu.counters[f"logins_failed_{reason.replace(' ', '_')}"] == 1
    assert password not in str(info.value)
    assert all(password not in record.getMessage() for record in caplog.records)


async def test_jwt_login(emulator, make_client):
    token = emulator.mint_token("alice", ttl_s=600)
    config = ClientConfig(url=emulator.url, credentials=TokenCredentials(token), label="jwt")
    client = SignalingClient(config)
    try:
        await client.connect(timeout=10)
        session = emulator.sessions[client.sessid]
        assert session.identity.username == "alice" and session.identity.via == "jwt"
    finally:
        await client.close()


@pytest.mark.parametrize(
    ("make_token", "reason"),
    [
        (lambda secret: mint_token("alice", secret, ttl_s=-10), "token expired"),
        (lambda secret: mint_token("alice", "some-other-secret-also-long-enough-32b"), "bad token signature"),
        (lambda secret: "not-a-jwt", "malformed token"),
    ],
    ids=["expired", "bad-signature", "malformed"],
)
async def test_bad_jwt_is_authentication_failure(emulator, make_token, reason, caplog):
    token = make_token(emulator.config.jwt_secret)
    caplog.set_level(logging.DEBUG)
    client = SignalingClient(ClientConfig(url=emulator.url, credentials=TokenCredentials(token)))
    with pytest.raises(LoginFailed) as info:
        await client.connect(timeout=10)
    assert info.value.server_code == -32001
    assert emulator.counters[f"logins_failed_{reason.replace(' ', '_')}"] == 1
    assert token not in str(info.value)
    assert all(token not in record.getMessage() for record in caplog.records)


def test_minted_tokens_decode_with_browser_atob():
    for i in range(50):
        assert token_payload_is_atob_safe(mint_token(f"user{i}", "a-secret-that-is-long-enough-for-hs256"))


async def test_anonymous_login(emulator):
    client = SignalingClient(ClientConfig(url=emulator.url, credentials=AnonymousCredentials("assistant-123")))
    try:
        await client.connect(timeout=10)
        assert emulator.sessions[client.sessid].identity.via == "anonymous"
    finally:
        await client.close()


async def test_login_rejected_by_fault_share(emulator):
    emulator.faults.login_reject_ratio = 1.0
    client = SignalingClient(ClientConfig(url=emulator.url, credentials=PasswordCredentials("alice", "alice-pass")))
    with pytest.raises(LoginFailed):
        await client.connect(timeout=10)
    assert emulator.counters["logins_failed_rejected_by_fault_injection"] == 1


async def test_token_refresh_relogs_on_the_same_socket(emulator):
    first = emulator.mint_token("alice", ttl_s=60)
    refreshed: list[str] = []

    async def refresh() -> str:
        token = emulator.mint_token("alice", ttl_s=3600)
        refreshed.append(token)
        return token

    # Refresh lead of 59.5 s on a 60 s token: the client re-logs in about half a second after login.
    config = ClientConfig(
        url=emulator.url, credentials=TokenCredentials(first, refresh=refresh), token_refresh_lead_s=59.5
    )
    client = SignalingClient(config)
    try:
        await client.connect(timeout=10)
        sessid = client.sessid
        done = asyncio.Event()
        client.events.subscribe(lambda e: done.set() if e.kind is EventKind.TOKEN_REFRESHED else None)
        await asyncio.wait_for(done.wait(), 10)
        assert refreshed and client.sessid == sessid
        assert emulator.counters["relogins"] == 1
        assert emulator.counters["connections_total"] == 1  # same socket
        assert emulator.sessions[sessid].logins == 2
    finally:
        await client.close()


async def test_requests_before_login_get_authentication_required(emulator):
    async with connect(emulator.url) as ws:
        await ws.send(json.dumps({"jsonrpc": "2.0", "id": 1, "method": "telnyx_rtc.gatewayState", "params": {}}))
        reply = json.loads(await asyncio.wait_for(ws.recv(), 5))
        assert reply["id"] == 1 and reply["error"]["code"] == -32000


async def test_login_never_answered_with_authentication_required(emulator):
    """-32000 on login loops the JS SDK forever; the emulator must use -32001."""
    async with connect(emulator.url) as ws:
        bad = messages.login(login="alice", passwd="nope", request_id="L1")
        await ws.send(json.dumps({"jsonrpc": "2.0", "id": "L1", "method": "login", "params": bad.params}))
        reply = json.loads(await asyncio.wait_for(ws.recv(), 5))
        assert reply["error"]["code"] == -32001
        assert reply["error"]["message"] == "Authentication Failure"
        assert reply["error"]["data"]["reason"] == "wrong password"
