"""Bad input on both sides: the emulator answers with JSON-RPC errors and stays up; the client
reports garbage precisely and keeps its calls."""

from __future__ import annotations

import asyncio
import json
import logging

import pytest
from websockets.asyncio.client import connect

from rtcload.protocol.call_state import CallState
from rtcload.signaling import EventKind


async def recv_json(ws, timeout: float = 5.0) -> dict:
    return json.loads(await asyncio.wait_for(ws.recv(), timeout))


async def still_serving(ws) -> bool:
    await ws.send(json.dumps({"jsonrpc": "2.0", "id": "alive", "method": "telnyx_rtc.ping", "params": {}}))
    reply = await recv_json(ws)
    return reply["id"] == "alive" and "result" in reply


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("{not json", -32700),
        ("[1, 2, 3]", -32600),
        (json.dumps({"id": 5, "method": "login", "params": {}}), -32600),  # no jsonrpc member
        (json.dumps({"jsonrpc": "2.0", "id": 6, "method": "telnyx_rtc.teleport", "params": {}}), -32601),
    ],
    ids=["malformed-json", "not-an-object", "no-jsonrpc-member", "unknown-method"],
)
async def test_bad_frames_get_json_rpc_errors_and_the_socket_stays_open(emulator, text, code):
    async with connect(emulator.url) as ws:
        await ws.send(text)
        reply = await recv_json(ws)
        assert reply["error"]["code"] == code
        assert await still_serving(ws)
    assert emulator.counters[f"errors_{code}"] == 1


async def test_oversize_frame_is_refused_and_the_socket_stays_open(emulator):
    big = json.dumps({"jsonrpc": "2.0", "id": 9, "method": "telnyx_rtc.ping", "params": {"pad": "x" * 300_000}})
    async with connect(emulator.url, max_size=None) as ws:
        await ws.send(big)
        reply = await recv_json(ws)
        assert reply["error"]["code"] == -32600 and "exceeds limit" in reply["error"]["data"]["reason"]
        assert await still_serving(ws)


async def test_frame_beyond_the_hard_limit_closes_with_1009(emulator):
    ws = await connect(emulator.url, max_size=None)
    await ws.send("x" * (emulator.config.hard_frame_limit_bytes + 1))
    await asyncio.wait_for(ws.wait_closed(), 10)
    assert ws.close_code == 1009  # "message too big", from the server
    assert await emulator.wait_for(lambda: emulator.snapshot()["connections"] == 0, 5)


async def test_debug_report_start_is_answered_by_id(emulator):
    async with connect(emulator.url) as ws:
        await ws.send(json.dumps({"jsonrpc": "2.0", "id": "d1", "type": "debug_report_start", "call_id": "c"}))
        reply = await recv_json(ws)
        assert reply == {"jsonrpc": "2.0", "id": "d1", "result": {"type": "debug_report_start"}}


async def test_emulator_survives_garbage_and_keeps_serving_others(emulator, make_client):
    alice = await make_client("alice")
    call = await alice.call("echo", answer_timeout_s=10)
    async with connect(emulator.url) as ws:
        for text in ("", "\x00\xff", "null", "{}", '{"jsonrpc":"2.0","method":7}', "]" * 10_000):
            await ws.send(text)
        replies = [await recv_json(ws) for _ in range(6)]
        assert all("error" in r for r in replies)
    assert call.state is CallState.ACTIVE
    bob = await make_client("bob")
    assert bob.ready and emulator.snapshot()["registered"] == 2


async def test_client_reports_hostile_frames_and_keeps_its_call(emulator, make_client, caplog):
    caplog.set_level(logging.INFO, logger="rtcload.signaling")
    alice = await make_client("alice")
    call = await alice.call("echo", answer_timeout_s=10)
    hostile = [
        "this is not json",
        json.dumps({"jsonrpc": "2.0", "id": "nobody-asked", "result": {"x": 1}}),
        json.dumps({"jsonrpc": "2.0", "id": "s1", "method": "telnyx_rtc.bye", "params": {"callID": "no-such-call"}}),
        json.dumps({"jsonrpc": "2.0", "id": "s2", "method": "telnyx_rtc.invite", "params": {"callID": 5}}),
        json.dumps({"jsonrpc": "2.0", "id": None, "error": {"code": -32099, "message": "boom"}}),
        json.dumps({"jsonrpc": "2.0", "id": "s3", "method": "telnyx_rtc.answer", "params": "not-a-dict"}),
    ]
    errors_before = len(alice.events.events(EventKind.PROTOCOL_ERROR))
    for text in hostile:
        assert await emulator.inject(alice.sessid, text)
    assert (await alice.ping()) > 0  # frames are processed in order; the pong comes after all of them
    errors = alice.events.events(EventKind.PROTOCOL_ERROR)[errors_before:]
    codes = {e.detail.get("code") for e in errors}
    assert -32700 in codes  # the unparseable frame, by its JSON-RPC code
    assert any(e.call_id == "no-such-call" for e in errors)  # the bye for a call we do not have, by call id
    assert -32099 in codes  # an error nobody asked for
    assert call.state is CallState.ACTIVE and not call.ended
    await call.dtmf("5")
    assert emulator.dtmf(call.id) == "5"
    assert any("alice" in r.getMessage() for r in caplog.records)  # the log says which user
