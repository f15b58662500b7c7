"""End-of-call reports uploaded the way the JS SDK does (protocol.md C.10.2), so load tests also
load the platform's stats pipeline.

Only when REGED carried `call_report_id`: POST `http(s)://<ws host:port>/call_report` with
`x-call-report-id`, `x-call-id`, `x-voice-sdk-id`, retried after 0.5/1/2 s on non-2xx or network
errors. Plain asyncio streams (HTTP/1.1, Connection: close): no new dependency, no thread.
Opt-in: attach a `CallReporter` to a client; `sample_rate` picks a share of calls.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
import ssl
import time
from collections import Counter
from dataclasses import asdict, dataclass, is_dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from rtcload.signaling.events import EventKind, SignalingEvent
from rtcload.signaling.media_port import MediaPort, ReportedMedia

log = logging.getLogger("rtcload.call_report")

RETRY_DELAYS_S = (0.5, 1.0, 2.0)
SDK_VERSION = "2.27.10"  # the SDK whose report shape this follows
MEDIA_CLOSE_WAIT_S = 5.0


def report_url(ws_url: str) -> str:
    """ws://h:p/path -> http://h:p/call_report (wss -> https; the WS path is dropped)."""
    parts = urlsplit(ws_url)
    scheme = "https" if parts.scheme in ("wss", "https") else "http"
    return f"{scheme}://{parts.netloc}/call_report"


def _utc(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _plain(value: Any) -> Any:
    return asdict(value) if is_dataclass(value) and not isinstance(value, type) else value


def build_report(call: Any, media_report: Any, auth_type: str, ended_wall: float) -> dict[str, Any]:
    """The SDK's body: summary (with clientSummary), stats intervals, logs."""
    timings = call.timings
    start_mono = timings.invite_sent or timings.inbound_invite or timings.answered or timings.ended or time.monotonic()
    end_mono = timings.ended or time.monotonic()
    offset = ended_wall - end_mono  # monotonic -> wall clock
    dialog = call.dialog
    stats: list[dict[str, Any]] = []
    report = media_report if isinstance(media_report, ReportedMedia) else None  # None: signaling-only media
    samples = list(report.samples if report is not None else [])
    final = report.stats if report is not None else None
    if final is not None and (not samples or final.at > samples[-1].at):
        samples.append(final)  # the close-time getStats closes the last interval
    previous_at = start_mono
    for sample in samples:
        stats.append(
            {
                "intervalStartUtc": _utc(previous_at + offset),
                "intervalEndUtc": _utc(sample.at + offset),
                "audio": {
                    "outbound": {"packetsSent": sample.packets_sent, "bytesSent": sample.bytes_sent,
                                 "audioLevel": sample.local_level},
                    "inbound": {"packetsReceived": sample.packets_received, "packetsLost": sample.packets_lost,
                                "jitter": sample.jitter_s, "audioLevel": sample.inbound_level},
                },
                "connection": {"roundTripTime": sample.rtt_s, "bytesReceived": sample.bytes_received},
                "ice": {},
                "transport": {},
            }
        )  # fmt: skip
        previous_at = sample.at
    ice = report.ice if report is not None else None
    media_summary: dict[str, Any] = {}
    if report is not None:
        media_summary = {
            "codec": report.codec,
            "connected": report.connected,
            "firstAudioSeconds": report.first_audio_s,
            "oneWay": report.one_way,
        }
    connection: dict[str, Any] = {}
    if ice is not None:
        connection = {
            "localCandidateType": ice.selected_local_type,
            "remoteCandidateType": ice.selected_remote_type,
            "gatheringSeconds": ice.gathering_s,
            "candidates": ice.local_candidates,
            "turn": [_plain(a) for a in ice.turn],
            "warnings": [w.code for w in ice.warnings],
        }
    logs = [
        {"timestamp": _utc(ended_wall), "level": "info", "message": "call ended",
         "context": {"cause": call.cause, "causeCode": call.cause_code, "endedBy": str(call.ended_by)}},
    ]  # fmt: skip
    return {
        "summary": {
            "callId": call.id,
            "destinationNumber": dialog.destination_number,
            "callerNumber": dialog.caller_id_number,
            "direction": str(call.direction.value),
            "state": "destroy",
            "telnyxSessionId": dialog.telnyx.session_id,
            "telnyxLegId": dialog.telnyx.leg_id,
            "sdkVersion": SDK_VERSION,
            "durationSeconds": round(max(0.0, end_mono - start_mono), 3),
            "startTimestamp": _utc(start_mono + offset),
            "endTimestamp": _utc(end_mono + offset),
            "clientSummary": {
                "authentication": {"type": auth_type},
                "connection": connection,
                "media": media_summary,
                "callReports": {"intervals": len(stats)},
            },
        },
        "stats": stats,
        "logs": logs,
    }


@dataclass(frozen=True)
class UploadResult:
    call_id: str
    status: int | None  # last HTTP status (None = network error on every attempt)
    attempts: int
    ok: bool
    error: str | None = None


async def post_json(
    url: str, body: bytes, headers: dict[str, str], timeout: float = 5.0, ssl_context: ssl.SSLContext | None = None
) -> int:
    """One HTTP/1.1 POST over asyncio streams; returns the status code."""
    parts = urlsplit(url)
    https = parts.scheme == "https"
    port = parts.port or (443 if https else 80)
    host = parts.hostname or "127.0.0.1"
    context = (ssl_context or ssl.create_default_context()) if https else None

    async def exchange() -> int:
        reader, writer = await asyncio.open_connection(host, port, ssl=context)
        try:
            lines = [f"POST {parts.path or '/'} HTTP/1.1", f"Host: {parts.netloc}", f"Content-Length: {len(body)}",
                     "Connection: close"]  # fmt: skip
            lines += [f"{k}: {v}" for k, v in headers.items()]
            writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body)
            await writer.drain()
            status_line = await reader.readline()
            fields = status_line.decode("latin-1").split(" ", 2)
            if len(fields) < 2 or not fields[1].isdigit():
                raise ConnectionError(f"bad HTTP status line {status_line[:80]!r}")
            with contextlib.suppress(Exception):
                await reader.read()  # drain until close
            return int(fields[1])
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    return await asyncio.wait_for(exchange(), timeout)


