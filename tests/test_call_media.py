"""Real aiortc media through the emulator: echo, tone, one-way, reattach, and `rtcload call`."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys

import pytest

from rtcload.emulator import Emulator
from rtcload.emulator.aiortc_answerer import AiortcAnswerer
from rtcload.media.loopback import use_loopback_only
from rtcload.media.media_settings import MediaSettings
from rtcload.media.peer import CallMedia
from rtcload.media.rating import rate_samples
from rtcload.quality.emodel import rate
from rtcload.signaling import ClientConfig, EventKind, PasswordCredentials, SignalingClient
from tests.conftest import fast_config

use_loopback_only()


@pytest.fixture
async def media_emulator():
    async with Emulator(fast_config(), AiortcAnswerer(loopback_only=True)) as emu:
        yield emu


async def media_client(url: str, source: str = "tone:440", codec: str = "opus") -> SignalingClient:
    client = SignalingClient(
        ClientConfig(url=url, credentials=PasswordCredentials("alice", "alice-pass")),
        lambda: CallMedia(source, settings=MediaSettings(codec=codec, stats_interval_s=0.5)),
    )
    await client.connect(timeout=20)
    return client


@pytest.mark.parametrize("codec", ["opus", "pcmu", "pcma"])
async def test_echo_call_hears_its_own_tone_with_good_quality(media_emulator, codec):
    client = await media_client(media_emulator.url, codec=codec)
    try:
        call = await client.call("echo", answer_timeout_s=20)
        media = call.media
        assert isinstance(media, CallMedia)
        assert await media.analyzer.wait_until(lambda a: a.detect_tone(440, 5), 20)
        samples = media.stats.samples

        def rated_both_ways(_analyzer: object) -> bool:  # two RTCP-backed samples apart, with media flowing
            reported = [s for s in samples if s.remote_packets_lost is not None and s.packets_received]
            return len(reported) >= 3 and reported[-1].packets_sent > reported[0].packets_sent

        assert await media.analyzer.wait_until(rated_both_ways, 20)
        await call.hangup()
        report = call.media_report
        assert report.connected and report.codec == codec and report.timings["first_rtp"] is not None
        quality = rate_samples(report.samples, report.codec)
        assert quality.rated and quality.mos_mean is not None
        # a clean loopback call rates as the E-model does for zero loss and near-zero delay
        ideal = rate(ta_ms=0.0, ppl_percent=0.0, codec=codec).mos
        assert abs(quality.mos_mean - ideal) <= 0.05, (quality.mos_mean, ideal)
        send = quality.summaries()["mos_send"]  # the far end's view of our stream, from RTCP receiver reports
        assert send is not None and abs(send["mean"] - ideal) <= 0.05
        for interval in quality.rated:
            assert 0 <= interval.jitter_s < 0.5 and 0 <= interval.rtt_s < 0.5 and interval.loss_ratio == 0.0
    finally:
        await client.close()


@pytest.mark.parametrize("codec", ["pcmu", "pcma"])
async def test_tone_route_plays_the_requested_frequency(media_emulator, codec):
    client = await media_client(media_emulator.url, source="silence", codec=codec)
    try:
        call = await client.call("tone;freq=1000", answer_timeout_s=20)
        assert await call.media.analyzer.wait_until(lambda a: a.detect_tone(1000, 10), 20)
        assert call.media.codec == codec
    finally:
        await client.close()


async def test_oneway_route_is_flagged_as_one_way_audio(media_emulator):
    client = await media_client(media_emulator.url)
    try:
        call = await client.call("oneway", answer_timeout_s=20)
        call.media.analyzer.one_way_after_s = 1.0
        assert await call.media.analyzer.wait_until(lambda a: a.one_way(), 20)
    finally:
        await client.close()


async def test_reattach_brings_audio_back_on_fresh_media(media_emulator):
    client = await media_client(media_emulator.url)
    try:
        call = await client.call("echo", answer_timeout_s=20)
        first_media = call.media
        assert await first_media.analyzer.wait_until(lambda a: a.detect_tone(440, 5), 20)
        reattached = asyncio.Event()
        client.events.subscribe(lambda e: reattached.set() if e.kind is EventKind.CALL_REATTACHED else None)
        media_emulator.drop_socket(client.sessid)
        await asyncio.wait_for(reattached.wait(), 20)
        assert call.media is not first_media
        assert await call.media.analyzer.wait_until(lambda a: a.detect_tone(440, 5), 20)
        gaps = asyncio.Event()
        client.events.subscribe(lambda e: gaps.set() if e.kind is EventKind.MEDIA_GAP else None)
        if not call.media_gaps:
            await asyncio.wait_for(gaps.wait(), 20)
        (gap,) = call.media_gaps
        assert gap is not None and 0 < gap < 10
        # keepConnectionAliveOnSocketClose semantics: audio kept flowing on the old media while
        # signaling was down, so the media gap is only the switch-over, shorter than the outage
        assert client.last_reconnect_s is not None and gap < client.last_reconnect_s, (gap, client.last_reconnect_s)
    finally:
        await client.close()


def run_cli(*args: str, timeout: float = 90) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, RTCLOAD_PASSWORD="Cli-Secret-3")
    return subprocess.run(
        [sys.executable, "-m", "rtcload", *args], capture_output=True, text=True, timeout=timeout, env=env
    )


def test_rtcload_call_against_the_embedded_emulator_prints_every_phase():
    done = run_cli("call", "--duration", "2")
    assert done.returncode == 0, done.stderr
    for label in ("registration", "post-dial delay", "call setup", "first RTP", "MOS (E-model)", "hangup"):
        assert label in done.stdout
    assert "Cli-Secret-3" not in done.stdout + done.stderr


def test_rtcload_emulator_serves_and_rtcload_call_targets_it():
    server = subprocess.Popen(
        [sys.executable, "-m", "rtcload", "emulator", "--port", "0", "--media", "none"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert server.stdout is not None
        banner = server.stdout.readline()
        assert "listening on ws://127.0.0.1:" in banner
        url = banner.split("listening on ")[1].split()[0]
        done = run_cli("call", "--target", url, "--media", "none", "--duration", "0.5", "--json", "--to", "busy")
        out = json.loads(done.stdout)
        assert done.returncode == 1 and out["ok"] is False and "USER_BUSY" in out["error"]
        done = run_cli("call", "--target", url, "--media", "none", "--duration", "0.5", "--json")
        out = json.loads(done.stdout)
        assert done.returncode == 0 and out["ok"] and out["cause"] == "NORMAL_CLEARING"
        assert out["post_dial_delay_s"] > 0 and out["call_setup_s"] >= out["post_dial_delay_s"]
    finally:
        server.terminate()
        server.wait(10)


def test_rtcload_emulator_token_mints_a_jwt_the_emulator_accepts():
    done = run_cli(
        "emulator", "--jwt-secret", "cli-test-secret-that-is-long-enough-32", "token", "alice", "--ttl", "60"
    )
    token = done.stdout.strip()
    assert done.returncode == 0 and token.count(".") == 2
    from rtcload.emulator.auth import UserDirectory, check_token

    assert check_token(token, "cli-test-secret-that-is-long-enough-32", UserDirectory.open_mode()).username == "alice"
