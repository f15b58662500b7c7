"""Issue-3 behaviour end to end: bridged calls relayed by the emulator, ICE restart (updateMedia),
silent and one-way verdicts with the SDK's warnings, loss patterns and relay-only configuration."""

from __future__ import annotations

import asyncio

import pytest
from aiortc.rtcconfiguration import RTCIceTransportPolicy

from rtcload.emulator import Emulator
from rtcload.emulator.aiortc_answerer import AiortcAnswerer
from rtcload.media.ice import IceServerSpec, parse_ice_servers, rtc_configuration
from rtcload.media.loopback import use_loopback_only
from rtcload.media.media_settings import MediaSettings
from rtcload.media.peer import CallMedia
from rtcload.media.rating import rate_report
from rtcload.media.sequence import LossRunTracker
from rtcload.signaling import ClientConfig, EventKind, InboundPolicy, PasswordCredentials, SignalingClient
from tests.conftest import fast_config

use_loopback_only()


@pytest.fixture
async def media_emulator():
    async with Emulator(fast_config(), AiortcAnswerer(loopback_only=True)) as emu:
        yield emu


@pytest.fixture
async def clients():
    made: list[SignalingClient] = []

    async def make(url: str, login: str, source: str, **kwargs) -> SignalingClient:
        client = SignalingClient(
            ClientConfig(url=url, credentials=PasswordCredentials(login, f"{login}-pass"), label=login),
            lambda: CallMedia(source, settings=MediaSettings(stats_interval_s=0.5)),
            **kwargs,
        )
        made.append(client)
        await client.connect(timeout=20)
        return client

    yield make
    for client in made:
        await client.close()


async def test_bridged_call_media_is_relayed_both_ways(media_emulator, clients):
    bob = await clients(media_emulator.url, "bob", "tone:1000", inbound_policy=InboundPolicy.ANSWER)
    alice = await clients(media_emulator.url, "alice", "tone:440")
    call = await alice.call("bob", answer_timeout_s=20)
    assert await call.media.analyzer.wait_until(lambda a: a.detect_tone(1000, 10), 20)
    (inbound,) = [c for c in bob.calls.values()]
    assert await inbound.media.analyzer.wait_until(lambda a: a.detect_tone(440, 10), 20)
    # both legs terminate on emulator endpoints: the platform relays, the clients never meet
    assert {call.id, inbound.id} <= set(media_emulator.answerer.endpoints)


async def test_bridged_call_survives_a_reattach_with_audio(media_emulator, clients):
    bob = await clients(media_emulator.url, "bob", "tone:1000", inbound_policy=InboundPolicy.ANSWER)
    alice = await clients(media_emulator.url, "alice", "tone:440")
    call = await alice.call("bob", answer_timeout_s=20)
    (inbound,) = [c for c in bob.calls.values()]
    assert await inbound.media.analyzer.wait_until(lambda a: a.detect_tone(440, 10), 20)
    reattached = asyncio.Event()
    bob.events.subscribe(lambda e: reattached.set() if e.kind is EventKind.CALL_REATTACHED else None)
    media_emulator.drop_socket(bob.sessid)
    await asyncio.wait_for(reattached.wait(), 20)
    assert await inbound.media.analyzer.wait_until(lambda a: a.detect_tone(440, 10), 20)  # fresh media
    assert await call.media.analyzer.wait_until(lambda a: a.detect_tone(1000, 10), 20)


async def test_update_media_rebuilds_the_call_media(media_emulator, clients):
    alice = await clients(media_emulator.url, "alice", "tone:440")
    call = await alice.call("echo", answer_timeout_s=20)
    first = call.media
    assert await first.analyzer.wait_until(lambda a: a.detect_tone(440, 5), 20)
    await call.update_media()
    assert call.media is not first and call.media_restarts == 1
    assert media_emulator.counters["ice_restarts"] == 1
    assert await call.media.analyzer.wait_until(lambda a: a.detect_tone(440, 5), 20)


async def test_silent_far_end_gets_a_silent_verdict(media_emulator, clients):
    alice = await clients(media_emulator.url, "alice", "tone:440")
    call = await alice.call("silence", answer_timeout_s=20)
    assert await call.media.analyzer.wait_until(lambda a: a.frames > 50, 20)
    stats = call.media.stats
    assert await call.media.analyzer.wait_until(
        lambda _a: len([s for s in stats.samples if s.packets_received]) >= 5, 20
    )
    await call.hangup()
    quality = rate_report(call.media_report)
    assert quality.verdict == "silent"
    assert 31006 in {int(w.code) for w in quality.warnings}  # LOW_INBOUND_AUDIO, as the SDK would warn


