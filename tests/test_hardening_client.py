"""The client against a misbehaving platform (issue 16): every failure names its cause, never a traceback.

A small hostile server (a real websockets server on loopback, scripted per test) plays the platform;
`rtcload call` runs as a real process against it, as a user would run it.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import sys
from collections.abc import Awaitable, Callable

import pytest
from websockets.asyncio.server import ServerConnection, serve

from rtcload.protocol.sdp import static_sdp
from rtcload.signaling import ClientConfig, PasswordCredentials, SignalingClient

Script = Callable[[ServerConnection], Awaitable[None]]
SECRET = "hunter2-password-of-the-test"


async def next_request(ws: ServerConnection) -> dict:
    while True:
        frame = json.loads(await ws.recv())
        if "method" in frame:
            return frame


def result(request: dict, body: dict) -> str:
    return json.dumps({"jsonrpc": "2.0", "id": request["id"], "result": body})


def reged(request_id: str | None = None, **extra: str) -> str:
    params = {"state": "REGED", **extra}
    if request_id is None:
        return json.dumps({"jsonrpc": "2.0", "id": "srv-1", "method": "telnyx_rtc.gatewayState", "params": params})
    return json.dumps({"jsonrpc": "2.0", "id": request_id, "result": {"params": params, "sessid": "S1"}})


async def login_ok(ws: ServerConnection, **reged_extra: str) -> None:
    """The platform's happy login: result, clientReady, then REGED for the gatewayState query."""
    login = await next_request(ws)
    await ws.send(result(login, {"message": "logged in", "sessid": "S1"}))
    await ws.send(json.dumps({"jsonrpc": "2.0", "id": "cr", "method": "telnyx_rtc.clientReady", "params": {}}))
    query = await next_request(ws)
    await ws.send(reged(query["id"], **reged_extra))


class Hostile:
    def __init__(self, script: Script) -> None:
        self.script = script
        self.url = ""

    async def __aenter__(self) -> Hostile:
        async def handler(ws: ServerConnection) -> None:
            try:
                await self.script(ws)
                await ws.wait_closed()
            except Exception:  # the client hung up mid-script: fine
                pass

        self._server = await serve(handler, "127.0.0.1", 0, max_size=None, ping_interval=None)
        self.url = f"ws://127.0.0.1:{next(iter(self._server.sockets)).getsockname()[1]}/"
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._server.close()
        await self._server.wait_closed()


async def rtcload_call(url: str, *extra: str, media: bool = False) -> tuple[int, str, str]:
    args = ["-m", "rtcload", "-vv", "call", "--target", url, "--login", "alice", "--timeout", "4", "--duration", "1"]
    args += [] if media else ["--media", "none"]
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        *args,
        *extra,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "RTCLOAD_PASSWORD": SECRET},
    )
    out, err = await asyncio.wait_for(proc.communicate(), 90)
    return proc.returncode or 0, out.decode(), err.decode()


def failure_line(stdout: str) -> str:
    (line,) = [line for line in stdout.splitlines() if line.startswith("FAILED")]
    return line


def assert_clean_failure(code: int, out: str, err: str) -> str:
    assert code != 0
    assert "Traceback" not in out + err
    assert SECRET not in out + err  # -vv logs every frame: the password is masked in all of them
    return failure_line(out)


async def test_login_that_never_returns_amid_garbage_frames_names_both():
    async def script(ws):
        await next_request(ws)  # the login: never answered
        for _ in range(3):
            await ws.send('{"jsonrpc": "2.0", "result": {broken')

    async with Hostile(script) as server:
        line = assert_clean_failure(*await rtcload_call(server.url))
    assert "[alice]" in line and "never answered the login" in line
    assert "3 unusable frame(s)" in line and "-32700" in line


async def test_a_1009_close_names_the_oversized_frame():
    async def script(ws):
        await next_request(ws)
        await ws.send("x" * (2 << 20))  # over the client's 1 MiB max_frame_bytes

    async with Hostile(script) as server:
        line = assert_clean_failure(*await rtcload_call(server.url))
    assert "larger than max_frame_bytes" in line and "1009" in line
    assert "socket closed (auto_reconnect off)" not in line.replace("1009", "")


async def test_deeply_nested_frame_is_a_named_parse_error_not_a_dead_reader(caplog):
    async def script(ws):
        await next_request(ws)
        await ws.send("[" * 100_000 + "]" * 100_000)
        await ws.close(4000, "done")

    async with Hostile(script) as server:
        line = assert_clean_failure(*await rtcload_call(server.url))
    assert "nested deeper" in line and "code 4000" in line


