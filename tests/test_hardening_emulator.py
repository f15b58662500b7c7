"""The emulator under hostile input (issue 16): who gets in, what it logs, what it answers, what it keeps.

Every test talks to a real emulator over a real socket; each names the hole it closes.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
import subprocess
import sys
import time
import uuid

import pytest
from prometheus_client.parser import text_string_to_metric_families
from websockets.asyncio.client import connect

from rtcload.emulator import Emulator
from rtcload.emulator.auth import UserDirectory, mint_token
from rtcload.emulator.bounded import StoredReport
from rtcload.emulator.config import OPEN_MODE_JWT_SECRET, Limits
from rtcload.media.media_settings import MediaSettings
from rtcload.metrics.emulator_exporter import exposition
from rtcload.protocol.redact import FRAME_VOCABULARY, short_frame
from rtcload.protocol.sdp import static_sdp
from tests.conftest import TEST_USERS, fast_config

CONTROL_TOKEN = "ctl-token-for-hardening-tests-0123456789"


def users_file_config(**overrides):
    users = UserDirectory()  # users-file mode: only listed users, no open mode
    for name, (password, number) in TEST_USERS.items():
        users.add(name, password, number)
    return fast_config(users=users, **overrides)


async def recv_json(ws, timeout: float = 5.0) -> dict:
    return json.loads(await asyncio.wait_for(ws.recv(), timeout))


async def rpc(ws, method: str, params: dict | None = None, request_id: str | int | None = "r1") -> dict:
    frame = {"jsonrpc": "2.0", "method": method, "params": params or {}}
    if request_id is not None:
        frame["id"] = request_id
    await ws.send(json.dumps(frame))
    while True:
        reply = await recv_json(ws)
        if reply.get("id") == request_id and ("result" in reply or "error" in reply):
            return reply


async def login(ws, user: str = "alice") -> str:
    reply = await rpc(ws, "login", {"login": user, "passwd": TEST_USERS[user][0]}, "login")
    return reply["result"]["sessid"]


async def still_serving(ws) -> bool:
    reply = await rpc(ws, "telnyx_rtc.ping", {}, "alive")
    return "result" in reply


def invite_params(sessid: str, call_id: str, destination: str = "echo", sdp: str | None = None) -> dict:
    return {
        "sessid": sessid,
        "sdp": static_sdp() if sdp is None else sdp,
        "dialogParams": {"callID": call_id, "destination_number": destination},
    }


# ------------------------------------------------------------------------------------------ who gets in


async def test_users_file_mode_refuses_a_token_minted_with_the_built_in_secret():
    async with Emulator(users_file_config()) as emu:
        assert emu.config.secret != OPEN_MODE_JWT_SECRET
        forged = mint_token("alice", OPEN_MODE_JWT_SECRET)  # what `rtcload emulator token alice` printed before
        async with connect(emu.url) as ws:
            reply = await rpc(ws, "login", {"login_token": forged})
            assert reply["error"]["code"] == -32001 and reply["error"]["data"]["reason"] == "bad token signature"
            reply = await rpc(ws, "login", {"login_token": emu.mint_token("alice")}, "ok")
            assert "sessid" in reply["result"]


def run_cli(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    environ = {k: v for k, v in os.environ.items() if k != "RTCLOAD_JWT_SECRET"}
    environ.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "rtcload", *args], capture_output=True, text=True, timeout=60, env=environ
    )


def test_cli_token_needs_the_emulators_secret(tmp_path):
    done = run_cli("emulator", "token", "alice")
    assert done.returncode == 2 and "needs the emulator's secret" in done.stderr and not done.stdout
    secret_file = tmp_path / "jwt.secret"
    secret_file.write_text("a-secret-of-at-least-sixteen-chars\n")
    by_file = run_cli("emulator", "token", "alice", "--jwt-secret-file", str(secret_file)).stdout.strip()
    by_env = run_cli("emulator", "token", "bob", env={"RTCLOAD_JWT_SECRET": "another-secret-long-enough"}).stdout
    from rtcload.emulator.auth import check_token

    assert check_token(by_file, "a-secret-of-at-least-sixteen-chars", UserDirectory.open_mode()).username == "alice"
    assert check_token(by_env.strip(), "another-secret-long-enough", UserDirectory.open_mode()).username == "bob"


async def test_anonymous_login_is_off_in_users_file_mode_unless_enabled():
    params = {"target_type": "ai_assistant", "target_id": "assistant-1"}
    async with Emulator(users_file_config()) as emu, connect(emu.url) as ws:
        reply = await rpc(ws, "anonymous_login", params)
        assert reply["error"]["data"]["reason"] == "anonymous login disabled"
        reply = await rpc(ws, "telnyx_rtc.invite", invite_params("x", str(uuid.uuid4()), "alice"), "ring")
        assert reply["error"]["code"] == -32000  # no session: cannot ring a registered user
    async with Emulator(users_file_config(allow_anonymous=True)) as emu, connect(emu.url) as ws:
        assert "sessid" in (await rpc(ws, "anonymous_login", params))["result"]


async def test_failed_logins_are_throttled_then_the_socket_is_closed():
    limits = Limits(auth_failures_before_backoff=2, auth_failures_before_close=6, auth_backoff_s=0.1)
    async with Emulator(users_file_config(limits=limits)) as emu, connect(emu.url) as ws:
        started = time.monotonic()
        for attempt in range(5):
            reply = await rpc(ws, "login", {"login": "alice", "passwd": f"guess-{attempt}"}, f"g{attempt}")
            assert reply["error"]["code"] == -32001
        # attempts 3..5 waited 0.1 + 0.2 + 0.4 s before their answers
        assert time.monotonic() - started >= 0.6
        await ws.send(json.dumps({"jsonrpc": "2.0", "id": "g6", "method": "login", "params": {"login": "alice"}}))
        await asyncio.wait_for(ws.wait_closed(), 10)
        assert ws.close_code == 1008
        assert emu.counters["refused_auth_failures"] == 1 and emu.counters["auth_throttled"] >= 3


async def test_control_token_guesses_are_throttled_then_the_socket_is_closed():
    limits = Limits(auth_failures_before_backoff=1, auth_failures_before_close=4, auth_backoff_s=0.05)
    async with Emulator(fast_config(control_token=CONTROL_TOKEN, limits=limits)) as emu:
        async with connect(emu.url) as ws:
            for attempt in range(3):
                reply = await rpc(ws, "rtcload.control", {"token": f"guess{attempt}", "action": "snapshot"}, attempt)
                assert reply["error"]["data"]["reason"] == "control refused"
            await ws.send(json.dumps({"jsonrpc": "2.0", "id": 9, "method": "rtcload.control", "params": {}}))
            await asyncio.wait_for(ws.wait_closed(), 10)
            assert ws.close_code == 1008
        async with connect(emu.url) as ws:  # the right token still works, on a fresh socket
            reply = await rpc(ws, "rtcload.control", {"token": CONTROL_TOKEN, "action": "snapshot"})
            assert "uptime_s" in reply["result"]


async def test_a_socket_that_never_logs_in_is_closed():
    async with Emulator(fast_config(limits=Limits(login_timeout_s=0.3))) as emu:
        async with connect(emu.url) as idle:
            await asyncio.wait_for(idle.wait_closed(), 10)
            assert idle.close_code == 1008
        async with connect(emu.url) as ws:
            await login(ws)
            await asyncio.sleep(0.6)  # well past the deadline: a logged-in socket stays
            assert await still_serving(ws)
        assert emu.counters["refused_login_timeout"] == 1


async def test_sockets_waiting_to_log_in_are_capped_and_the_refusals_counted():
    """At `max_unauthenticated_sockets` idle sockets a new one is closed at once (1013, a reason that says
    why); logged-in sockets do not count, so a socket that logs in makes room for the next."""
    async with Emulator(fast_config(limits=Limits(max_unauthenticated_sockets=3))) as emu:
        idle = [await connect(emu.url) for _ in range(3)]
        try:
            assert await still_serving(idle[0])  # admitted: answered (a ping before login gets an answer)
            async with connect(emu.url) as refused:
                await asyncio.wait_for(refused.wait_closed(), 10)
                assert refused.close_code == 1013
                assert refused.close_reason == "too many sockets not logged in; try again later"
            assert emu.counters["refused_unauthenticated_sockets"] == 1
            families = {f.name: f for f in text_string_to_metric_families(exposition(emu.metrics_registry).decode())}
            samples = {s.labels.get("limit"): s.value for s in families["rtcload_emulator_refused"].samples}
            assert samples["unauthenticated_sockets"] == 1
            await login(idle[0])  # no longer waiting: room for one more
            async with connect(emu.url) as admitted:
                assert await still_serving(admitted)
            for ws in idle[1:]:  # the waiting ones were never disturbed
                assert await still_serving(ws)
        finally:
            for ws in idle:
                await ws.close()


# ------------------------------------------------------------------------------------------ what it logs


async def test_malformed_frames_never_put_secrets_in_the_log(caplog):
    caplog.set_level(logging.DEBUG)
    async with Emulator(fast_config(control_token=CONTROL_TOKEN)) as emu, connect(emu.url) as ws:
        token = emu.mint_token("alice")
        for broken in (
            '{"jsonrpc":"2.0","id":1,"method":"login","params":{"login":"alice","passwd":"alice-pass"',
            '{"jsonrpc":"2.0","id":2,"method":"login","params":{"login_token":"' + token + '"',
            '{"jsonrpc":"2.0","id":3,"method":"rtcload.control","params":{"token":"' + CONTROL_TOKEN + '",',
            '{"id":4,"method":"login","params":{"p\\u0061sswd":"alice-pass"}}',  # valid JSON, not JSON-RPC
            '{"jsonrpc":"2.0","id":5,"method":"login","params":{"login":"alice","p\nsswd":"alice-pass"}}',
        ):
            await ws.send(broken)
            assert "error" in await recv_json(ws)
    assert "sent a bad frame" in caplog.text
    for secret in ("alice-pass", token, CONTROL_TOKEN, token.split(".")[1]):
        assert secret not in caplog.text


@pytest.mark.parametrize("password", ["method", "params", "telnyx_rtc.login", "telnyx_rtc.ping", "true", "2.0"])
async def test_a_password_equal_to_a_verto_word_never_reaches_the_log(caplog, password):
    """The skeleton of an unparseable frame keeps Verto's own words; a login frame keeps none, or a
    password that happens to be one ("method", "params") would be logged. Sent over a real socket, the
    frames are cut, corrupted (a flipped quote, a garbled key) or not JSON-RPC; the websockets DEBUG
    frame log and the emulator's bad-frame line both go through the skeleton."""
    caplog.set_level(logging.DEBUG)
    async with Emulator(fast_config()) as emu, connect(emu.url) as ws:
        whole = json.dumps(
            {"jsonrpc": "2.0", "id": 1, "method": "login", "params": {"login": "zed", "passwd": password}}
        )
        cut = whole[: whole.rindex(password) + len(password)]  # the value (a key may spell it too)
        for broken in (
            cut,  # truncated right after the password
            cut.replace('"', "C", 1),  # a flipped quote
            cut.replace("passwd", "p\nsswd"),  # a garbled key (a raw newline: not JSON either)
            cut.replace('"login"', '"l\\u006fgin"'),  # a JSON escape in a key
            whole.replace('"jsonrpc": "2.0", ', ""),  # valid JSON, not JSON-RPC
        ):
            await ws.send(broken)
            assert "error" in await recv_json(ws)
    # what the log shows of the frames the client sent: the emulator's bad-frame line (its frame part: the
    # error text is the emulator's own, e.g. "missing jsonrpc: '2.0'") and websockets' frame lines
    bad = [m[m.index(" ({") :] for m in (r.getMessage() for r in caplog.records) if "sent a bad frame" in m]
    frames = [
        r.getMessage()
        for r in caplog.records
        if (r.name == "websockets.client" and "> TEXT" in r.getMessage())
        or (r.name == "websockets.server" and "< TEXT" in r.getMessage())
    ]
    assert len(bad) == 5 and len(frames) == 10  # each frame, as sent and as received
    lines = bad + frames
    for line in lines:
        assert password not in re.findall(r"[\w.+/=@-]+", line), line


