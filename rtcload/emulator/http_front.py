"""An HTTP front on the emulator's port, so `POST /call_report` works where the SDK sends it.

The `websockets` server rejects every non-GET request before `process_request` runs, so a plain
asyncio TCP server takes the public port: it reads the request head, answers OPTIONS (CORS
preflight) and POST /call_report itself, and hands every GET (WebSocket upgrades, /healthz,
/metrics) byte-for-byte to the internal websockets server on a private loopback port.
Opt-in (`EmulatorConfig.http_front`): the default emulator path never goes through here.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import json
import logging
from collections import Counter
from typing import Any, Protocol

from rtcload.emulator.config import EmulatorConfig

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


class ReportSink(Protocol):
    """What the front needs from the emulator (`server.Emulator`): where accepted reports go."""

    config: EmulatorConfig
    counters: Counter[str]
    call_reports: collections.deque[dict[str, Any]]

    def changed(self) -> None: ...


class HttpFront:
    """Public listener in front of the internal websockets server (see module doc)."""

    def __init__(self, emulator: ReportSink, internal_port: int) -> None:
        self.emu = emulator
        self.internal_port = internal_port
        self._server: asyncio.Server | None = None
        self._conns: set[asyncio.Task[Any]] = set()

    async def start(self, host: str, port: int) -> HttpFront:
        self._server = await asyncio.start_server(self._handle, host, port)
        return self

    @property
    def port(self) -> int:
        assert self._server is not None
        return int(self._server.sockets[0].getsockname()[1])

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
        for task in list(self._conns):
            task.cancel()
        for task in list(self._conns):
            with contextlib.suppress(BaseException):
                await task

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._conns.add(task)
        try:
            await self._serve(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError):
            pass
        finally:
            if task is not None:
                self._conns.discard(task)
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 30)
        if len(head) > MAX_HEAD_BYTES:
            await self._respond(writer, 431, {"error": "request head too large"})
            return
        request_line, *header_lines = head.decode("latin-1").split("\r\n")
        method, _, rest = request_line.partition(" ")
        path = rest.rsplit(" ", 1)[0].split("?", 1)[0]
        headers: dict[str, str] = {}
        for line in header_lines:
            name, sep, value = line.partition(":")
            if sep:
                headers[name.strip().lower()] = value.strip()
        if method == "GET":
            await self._proxy(head, reader, writer)
        elif method == "OPTIONS":
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
            body = json.loads(raw)
        except ValueError:
            body = None
        problem = validate_report(body, headers, self.emu.config.call_report_id)
        self._count(problem is None)
        if problem is not None:
            await self._respond(writer, 400, {"error": problem})
            return
        self.emu.call_reports.append(
            {"headers": {k: v for k, v in headers.items() if k.startswith("x-")}, "report": body}
        )
        self.emu.changed()
        await self._respond(writer, 200, {"ok": True})

    def _count(self, accepted: bool) -> None:
        if accepted:
            self.emu.counters["call_reports"] += 1
        self.emu.counters["call_reports_accepted" if accepted else "call_reports_rejected"] += 1

    async def _respond(self, writer: asyncio.StreamWriter, status: int, payload: dict[str, Any] | None) -> None:
        reason = {200: "OK", 204: "No Content", 400: "Bad Request", 404: "Not Found", 405: "Method Not Allowed",
                  411: "Length Required", 413: "Payload Too Large", 431: "Request Header Fields Too Large"}  # fmt: skip
        body = b"" if payload is None else json.dumps(payload).encode()
        lines = [f"HTTP/1.1 {status} {reason.get(status, 'Error')}", "Server: rtcload-emulator", "Connection: close"]
        lines += [f"{k}: {v}" for k, v in CORS_HEADERS.items()]
        if payload is not None:
            lines += ["Content-Type: application/json", f"Content-Length: {len(body)}"]
        writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body)
        await writer.drain()

    async def _proxy(self, head: bytes, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.internal_port)
        up_writer.write(head)

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            try:
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            finally:
                with contextlib.suppress(Exception):
                    dst.write_eof()

        try:
            tasks = [asyncio.ensure_future(pipe(reader, up_writer)), asyncio.ensure_future(pipe(up_reader, writer))]
            # a side that ends cleanly half-closes the other; a side that fails tears both down
            await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
        finally:
            for task in tasks:
                task.cancel()
            up_writer.close()
            with contextlib.suppress(Exception):
                await up_writer.wait_closed()
