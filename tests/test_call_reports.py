"""Call reports: the client uploads the SDK-shaped report; the emulator's HTTP front accepts it."""

from __future__ import annotations

import asyncio
import json
import urllib.error
import urllib.request

from rtcload.emulator import Emulator
from rtcload.emulator.aiortc_answerer import AiortcAnswerer
from rtcload.media.loopback import use_loopback_only
from rtcload.media.media_settings import MediaSettings
from rtcload.media.peer import CallMedia
from rtcload.signaling import ClientConfig, PasswordCredentials, SignalingClient
from rtcload.signaling.call_report import CallReporter, post_json, report_url, upload
from tests.conftest import fast_config

use_loopback_only()
CRID = "crid-123"


def http(method: str, url: str, body: bytes | None = None, headers: dict[str, str] | None = None):
    request = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read()


async def test_client_uploads_sdk_shaped_report_after_a_media_call():
    async with Emulator(fast_config(call_report_id=CRID, http_front=True), AiortcAnswerer(loopback_only=True)) as emu:
        client = SignalingClient(
            ClientConfig(url=emu.url, credentials=PasswordCredentials("alice", "alice-pass")),
            lambda: CallMedia("tone:440", settings=MediaSettings(codec="opus", stats_interval_s=0.5)),
        )
        reporter = CallReporter(client, retry_delays=(0.1, 0.2))
        await client.connect(timeout=20)  # through the front: WebSocket upgrades are proxied
        try:
            assert client.call_report_id == CRID
            call = await client.call("echo", answer_timeout_s=20)
            assert await call.media.analyzer.wait_until(lambda a: a.detect_tone(440, 5), 20)
            assert await call.media.analyzer.wait_until(lambda _a: len(call.media.stats.samples) >= 2, 20)
            await call.hangup()
            assert await reporter.drain(15)
            assert await emu.wait_for(lambda: emu.counters["call_reports"] == 1, 10)
        finally:
            await client.close()
        (result,) = reporter.results
        assert result.ok and result.status == 200 and result.attempts == 1
        (stored,) = emu.call_reports
        assert stored["headers"]["x-call-report-id"] == CRID
        assert stored["headers"]["x-call-id"] == call.id
        assert stored["headers"].get("x-voice-sdk-id") == client.voice_sdk_id or not client.voice_sdk_id
        report = stored["report"]
        summary = report["summary"]
        assert summary["callId"] == call.id and summary["state"] == "destroy" and summary["direction"] == "outbound"
        assert summary["destinationNumber"] == "echo" and summary["durationSeconds"] > 0
        assert summary["clientSummary"]["authentication"] == {"type": "login_password"}
        assert summary["clientSummary"]["connection"]["localCandidateType"] == "host"
        assert len(report["stats"]) >= 2 and {"intervalStartUtc", "intervalEndUtc", "audio"} <= set(report["stats"][0])
        assert report["stats"][-1]["audio"]["inbound"]["packetsReceived"] > 0
        assert report["logs"] and "alice-pass" not in json.dumps(report)
        metrics = (await asyncio.to_thread(http, "GET", f"http://127.0.0.1:{emu.port}/metrics"))[2].decode()
        assert 'rtcload_emulator_call_reports_total{result="accepted"} 1.0' in metrics


async def test_front_answers_cors_preflight_and_rejects_bad_reports():
    async with Emulator(fast_config(call_report_id=CRID, http_front=True)) as emu:
        url = report_url(emu.url)
        assert url == f"http://127.0.0.1:{emu.port}/call_report"
        status, headers, _ = await asyncio.to_thread(
            http, "OPTIONS", url, None,
            {"Origin": "http://127.0.0.1:8089", "Access-Control-Request-Method": "POST",
             "Access-Control-Request-Headers": "content-type,x-call-report-id,x-call-id,x-voice-sdk-id"},
        )  # fmt: skip
        assert status == 204 and headers["Access-Control-Allow-Origin"] == "*"
        allowed = {h.strip() for h in headers["Access-Control-Allow-Headers"].split(",")}
        assert {"content-type", "x-call-report-id", "x-call-id", "x-voice-sdk-id"} <= allowed
        good = {"summary": {"callId": "c1"}, "stats": [], "logs": []}
        wrong_id = {"Content-Type": "application/json", "x-call-report-id": "other", "x-call-id": "c1"}
        status, _, body = await asyncio.to_thread(http, "POST", url, json.dumps(good).encode(), wrong_id)
        assert status == 400 and b"x-call-report-id" in body
        no_summary = {"Content-Type": "application/json", "x-call-report-id": CRID, "x-call-id": "c1"}
        status, _, _ = await asyncio.to_thread(http, "POST", url, b'{"stats": []}', no_summary)
        assert status == 400
        assert emu.counters["call_reports_rejected"] == 2 and emu.counters["call_reports"] == 0
        status, _, _ = await asyncio.to_thread(http, "GET", f"http://127.0.0.1:{emu.port}/healthz")
        assert status == 200  # plain GETs still reach the websockets server's process_request
        status = await post_json(url, json.dumps(good).encode(), no_summary)
        assert status == 200 and emu.counters["call_reports"] == 1


async def test_upload_retries_on_errors_then_gives_up_without_hanging():
    async with Emulator(fast_config(call_report_id=CRID, http_front=True)) as emu:
        bad = {"summary": {}, "stats": []}  # rejected every time: 400
        result = await upload(report_url(emu.url), bad, CRID, "c9", None, retry_delays=(0.05, 0.1, 0.2))
        assert not result.ok and result.status == 400 and result.attempts == 4
        assert emu.counters["call_reports_rejected"] == 4
        port = emu.port
    result = await upload(f"http://127.0.0.1:{port}/call_report", bad, CRID, "c9", None, retry_delays=(0.05,))
    assert not result.ok and result.status is None and result.attempts == 2 and "Error" in (result.error or "")


async def test_no_upload_without_call_report_id_and_sampling_skips(make_client, emulator):
    client = await make_client("alice")
    skip_all = CallReporter(client, sample_rate=0.0)
    assert client.call_report_id is None
    call = await client.call("echo", answer_timeout_s=10)
    await call.hangup()
    assert skip_all.counts["no_report_id"] == 1 and not skip_all.results
    client.call_report_id = CRID  # as if REGED had carried it: sampled out at rate 0
    call = await client.call("echo", answer_timeout_s=10)
    await call.hangup()
    assert skip_all.counts["sampled_out"] == 1 and not skip_all.results


async def test_default_emulator_has_no_http_front():
    async with Emulator(fast_config(call_report_id=CRID)) as emu:
        assert emu.http_front is None
        status, _, _ = await asyncio.to_thread(http, "OPTIONS", report_url(emu.url))
        assert status >= 400  # the plain websockets server cannot take anything but GET
