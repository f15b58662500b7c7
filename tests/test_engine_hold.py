"""Hold as the official SDK and the platform do it, on the engine, against the real emulator (loopback).

protocol.md §2: the SDK's hold is a `telnyx_rtc.modify` with no SDP; its own media is untouched. The
platform suspends the media toward the holder and plays music on hold to a bridged far party. So the
generator keeps sending while held, the emulator stops sending to the held leg (and relays nothing of
it), and none of that is counted as loss, one-way audio or a media gap.
"""

from __future__ import annotations

import pytest

from rtcload.emulator import Emulator
from rtcload.emulator.aiortc_answerer import AiortcAnswerer
from rtcload.media.engine.call_media import HOLD_MUSIC
from rtcload.media.rating import rate_report, rate_samples
from rtcload.media.stats import MediaStats
from rtcload.signaling import ClientConfig, InboundPolicy, PasswordCredentials, SignalingClient
from rtcload.signaling.call import Call
from tests.conftest import fast_config
from tests.test_media_engine import connect, engine_media, wait_stats

HOLD_MUSIC_HZ = float(HOLD_MUSIC.split(":")[1])


@pytest.fixture
async def engine_emulator():
    async with Emulator(fast_config(), AiortcAnswerer(loopback_only=True)) as emu:
        yield emu


def test_an_interval_that_ends_just_after_unhold_is_not_a_media_gap():
    """Held at its start, unheld at its end, media not yet back: the platform resumes after the unhold."""

    def sample(at: float, received: int, held: bool) -> MediaStats:
        return MediaStats(at=at, codec="opus", clock_rate=48000, packets_received=received, on_hold=held)

    samples = [sample(0.0, 50, False), sample(2.0, 150, False), sample(4.0, 160, True), sample(6.0, 160, False)]
    rated = rate_samples(samples, "opus")
    assert [i.quality.media_gap for i in rated.intervals] == [False, False, False]
    # while the same silence with no hold anywhere is a gap
    samples[2] = sample(4.0, 160, False)
    assert rate_samples(samples, "opus").intervals[-1].quality.media_gap


async def silent_for(call: Call, seconds: float = 0.4):
    """Stats once nothing has arrived for `seconds` (in-flight packets drain first)."""
    stream = call.media.stream
    return await wait_stats(call.media, lambda s: stream.last_rtp is not None and s.at - stream.last_rtp > seconds)


async def test_hold_stops_the_platforms_media_not_ours_and_unhold_brings_it_back(engine_emulator):
    client = await connect(engine_emulator.url, lambda: engine_media(one_way_after_s=0.5))
    try:
        call = await client.call("echo", answer_timeout_s=20)
        media = call.media
        endpoint = engine_emulator.answerer.endpoints[call.id]
        assert await media.analyzer.wait_until(lambda a: a.first_audio_at is not None, 20)
        await call.hold()
        held = await wait_stats(media, lambda s: s.on_hold)
        assert engine_emulator.legs[call.id].state.name == "HELD"
        assert engine_emulator.snapshot()["held_legs"] == 1
        quiet = await silent_for(call)  # the platform sends nothing to a held leg ...
        assert quiet.packets_sent > held.packets_sent + 10  # ... while we keep sending, as the SDK does
        assert endpoint.engine_stats().packets_received > 0 and endpoint.stream.sending is False
        assert not media.analyzer.one_way()  # silence on hold is expected, not one-way audio (0.5 s limit)

        await call.unhold()
        assert engine_emulator.snapshot()["held_legs"] == 0
        resumed = await wait_stats(media, lambda s: s.packets_received > quiet.packets_received + 25)
        assert not resumed.on_hold
        assert resumed.packets_lost == 0  # a pause is not loss: the platform's sequence numbers stayed contiguous
        assert resumed.jitter_s is not None and resumed.jitter_s < 0.01  # timestamps kept to the wall clock
        assert call.holds == 1 and call.held_total_s() >= 0.4
    finally:
        await client.close()
    rated = rate_report(call.media_report)
    assert rated.verdict not in ("one-way", "silent", "no-media"), rated.verdict
    assert not any(i.quality.media_gap for i in rated.intervals)  # the held interval is unrated, not a gap
    assert all(i.quality.loss_ratio == 0 for i in rated.intervals)


async def test_holding_a_bridged_call_plays_hold_music_to_the_far_party_and_unhold_reconnects_them(engine_emulator):
    bob = SignalingClient(
        ClientConfig(url=engine_emulator.url, credentials=PasswordCredentials("bob", "bob-pass")),
        lambda: engine_media("tone:880", decode=True),
        inbound_policy=InboundPolicy.ANSWER,
    )
    await bob.connect(timeout=20)
    alice = await connect(engine_emulator.url, lambda: engine_media("tone:440", decode=True))
    try:
        call = await alice.call("bob", answer_timeout_s=20)
        far = next(iter(bob.calls.values()))
        assert await call.media.analyzer.wait_until(lambda a: a.detect_tone(880, 10), 20)  # alice hears bob
        assert await far.media.analyzer.wait_until(lambda a: a.detect_tone(440, 10), 20)  # bob hears alice

        await call.hold()
        assert await far.media.analyzer.wait_until(lambda a: a.detect_tone(HOLD_MUSIC_HZ, 10), 10)  # bob: music
        await silent_for(call)  # alice (the holder) is sent nothing
        assert not far.media.analyzer.one_way() and not call.media.analyzer.one_way()

        await call.unhold()
        assert await far.media.analyzer.wait_until(lambda a: a.detect_tone(440, 10), 10)  # alice again
        assert await call.media.analyzer.wait_until(lambda a: a.detect_tone(880, 10), 10)  # and bob again
        for media in (call.media, far.media):
            stats = await media.stats.sample_now()
            assert stats.packets_lost == 0, stats  # neither pause nor the switch to music looks like loss
    finally:
        await alice.close()
        await bob.close()
