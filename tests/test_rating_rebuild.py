"""Issue 22, soak verdicts: a call whose media was rebuilt (reattach after a socket drop, ICE restart)
is rated over every media instance it had. Before the fix only the last instance's samples were
rated, so a recovered call whose last media lived under two stats samples was "no-media" in
calls.csv although `first_rtp_s`, `media_gaps_s` and `rtp_before_recovery` showed its media (9-13 %
of the answered calls of a 4-minute `soak_reconnect` run)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import replace

from rtcload.emulator import Emulator
from rtcload.emulator.aiortc_answerer import AiortcAnswerer
from rtcload.loadgen.records import call_record
from rtcload.media.engine.call_media import EngineCallMedia
from rtcload.media.loopback import use_loopback_only
from rtcload.media.media_settings import MediaSettings
from rtcload.media.rating import rate_report, rate_samples
from rtcload.media.session import MediaReport
from rtcload.media.stats import MediaStats
from rtcload.signaling import ClientConfig, EventKind, PasswordCredentials, SignalingClient
from rtcload.signaling.call import Call
from tests.conftest import fast_config, reconnecting_config

use_loopback_only()

FIRST_INTERVAL_S = 1.0
REBUILT_INTERVAL_S = 600.0  # the rebuilt media takes no sample in the test: the soak's short last instance


def _samples(start: float, n: int, rate: int = 50) -> list[MediaStats]:
    """n samples 1 s apart of a clean stream whose counters start at 0 (one media instance)."""
    return [
        MediaStats(
            at=start + k,
            codec="opus",
            clock_rate=48000,
            packets_sent=rate * (k + 1),
            packets_received=rate * (k + 1),
            jitter_s=0.002,
            rtt_s=0.02,
            remote_packets_lost=0,
            remote_jitter_s=0.002,
        )
        for k in range(n)
    ]


def _report(samples: list[MediaStats]) -> MediaReport:
    return MediaReport(
        codec="opus",
        timings={},
        stats=None,
        first_audio_s=None,
        frames_received=len(samples) * 50,
        rms_dbfs=-20.0,
        silence_ratio=0.0,
        one_way=False,
        dominant_hz=None,
        connected=True,
        samples=samples,
    )


def test_a_counter_restart_is_no_interval():
    """Samples of two media instances joined: the restart (counters back to 0) is neither rated nor
    read as a negative interval; each instance's own intervals are."""
    joined = _samples(100.0, 4) + _samples(104.5, 3)
    quality = rate_samples(joined, "opus")
    assert len(quality.rated) == 3 + 2
    assert all(q.loss_ratio == 0.0 for q in quality.rated)
    assert len(quality.send_intervals) == 3 + 2
    assert quality.verdict == "good"


def test_a_call_is_rated_over_the_media_its_rebuilds_replaced():
    """The last media too short to rate (one sample) does not make the call "no-media": the
    instances before it are rated; only a call with no rated interval anywhere stays "no-media"."""
    earlier = [_report(_samples(100.0, 5)), _report(_samples(106.0, 3))]
    last = _report(_samples(110.0, 1))
    assert rate_report(last).verdict == "no-media"  # what calls.csv said before the fix
    quality = rate_report(last, earlier)
    assert len(quality.rated) == 4 + 2
    assert quality.verdict == "good"
    assert rate_report(last, [_report(_samples(100.0, 1))]).verdict == "no-media"  # truly unrated
    # one-way and silent describe the media the call ended on
    assert rate_report(replace(last, one_way=True), earlier).verdict == "one-way"


async def echo_call_sampled_with_media(client: SignalingClient) -> Call:
    """An answered echo call whose first media has RTP and three stats samples with media."""
    call = await client.call("echo", answer_timeout_s=20)
    assert await call.media.wait_first_rtp(20) is not None
    await _sampled_with_media(call, 3)
    return call


def media_built_for_rebuilds() -> tuple[list[EngineCallMedia], Callable[[], EngineCallMedia]]:
    """The call's media factory and what it built: the first media samples often, a rebuilt one (almost)
    never, like a soak's last media that ends before its second stats sample."""
    built: list[EngineCallMedia] = []

    def media() -> EngineCallMedia:
        interval = FIRST_INTERVAL_S if not built else REBUILT_INTERVAL_S
        built.append(EngineCallMedia("tone:440", settings=MediaSettings(codec="opus", stats_interval_s=interval)))
        return built[-1]

    return built, media


async def test_a_call_recovered_by_a_reattach_is_rated_over_both_media():
    """Real emulator and engine media: the socket drops mid-call, the platform reattaches the call and
    its media is rebuilt; the call ends before the rebuilt media took two samples (as in the soak).
    Its calls.csv row rates the first media's intervals instead of saying "no-media"."""
    built, media = media_built_for_rebuilds()

    async with Emulator(fast_config(grace_s=10), AiortcAnswerer(loopback_only=True)) as emu:
        config = reconnecting_config(emu.url, "rated")
        client = SignalingClient(config, media)
        await client.connect(timeout=20)
        try:
            call = await echo_call_sampled_with_media(client)
            reattached = asyncio.Event()
            client.events.subscribe(lambda e: reattached.set() if e.kind is EventKind.CALL_REATTACHED else None)
            assert emu.drop_socket(client.sessid)
            await asyncio.wait_for(reattached.wait(), 30)
            assert call.media is built[1] and len(built) == 2
            assert await call.media.wait_first_rtp(20) is not None  # media came back on the rebuilt media
            await call.hangup()
            row = call_record(call, "rated", "answered")
            assert row["reattaches"] == 1 and row["rtp_before_recovery"] == "yes"
            assert row["first_rtp_s"] is not None
            assert len(call.media_report.samples) < 2  # the last media alone cannot be rated
            assert row["verdict"] == "good", row
            assert row["mos_mean"] is not None
            assert call.replaced_media == []  # the call let go of the replaced media at its end
        finally:
            await client.close()


async def test_a_call_rebuilt_by_an_ice_restart_is_rated_over_both_media():
    """The other rebuild, `updateMedia` (the media watchdog's ICE restart): same rule."""
    built, media = media_built_for_rebuilds()

    async with Emulator(fast_config(), AiortcAnswerer(loopback_only=True)) as emu:
        config = ClientConfig(url=emu.url, credentials=PasswordCredentials("iced", "any-pass"), label="iced")
        client = SignalingClient(config, media)
        await client.connect(timeout=20)
        try:
            call = await echo_call_sampled_with_media(client)
            await client.update_media(call)
            assert call.media is built[1]
            assert await call.media.wait_first_rtp(20) is not None
            await call.hangup()
            row = call_record(call, "iced", "answered")
            assert len(call.media_report.samples) < 2
            assert row["verdict"] == "good", row
        finally:
            await client.close()


async def _sampled_with_media(call: Call, n: int, timeout: float = 30.0) -> None:
    """Until the call's current media has taken `n` samples with packets received (the sampler runs
    on its own clock and emits no event, so its list is polled)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while sum(1 for s in call.media.stats.samples if s.packets_received > 0) < n:
        assert loop.time() < deadline, "the first media took no samples with media"
        await asyncio.sleep(0.1)
