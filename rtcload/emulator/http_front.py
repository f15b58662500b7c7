"""An HTTP front on the emulator's port, so `POST /call_report` works where the SDK sends it.

The `websockets` server rejects every non-GET request before `process_request` runs, so this
front accepts on the public port itself: it reads the request head, answers OPTIONS (CORS
preflight) and POST /call_report itself, and hands every GET (WebSocket upgrades, /healthz,
/metrics) to the websockets server as an already-accepted socket, the head it read replayed
first. One file descriptor per client: an earlier front piped each GET to a private loopback
port, which cost three (the client's socket, the pipe's, and the internal server's end of it).
Opt-in (`EmulatorConfig.http_front`): the default emulator path never goes through here.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import socket
from collections import Counter
from collections.abc import Callable
from typing import Any, Protocol

from websockets.asyncio.server import Server, ServerConnection
from websockets.server import ServerProtocol

from rtcload.emulator.bounded import ReportStore, StoredReport
from rtcload.emulator.config import EmulatorConfig
from rtcload.protocol.jsonrpc import FrameError, loads_bounded

log = logging.getLogger("rtcload.emulator")

MAX_HEAD_BYTES = 64 * 1024
MAX_REPORT_BYTES = 4 * 1024 * 1024  # the SDK flushes near 2 MB
CORS_HEADERS = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Allow-Methods": "POST, OPTIONS",
    "Access-Control-Allow-Headers": "content-type, x-call-report-id, x-call-id, x-voice-sdk-id",
    "Access-Control-Max-Age": "600",
}


def validate_report(body: Any, headers: dict[str, str], call_report_id: str | None) -> str | None:
    """None if the report has the SDK's shape and matching headers, else why not."""
    if call_report_id is not None and headers.get("x-call-report-id") != call_report_id:
        return "x-call-report-id missing or unknown"
    if not headers.get("x-call-id"):
        return "x-call-id missing"
    if not isinstance(body, dict):
        return "body is not a JSON object"
    summary = body.get("summary")
    if not isinstance(summary, dict):
        return "summary missing"
    if not isinstance(summary.get("callId"), str) or not summary["callId"]:
        return "summary.callId missing"
    if summary["callId"] != headers.get("x-call-id"):
        return "summary.callId does not match x-call-id"
    for key in ("stats", "logs"):
        if key in body and not isinstance(body[key], list):
            return f"{key} is not a list"
    if "stats" not in body:
        return "stats missing"
    return None


def json_bytes(payload: dict[str, Any]) -> bytes:
    return json.dumps(payload).encode()


class ReportSink(Protocol):
    """What the front needs from the emulator (`server.Emulator`): where accepted reports go."""

    config: EmulatorConfig
    counters: Counter[str]
    call_reports: ReportStore

    def changed(self) -> None: ...


class _HandedOver(ServerConnection):
    """A websockets connection on a socket the front accepted: the bytes the front already read come first."""

    def __init__(self, already_read: bytes, protocol: ServerProtocol, server: Server, **kwargs: Any) -> None:
        super().__init__(protocol, server, **kwargs)
        self._already_read = already_read

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        if self._already_read:
            self.data_received(self._already_read)
            self._already_read = b""


def websocket_factory(server: Server, max_size: int) -> Callable[[bytes], ServerConnection]:
    """Connections for `server` (built by `websockets.serve`), as its own listener would make them."""

    def make(already_read: bytes) -> ServerConnection:
        return _HandedOver(already_read, ServerProtocol(max_size=max_size), server, ping_interval=None)

    return make


