"""Per-call ICE diagnostics on real aiortc calls through the emulator, and their bounded metrics."""

from __future__ import annotations

import socket

import pytest

from rtcload.emulator import Emulator
from rtcload.emulator.aiortc_answerer import AiortcAnswerer
from rtcload.loadgen.endpoint import media_samples
from rtcload.loadgen.observe import record
from rtcload.media.ice import IceServerSpec
from rtcload.media.ice_diag import ICE_GATHERING_TIMEOUT, ONLY_HOST_ICE_CANDIDATES
from rtcload.media.loopback import use_loopback_only
from rtcload.media.media_settings import MediaSettings
from rtcload.media.peer import CallMedia
from rtcload.metrics.exporter import GeneratorMetrics
from rtcload.signaling import ClientConfig, PasswordCredentials, SignalingClient
from tests.conftest import fast_config

use_loopback_only()


@pytest.fixture
async def media_emulator():
    async with Emulator(fast_config(), AiortcAnswerer(loopback_only=True)) as emu:
        yield emu


async def echo_call_report(url: str, ice_servers: list[IceServerSpec] | None = None):
    client = SignalingClient(
        ClientConfig(url=url, credentials=PasswordCredentials("alice", "alice-pass")),
        lambda: CallMedia(
            "tone:440", settings=MediaSettings(codec="opus", ice_servers=ice_servers, stats_interval_s=0.5)
        ),
    )
    await client.connect(timeout=20)
    try:
        call = await client.call("echo", answer_timeout_s=20)
        assert await call.media.wait_connected(20)
        assert await call.media.analyzer.wait_until(lambda a: a.detect_tone(440, 5), 20)
        await call.hangup()
        return call.media_report
    finally:
        await client.close()


def unused_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_direct_call_reports_host_pair_gathering_time_and_state_timeline(media_emulator):
    report = await echo_call_report(media_emulator.url)
    ice = report.ice
    assert ice.local_candidates == {"host/udp": 1}  # loopback only: one host candidate
    assert ice.remote_candidates.get("host/udp", 0) >= 1
    assert ice.selected_local_type == "host" and ice.selected_remote_type == "host"
    assert ice.selected_pair and "127.0.0.1" in ice.selected_pair
    assert ice.gathering_s is not None and 0 <= ice.gathering_s < 1
    assert ice.turn == [] and ice.pair_changes == 0
    assert not ice.warnings  # no ICE servers configured: host-only is by design, not a warning
    events = [(what, state) for _t, what, state in ice.timeline]
    for expected in [("gathering", "complete"), ("ice", "checking"), ("ice", "completed"), ("dtls", "connected")]:
        assert expected in events, events
    assert [t for t, _w, _s in ice.timeline] == sorted(t for t, _w, _s in ice.timeline)
    assert events.index(("ice", "checking")) < events.index(("dtls", "connected"))


async def test_calls_are_counted_by_selected_candidate_type_with_bounded_labels(media_emulator):
    report = await echo_call_report(media_emulator.url)
    metrics = GeneratorMetrics()
    for sample in media_samples(report):
        record(metrics, sample)
    text = metrics.exposition().decode()
    assert 'rtcload_ice_selected_total{candidate="host"} 1.0' in text
    assert "127.0.0.1" not in text


async def test_unreachable_stun_server_gives_only_host_and_gathering_timeout_warnings(media_emulator):
    stun = IceServerSpec(f"stun:127.0.0.1:{unused_udp_port()}")
    report = await echo_call_report(media_emulator.url, [stun])
    ice = report.ice
    assert set(ice.local_candidates) == {"host/udp"}
    assert ONLY_HOST_ICE_CANDIDATES in ice.warning_codes
    assert ICE_GATHERING_TIMEOUT in ice.warning_codes and ice.gathering_s >= 4.5
    assert ice.selected_local_type == "host"  # the call still connects directly