def test_a_login_frame_skeleton_shows_its_shape_and_no_word():
    frame = '{"jsonrpc":"2.0","id":1,"method":"login","params":{"login":"zed","passwd":"method"'
    assert short_frame(frame) == '{"***":"***","***":***,"***":"***","***":{"***":"***","***":"***"'
    other = '{"jsonrpc":"2.0","id":1,"method":"telnyx_rtc.bye","params":{"cause":"USER_BUSY"'
    assert short_frame(other) == '{"jsonrpc":"2.0","id":1,"method":"telnyx_rtc.bye","params":{"cause":"***"'
    for word in sorted(FRAME_VOCABULARY):  # every Verto word as a password, in a cut login frame
        cut = '{"jsonrpc":"2.0","id":1,"method":"login","params":{"login":"zed","passwd":"' + word + '"'
        assert word not in short_frame(cut, limit=10_000).split('"'), word


# ------------------------------------------------------------------------------------------ what it answers


async def test_deep_nesting_gets_a_parse_error_and_the_socket_stays(emulator, caplog):
    async with connect(emulator.url) as ws:
        for deep in (
            "[" * 50_000 + "]" * 50_000,
            '{"a":' * 30_000 + "1" + "}" * 30_000,
            '{"jsonrpc":"2.0","id":1,"method":"login","params":' + '{"x":' * 20_000 + "1" + "}" * 20_001,
            '{"jsonrpc":"2.0","id":1,"method":"login","params":{"x":' + "[" * 100 + "]" * 100 + "}}",
        ):
            await ws.send(deep)
            reply = await recv_json(ws)
            assert reply["error"]["code"] == -32700 and "nested deeper" in reply["error"]["data"]["reason"]
        assert await still_serving(ws)
    assert emulator.counters["internal_errors"] == 0 and "Traceback" not in caplog.text