async def upload(
    url: str,
    report: dict[str, Any],
    call_report_id: str,
    call_id: str,
    voice_sdk_id: str | None,
    retry_delays: tuple[float, ...] = RETRY_DELAYS_S,
    ssl_context: ssl.SSLContext | None = None,
) -> UploadResult:
    """POST with the SDK's headers, retrying after each of `retry_delays` on non-2xx or errors."""
    headers = {"Content-Type": "application/json", "x-call-report-id": call_report_id, "x-call-id": call_id}
    if voice_sdk_id:
        headers["x-voice-sdk-id"] = voice_sdk_id
    body = json.dumps(report, default=str).encode()
    status: int | None = None
    error: str | None = None
    attempts = 0
    for delay in (0.0, *retry_delays):
        if delay:
            await asyncio.sleep(delay)  # the SDK's retry back-off, not synchronisation
        attempts += 1
        try:
            status = await post_json(url, body, headers, ssl_context=ssl_context)
            error = None if 200 <= status < 300 else f"HTTP {status}"
        except (OSError, TimeoutError, ConnectionError) as exc:
            status, error = None, f"{type(exc).__name__}: {exc}"
        if error is None:
            return UploadResult(call_id, status, attempts, True)
    return UploadResult(call_id, status, attempts, False, error)


class CallReporter:
    """Uploads each ended call's report for one SignalingClient (attach once; close() drains)."""

    def __init__(
        self,
        client: Any,
        enabled: bool = True,
        sample_rate: float = 1.0,
        retry_delays: tuple[float, ...] = RETRY_DELAYS_S,
        rng: random.Random | None = None,
    ) -> None:
        self.client = client
        self.enabled = enabled
        self.sample_rate = sample_rate
        self.retry_delays = retry_delays
        self.rng = rng or random.Random()
        self.results: list[UploadResult] = []
        self.counts: Counter[str] = Counter()  # sent, failed, sampled_out, no_report_id
        self._tasks: set[asyncio.Task[None]] = set()
        client.events.subscribe(self._on_event)

    def _on_event(self, event: SignalingEvent) -> None:
        if event.kind is not EventKind.CALL_ENDED or not self.enabled:
            return
        call = self.client.calls.get(event.call_id)  # still registered while CALL_ENDED is emitted
        if call is None:
            return
        if not self.client.call_report_id:
            self.counts["no_report_id"] += 1  # like the SDK: stats collected, nothing uploaded
            return
        if self.rng.random() >= self.sample_rate:
            self.counts["sampled_out"] += 1
            return
        task = asyncio.ensure_future(self._send(call, call.media, time.time()))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _send(self, call: Any, media: Any, ended_wall: float) -> None:
        media_report = None
        if isinstance(media, MediaPort):
            with contextlib.suppress(Exception):
                media_report = await asyncio.wait_for(media.close(), MEDIA_CLOSE_WAIT_S)  # idempotent
        credentials = type(self.client.config.credentials).__name__
        auth_type = {"PasswordCredentials": "login_password", "TokenCredentials": "login_token"}.get(
            credentials, "anonymous"
        )
        report = build_report(call, media_report, auth_type, ended_wall)
        ssl_context = self.client.ssl_context() if hasattr(self.client, "ssl_context") else None
        result = await upload(
            report_url(self.client.config.url),
            report,
            self.client.call_report_id,
            call.id,
            self.client.voice_sdk_id,
            self.retry_delays,
            ssl_context,
        )
        self.results.append(result)
        self.counts["sent" if result.ok else "failed"] += 1
        if not result.ok:
            log.warning("call %s: call report upload failed after %d attempts: %s", call.id, result.attempts,
                        result.error)  # fmt: skip

    async def drain(self, timeout: float = 10.0) -> bool:
        """Wait for pending uploads (the SDK's disconnect waits up to 10 s); False if some remain."""
        pending = list(self._tasks)
        if not pending:
            return True
        _done, still = await asyncio.wait(pending, timeout=timeout)
        return not still