class HttpFront:
    """Public listener in front of the websockets server (see module doc)."""

    def __init__(self, emulator: ReportSink, make_websocket: Callable[[bytes], ServerConnection]) -> None:
        self.emu = emulator
        self.make_websocket = make_websocket
        self._listener: socket.socket | None = None
        self._accepting: asyncio.Task[None] | None = None
        self._conns: set[asyncio.Task[Any]] = set()

    async def start(self, host: str, port: int) -> HttpFront:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self._listener = socket.create_server((host, port), family=family, backlog=1024)
        self._listener.setblocking(False)
        self._accepting = asyncio.create_task(self._accept_loop(self._listener), name="http-front-accept")
        return self

    @property
    def port(self) -> int:
        assert self._listener is not None
        return int(self._listener.getsockname()[1])

    async def stop(self) -> None:
        if self._accepting is not None:
            self._accepting.cancel()
            with contextlib.suppress(BaseException):
                await self._accepting
        if self._listener is not None:
            self._listener.close()
        for task in list(self._conns):
            task.cancel()
        for task in list(self._conns):
            with contextlib.suppress(BaseException):
                await task

    async def _accept_loop(self, listener: socket.socket) -> None:
        loop = asyncio.get_running_loop()
        while True:
            try:
                sock, _addr = await loop.sock_accept(listener)
            except OSError as exc:  # EMFILE and friends: wait, do not spin
                log.warning("http front: accept failed: %s", exc)
                await asyncio.sleep(0.1)
                continue
            task = asyncio.create_task(self._handle(sock), name="http-front-conn")
            self._conns.add(task)
            task.add_done_callback(self._conns.discard)

    async def _read_head(self, sock: socket.socket) -> tuple[bytes, bytes]:
        """The request head (through the blank line) and whatever of the body came with it."""
        loop = asyncio.get_running_loop()
        data = b""
        while b"\r\n\r\n" not in data:
            if len(data) > MAX_HEAD_BYTES:
                raise ValueError("request head too large")
            chunk = await loop.sock_recv(sock, 65536)
            if not chunk:
                raise ConnectionError("closed before the request head ended")
            data += chunk
        end = data.index(b"\r\n\r\n") + 4
        return data[:end], data[end:]

    async def _handle(self, sock: socket.socket) -> None:
        loop = asyncio.get_running_loop()
        handed_over = False
        writer: asyncio.StreamWriter | None = None
        try:
            head, rest = await asyncio.wait_for(self._read_head(sock), 30)
            if head.startswith(b"GET "):
                # the websockets server takes the socket itself, with the bytes read so far replayed
                connection = self.make_websocket(head + rest)
                await loop.connect_accepted_socket(lambda: connection, sock)
                handed_over = True
                return
            reader = asyncio.StreamReader(limit=MAX_HEAD_BYTES)
            reader.feed_data(rest)
            protocol = asyncio.StreamReaderProtocol(reader)
            transport, _ = await loop.connect_accepted_socket(lambda: protocol, sock)
            handed_over = True
            writer = asyncio.StreamWriter(transport, protocol, reader, loop)
            await self._serve(head, reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError, ValueError):
            pass
        finally:
            if writer is not None:
                writer.close()
                with contextlib.suppress(Exception):
                    await writer.wait_closed()
            elif not handed_over:
                sock.close()

    async def _serve(self, head: bytes, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        request_line, *header_lines = head.decode("latin-1").split("\r\n")
        method, _, rest = request_line.partition(" ")
        path = rest.rsplit(" ", 1)[0].split("?", 1)[0]
        headers: dict[str, str] = {}
        for line in header_lines:
            name, sep, value = line.partition(":")
            if sep:
                headers[name.strip().lower()] = value.strip()
        if method == "OPTIONS":
            self.emu.counters["call_report_preflights"] += 1
            await self._respond(writer, 204, None)
        elif method == "POST" and path == "/call_report":
            await self._call_report(reader, writer, headers)
        else:
            await self._respond(writer, 405 if path == "/call_report" else 404, {"error": "not found"})

    async def _call_report(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, headers: dict[str, str]):
        try:
            length = int(headers.get("content-length", "-1"))
        except ValueError:
            length = -1
        if length < 0 or length > MAX_REPORT_BYTES:
            self._count(False)
            await self._respond(writer, 413 if length > 0 else 411, {"error": "bad content-length"})
            return
        raw = await asyncio.wait_for(reader.readexactly(length), 30)
        try:
            body = loads_bounded(raw)
        except FrameError:
            body = None  # not JSON, or nested past any report's shape: a 400 like any other bad body
        problem = validate_report(body, headers, self.emu.config.call_report_id)
        self._count(problem is None)
        if problem is not None:
            await self._respond(writer, 400, {"error": problem})
            return
        stored = StoredReport({k: v for k, v in headers.items() if k.startswith("x-")}, bytes(raw))
        if not self.emu.call_reports.append(stored):
            self.emu.counters["refused_call_report_bytes"] += 1
        self.emu.changed()
        await self._respond(writer, 200, {"ok": True})

    def _count(self, accepted: bool) -> None:
        if accepted:
            self.emu.counters["call_reports"] += 1
        self.emu.counters["call_reports_accepted" if accepted else "call_reports_rejected"] += 1

    async def _respond(self, writer: asyncio.StreamWriter, status: int, payload: dict[str, Any] | None) -> None:
        reason = {200: "OK", 204: "No Content", 400: "Bad Request", 404: "Not Found", 405: "Method Not Allowed",
                  411: "Length Required", 413: "Payload Too Large", 431: "Request Header Fields Too Large"}  # fmt: skip
        body = b"" if payload is None else json_bytes(payload)
        lines = [f"HTTP/1.1 {status} {reason.get(status, 'Error')}", "Server: rtcload-emulator", "Connection: close"]
        lines += [f"{k}: {v}" for k, v in CORS_HEADERS.items()]
        if payload is not None:
            lines += ["Content-Type: application/json", f"Content-Length: {len(body)}"]
        writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body)
        await writer.drain()