async def test_one_way_call_gets_a_one_way_verdict_and_warnings(media_emulator, clients):
    alice = await clients(media_emulator.url, "alice", "tone:440")
    call = await alice.call("oneway", answer_timeout_s=20)
    call.media.analyzer.one_way_after_s = 1.0
    assert await call.media.analyzer.wait_until(lambda a: a.one_way(), 20)
    stats = call.media.stats
    assert await call.media.analyzer.wait_until(lambda _a: len(stats.samples) >= 5, 20)  # SDK rule: 3 in a row
    await call.hangup()
    quality = rate_report(call.media_report)
    assert quality.verdict == "one-way"
    assert 31006 in {int(w.code) for w in quality.warnings}


def test_loss_run_tracker_sees_bursts_and_wraps():
    tracker = LossRunTracker()
    for seq in [65530, 65531, 65532, 65535, 0, 1, 5, 6, 6, 4]:  # wrap, two gaps, a duplicate, a late packet
        tracker.on_packet(seq)
    flags = tracker.drain()
    assert flags == [False, False, False, True, True, False, False, False, True, True, True, False, False]
    assert tracker.drain() == []
    random_like = LossRunTracker()
    for seq in range(0, 400, 2):  # every other packet lost: bursts of one
        random_like.on_packet(seq)
    bursty = LossRunTracker()
    for seq in [s for s in range(400) if (s // 10) % 4 != 0]:  # runs of 10 lost
        bursty.on_packet(seq)
    assert bursty.drain_burst_r() > 1.0 > random_like.drain_burst_r()


def test_relay_only_configuration_and_turn_credentials_stay_out_of_repr():
    (turn,) = parse_ice_servers("turn:user1:Turn-Secret-5@127.0.0.1:3478?transport=udp")
    assert turn == IceServerSpec("turn:127.0.0.1:3478?transport=udp", "user1", "Turn-Secret-5")
    assert "Turn-Secret-5" not in repr(turn)
    config = rtc_configuration([turn], relay_only=True)
    assert config.iceTransportPolicy is RTCIceTransportPolicy.RELAY
    assert config.iceServers[0].username == "user1" and config.iceServers[0].credential == "Turn-Secret-5"
    assert rtc_configuration().iceTransportPolicy is RTCIceTransportPolicy.ALL


async def test_relay_only_offer_has_no_host_candidates():
    media = CallMedia("tone:440", settings=MediaSettings(relay_only=True))
    try:
        offer = await media.create_offer()
        assert "a=candidate" not in offer  # no TURN server given: nothing may be offered
    finally:
        await media.close()


async def test_media_timeout_triggers_an_ice_restart(media_emulator):
    client = SignalingClient(
        ClientConfig(
            url=media_emulator.url, credentials=PasswordCredentials("alice", "alice-pass"), media_timeout_s=1.0
        ),
        lambda: CallMedia("tone:440", settings=MediaSettings(stats_interval_s=0.5)),
    )
    try:
        await client.connect(timeout=20)
        call = await client.call("echo", answer_timeout_s=20)
        assert await call.media.analyzer.wait_until(lambda a: a.detect_tone(440, 5), 20)
        timed_out = asyncio.Event()
        client.events.subscribe(lambda e: timed_out.set() if e.kind is EventKind.MEDIA_TIMEOUT else None)
        await media_emulator.answerer.release(call.id)  # the platform's media dies; signaling lives on
        await asyncio.wait_for(timed_out.wait(), 20)
        assert await call.wait_until(lambda c: c.media_restarts >= 1, 20)
        assert await call.media.analyzer.wait_until(lambda a: a.detect_tone(440, 5), 20)  # audio is back
        assert media_emulator.counters["ice_restarts"] >= 1
    finally:
        await client.close()


async def test_ice_host_addresses_can_be_chosen():
    import aioice.ice

    from rtcload.media.loopback import use_host_addresses

    saved = aioice.ice.get_host_addresses
    try:
        use_host_addresses(["127.0.0.2"])
        media = CallMedia("tone:440")
        try:
            offer = await media.create_offer()
        finally:
            await media.close()
        candidates = [line for line in offer.split("\r\n") if line.startswith("a=candidate")]
        assert candidates and all(" 127.0.0.2 " in line for line in candidates)
    finally:
        aioice.ice.get_host_addresses = saved