async def test_server_close_names_code_and_reason():
    async def script(ws):
        await next_request(ws)
        await ws.close(4003, "maintenance")

    async with Hostile(script) as server:
        line = assert_clean_failure(*await rtcload_call(server.url))
    assert "closed the socket with code 4003 'maintenance'" in line


async def test_answer_with_broken_sdp_names_the_sdp_not_just_user_busy():
    async def script(ws):
        await login_ok(ws)
        invite = await next_request(ws)
        call_id = invite["params"]["dialogParams"]["callID"]
        await ws.send(result(invite, {"message": "CALL CREATED", "callID": call_id, "sessid": "S1"}))
        answer = {"callID": call_id, "sdp": "v=0\r\nthis is not an sdp\r\n"}
        await ws.send(json.dumps({"jsonrpc": "2.0", "id": "a1", "method": "telnyx_rtc.answer", "params": answer}))
        while True:
            await next_request(ws)  # the bye

    async with Hostile(script) as server:
        line = assert_clean_failure(*await rtcload_call(server.url, media=True))
    assert "[alice][call " in line and "remote SDP rejected" in line


async def test_reged_before_the_login_result_is_ignored_not_an_assert():
    async def script(ws):
        login = await next_request(ws)
        await ws.send(reged())  # too early: no sessid yet
        await asyncio.sleep(0.5)
        await ws.send(result(login, {"message": "logged in", "sessid": "S1"}))
        await ws.send(json.dumps({"jsonrpc": "2.0", "id": "cr", "method": "telnyx_rtc.clientReady", "params": {}}))
        query = await next_request(ws)
        await ws.send(reged(query["id"]))
        invite = await next_request(ws)
        call_id = invite["params"]["dialogParams"]["callID"]
        await ws.send(result(invite, {"message": "CALL CREATED", "callID": call_id, "sessid": "S1"}))
        answer = {"callID": call_id, "sdp": static_sdp()}
        await ws.send(json.dumps({"jsonrpc": "2.0", "id": "a1", "method": "telnyx_rtc.answer", "params": answer}))
        bye = await next_request(ws)
        await ws.send(result(bye, {"message": "CALL ENDED", "callID": call_id, "sessid": "S1"}))

    async with Hostile(script) as server:
        code, out, err = await rtcload_call(server.url)
    assert code == 0 and "Traceback" not in out + err, out + err
    assert "FAILED" not in out


async def test_call_report_id_that_could_inject_headers_is_refused():
    async def script(ws):
        await login_ok(ws, call_report_id="abc\r\nX-Injected: 1")

    async with Hostile(script) as server:
        client = SignalingClient(ClientConfig(url=server.url, credentials=PasswordCredentials("alice", SECRET)))
        try:
            await client.connect(timeout=10)
            assert client.call_report_id is None
        finally:
            await client.close()


async def test_client_never_logs_secrets_of_malformed_frames(caplog):
    caplog.set_level(logging.DEBUG)
    token = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJlLW9mLXRoZS10ZXN0"

    async def script(ws):
        await login_ok(ws)
        await ws.send('{"jsonrpc":"2.0","id":"x","method":"telnyx_rtc.ping","params":{"passwd":"' + SECRET)
        await ws.send('{"jsonrpc":"2.0","id":"y","result":{"login_token":"' + token + '"},"x":[}')
        await ws.send(json.dumps({"jsonrpc": "2.0", "id": "z", "method": "telnyx_rtc.ping", "params": {}}))

    async with Hostile(script) as server:
        client = SignalingClient(ClientConfig(url=server.url, credentials=PasswordCredentials("alice", SECRET)))
        try:
            await client.connect(timeout=10)
            for _ in range(50):
                if caplog.text.count("unparseable frame") >= 2:
                    break
                await asyncio.sleep(0.05)
        finally:
            await client.close()
    assert caplog.text.count("unparseable frame") >= 2
    assert SECRET not in caplog.text and token not in caplog.text and token.split(".")[2] not in caplog.text


@pytest.mark.parametrize("target", ["ws://127.0.0.1:9/"])
async def test_unreachable_target_is_one_line_and_nonzero(target):
    line = assert_clean_failure(*await rtcload_call(target))
    assert "127.0.0.1:9" in line