async def test_notifications_get_no_reply(emulator):
    async with connect(emulator.url) as ws:
        await ws.send(
            json.dumps({"jsonrpc": "2.0", "method": "login", "params": {"login": "alice", "passwd": "alice-pass"}})
        )
        call_id = str(uuid.uuid4())
        sessid = (
            emulator.sessions_of("alice")[0].sessid
            if await emulator.wait_for(lambda: emulator.sessions_of("alice"), 5)
            else ""
        )
        await ws.send(
            json.dumps({"jsonrpc": "2.0", "method": "telnyx_rtc.invite", "params": invite_params(sessid, call_id)})
        )
        assert await emulator.wait_for(lambda: call_id in emulator.legs, 5)
        await ws.send(json.dumps({"jsonrpc": "2.0", "method": "telnyx_rtc.teleport", "params": {}}))
        await ws.send(json.dumps({"jsonrpc": "2.0", "id": "last", "method": "telnyx_rtc.ping", "params": {}}))
        seen = []
        while True:
            frame = await recv_json(ws)
            seen.append(frame)
            if frame.get("id") == "last":
                break
    replies = [f for f in seen if ("result" in f or "error" in f) and f.get("id") != "last"]
    assert replies == [], replies  # clientReady and ringing are requests from the server, not replies


async def test_garbage_candidate_answer_and_update_media_get_clean_errors(emulator, make_client):
    alice = await make_client("alice")
    bob = await make_client("bob")
    call = await alice.dial("bob")
    assert await emulator.wait_for(lambda: any(leg.direction == "inbound" for leg in emulator.legs.values()), 10)
    inbound = next(leg for leg in emulator.legs.values() if leg.direction == "inbound")
    bob_conn = inbound.session.conn
    assert bob_conn is not None
    # bob's own session speaks, through the real handler, with the replies captured on their way out
    from rtcload.protocol.jsonrpc import Request

    sent: list = []
    original = bob_conn.send

    async def capture(frame):
        sent.append(frame)
        return await original(frame)

    bob_conn.send = capture
    base = {"sessid": inbound.session.sessid, "dialogParams": {"callID": inbound.call_id}}
    for method, params in (
        ("telnyx_rtc.candidate", {**base, "candidate": "candidate:x 1 udp 1 127.0.0.999 70000 typ nonsense"}),
        ("telnyx_rtc.candidate", {**base, "candidate": ["not", "a", "string"]}),
        ("telnyx_rtc.answer", {**base, "sdp": "v=0\r\nthis is not sdp"}),
        ("telnyx_rtc.modify", {**base, "action": "updateMedia", "sdp": "garbage"}),
    ):
        await emulator.calls.handle(bob_conn, inbound.session, Request(method, params, f"id-{len(sent)}"))
    errors = [frame for frame in sent if hasattr(frame, "code")]
    assert [e.code for e in errors] == [-32602, -32602, -32602, -32602], sent
    for error in errors:
        assert "server error" not in error.message and "Traceback" not in error.message
    assert emulator.counters["internal_errors"] == 0
    assert not inbound.ended and not call.ended  # the good call survived every bad request
    await bob.answer(next(iter(bob.calls.values())))
    await call.wait_established(10)


async def test_update_media_with_a_bad_offer_keeps_the_calls_media():
    from rtcload.emulator.aiortc_answerer import AiortcAnswerer
    from rtcload.media.peer import CallMedia
    from rtcload.signaling import ClientConfig, PasswordCredentials, SignalingClient

    answerer = AiortcAnswerer(loopback_only=True)
    async with Emulator(fast_config(), answerer) as emu:
        client = SignalingClient(
            ClientConfig(url=emu.url, credentials=PasswordCredentials("alice", "alice-pass")),
            lambda: CallMedia("tone:440", settings=MediaSettings(codec="opus", stats_interval_s=0.5)),
        )
        await client.connect(timeout=20)
        try:
            call = await client.dial("echo")
            await call.wait_established(20)
            endpoint = answerer.endpoints[call.id]
            leg = emu.legs[call.id]
            from rtcload.protocol.jsonrpc import Request

            bad = Request(
                "telnyx_rtc.modify",
                {"action": "updateMedia", "sdp": "v=0\r\nnot an offer", "dialogParams": {"callID": call.id}},
                "u1",
            )
            await emu.calls.handle(leg.session.conn, leg.session, bad)
            assert answerer.endpoints.get(call.id) is endpoint  # not released
            assert not leg.ended and not call.ended
            assert await call.media.analyzer.wait_until(lambda a: a.detect_tone(440, 5), 20)  # still echoing
        finally:
            await client.close()


# ------------------------------------------------------------------------------------------ what it keeps


async def test_unknown_methods_and_free_text_bye_causes_are_not_keys(emulator, make_client):
    async with connect(emulator.url) as ws:
        for n in range(60):
            await rpc(ws, f"x{n}" + "m" * 2000, {}, n)
    assert emulator.counters["requests_other"] == 60
    assert not [k for k in emulator.counters if k.startswith("requests_x")]
    alice = await make_client("alice")
    for n in range(55):
        call = await alice.dial("echo")
        await call.wait_established(10)
        await call.hangup(cause=f"FREE TEXT {n}")
    assert not [k for k in emulator.counters if "FREE" in k]
    assert emulator.counters["calls_ended_OTHER"] == 55
    # the exposition stays valid: every (family, labels) once
    samples = [
        (s.name, tuple(sorted(s.labels.items())))
        for fam in text_string_to_metric_families(emulator_metrics(emulator))
        for s in fam.samples
    ]
    assert len(samples) == len(set(samples))


def emulator_metrics(emu) -> str:
    from rtcload.metrics.emulator_exporter import exposition

    return exposition(emu.metrics_registry).decode()


def test_prefixed_counter_overflow_is_one_other_sample():
    from rtcload.metrics.emulator_exporter import emulator_registry, exposition

    counters = {f"calls_ended_CAUSE_{n}": 1 for n in range(80)}
    text = exposition(emulator_registry(lambda: counters, dict)).decode()
    others = [line for line in text.splitlines() if 'cause="other"' in line]
    assert len(others) == 1 and others[0].endswith(" 30.0")


async def test_long_usernames_are_refused_and_the_login_log_is_bounded_in_bytes():
    limits = Limits(login_log_bytes=4096)
    async with Emulator(fast_config(limits=limits)) as emu, connect(emu.url) as ws:
        reply = await rpc(ws, "login", {"login": "u" * 200_000, "passwd": "x"})
        assert reply["error"]["data"]["reason"] == "login too long"
        for n in range(100):
            async with connect(emu.url) as other:
                await rpc(other, "login", {"login": f"user-{n:03d}-" + "n" * 200, "passwd": "x"})
        assert emu.login_log.bytes <= 4096 and len(emu.login_log) < 100
        assert emu.counters["refused_username_bytes"] == 1


async def test_call_reports_are_stored_raw_and_bounded_in_bytes():
    limits = Limits(call_report_bytes=50_000)
    crid = "crid-bounded"
    async with Emulator(fast_config(call_report_id=crid, http_front=True, limits=limits)) as emu:
        for n in range(5):
            body = json.dumps({"summary": {"callId": f"c{n}"}, "stats": [{"pad": "x" * 20_000}], "logs": []})
            status = await post_report(emu.port, body, {"x-call-report-id": crid, "x-call-id": f"c{n}"})
            assert status == 200
        assert all(isinstance(r, StoredReport) for r in emu.call_reports)
        assert emu.call_reports.bytes <= 50_000 and len(emu.call_reports) == 2
        assert emu.call_reports[-1]["report"]["summary"]["callId"] == "c4"
        nested = '{"summary":' + "[" * 50_000 + "]" * 50_000 + "}"
        assert await post_report(emu.port, nested, {"x-call-report-id": crid, "x-call-id": "c9"}) == 400


async def post_report(port: int, body: str, headers: dict[str, str]) -> int:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    head = ["POST /call_report HTTP/1.1", "Host: x", f"Content-Length: {len(body.encode())}"]
    head += [f"{k}: {v}" for k, v in headers.items()]
    writer.write(("\r\n".join(head) + "\r\n\r\n").encode() + body.encode())
    await writer.drain()
    status_line = await asyncio.wait_for(reader.readline(), 10)
    writer.close()
    return int(status_line.split()[1])


async def test_per_call_lists_and_calls_per_session_are_bounded():
    limits = Limits(max_leg_items=10, max_calls_per_session=2)
    async with Emulator(fast_config(limits=limits, noanswer_timeout_s=30)) as emu, connect(emu.url) as ws:
        sessid = await login(ws)
        call_ids = [str(uuid.uuid4()) for _ in range(3)]
        replies = [await rpc(ws, "telnyx_rtc.invite", invite_params(sessid, c, "noanswer"), c) for c in call_ids]
        assert ["result" in r for r in replies] == [True, True, False]
        assert "limit" in replies[2]["error"]["message"]
        dialog = {"callID": call_ids[0]}
        assert "result" in await rpc(ws, "telnyx_rtc.info", {"dtmf": "1234567890", "dialogParams": dialog}, "d1")
        over = await rpc(ws, "telnyx_rtc.info", {"dtmf": "1", "dialogParams": dialog}, "d2")
        assert over["error"]["code"] == -32602 and "10 DTMF" in over["error"]["message"]
        candidate = "candidate:1 1 udp 2130706431 127.0.0.1 5000 typ host"
        for n in range(10):
            await rpc(ws, "telnyx_rtc.candidate", {"candidate": candidate, "dialogParams": dialog}, f"c{n}")
        over = await rpc(ws, "telnyx_rtc.candidate", {"candidate": candidate, "dialogParams": dialog}, "c10")
        assert "error" in over
        assert len(emu.legs[call_ids[0]].dtmf) == 10 and len(emu.legs[call_ids[0]].candidates) == 10
        metrics = emulator_metrics(emu)
        assert 'rtcload_emulator_refused_total{limit="calls_per_session"} 1.0' in metrics
        assert 'rtcload_emulator_refused_total{limit="leg_items"} 2.0' in metrics


async def test_the_http_front_costs_one_descriptor_per_websocket():
    async with Emulator(fast_config(call_report_id="crid", http_front=True)) as emu:
        before = len(os.listdir("/proc/self/fd"))
        sockets = [await connect(emu.url) for _ in range(20)]
        try:
            for ws in sockets:
                await login(ws)
            opened = len(os.listdir("/proc/self/fd")) - before
        finally:
            for ws in sockets:
                await ws.close()
    # each WebSocket: the test's client socket + the emulator's one (was + 2 more through a loopback pipe)
    assert opened <= 20 * 2 + 4, opened


@pytest.mark.parametrize("mode", ["front", "plain"])
async def test_clients_still_log_in_and_call_through_either_listener(mode, make_client):
    config = fast_config(call_report_id="crid", http_front=True) if mode == "front" else fast_config()
    async with Emulator(config) as emu:
        alice = await make_client("alice", url=emu.url)
        call = await alice.dial("echo")
        await call.wait_established(10)
        await call.hangup()
        assert emu.counters["calls_answered"] == 1


async def test_users_file_emulator_without_a_secret_generates_one_and_says_how_to_mint(tmp_path):
    users = tmp_path / "users.csv"
    users.write_text("alice,alice-pass,+15550001001\n")
    environ = {k: v for k, v in os.environ.items() if k != "RTCLOAD_JWT_SECRET"}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "rtcload", "emulator", "--port", "0", "--users-file", str(users), "--media", "none",
        stdout=asyncio.subprocess.PIPE, env=environ,
    )  # fmt: skip
    try:
        url = (await asyncio.wait_for(proc.stdout.readline(), 30)).decode().split()[4]
        hint = (await asyncio.wait_for(proc.stdout.readline(), 10)).decode()
        secret_file = hint.split("--jwt-secret-file ")[1].split()[0]
        assert os.stat(secret_file).st_mode & 0o077 == 0  # only this user can read it
        minted = run_cli("emulator", "token", "alice", "--jwt-secret-file", secret_file).stdout.strip()
        async with connect(url) as ws:
            assert "sessid" in (await rpc(ws, "login", {"login_token": minted}))["result"]
            forged = await rpc(ws, "login", {"login_token": mint_token("alice", OPEN_MODE_JWT_SECRET)}, "f")
            assert forged["error"]["data"]["reason"] == "bad token signature"
    finally:
        proc.terminate()
        await proc.wait()
    assert not os.path.exists(secret_file)  # the secret dies with the run
