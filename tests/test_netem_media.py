"""Accuracy of rtcload's media measurements with the impairment relay in the path (real aiortc both sides).

The emulator's media answerer is wrapped in `ImpairedAnswerer`, so every call's RTP/RTCP/STUN/DTLS
crosses a `UdpRelay` that applies a known impairment; the client (CallMedia over aiortc) does not
know. Each test injects one thing and checks that the client's getStats()-based numbers report it.
"""

from __future__ import annotations

import asyncio
import math
import statistics
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from rtcload.emulator import Emulator
from rtcload.emulator.aiortc_answerer import AiortcAnswerer
from rtcload.media.loopback import use_loopback_only
from rtcload.media.media_settings import MediaSettings
from rtcload.media.peer import CallMedia
from rtcload.media.stats import MediaStats
from rtcload.netem.impairment import GilbertElliott, Impairment
from rtcload.netem.sdp_relay import ImpairedAnswerer
from rtcload.netem.udp_relay import UdpRelay
from rtcload.quality.rfc3550 import burst_r_from_losses
from rtcload.signaling import Call, ClientConfig, PasswordCredentials, SignalingClient
from tests.conftest import fast_config

use_loopback_only()

PCMU_PPS = 50  # 20 ms packets


@asynccontextmanager
async def impaired_call(
    up: Impairment, down: Impairment, destination: str = "echo"
) -> AsyncIterator[tuple[Call, ImpairedAnswerer]]:
    """An emulator behind an impairing relay, a connected client and an answered PCMU call."""
    answerer = ImpairedAnswerer(AiortcAnswerer(loopback_only=True), up, down)
    async with Emulator(fast_config(), answerer) as emu:
        client = SignalingClient(
            ClientConfig(url=emu.url, credentials=PasswordCredentials("alice", "alice-pass")),
            lambda: CallMedia("tone:440", settings=MediaSettings(codec="pcmu", stats_interval_s=1.0)),
        )
        await client.connect(timeout=20)
        try:
            call = await client.call(destination, answer_timeout_s=20)
            assert isinstance(call.media, CallMedia)
            assert await call.media.wait_connected(20), "media never connected through the relay"
            yield call, answerer
            if not call.ended:
                await call.hangup()
        finally:
            await client.close()


def only_relay(answerer: ImpairedAnswerer, call: Call) -> UdpRelay:
    relay = answerer.relay(call.id)
    assert relay is not None and relay.target is not None
    return relay


async def sample_until(media: CallMedia, done: Callable[[MediaStats], bool], timeout: float) -> MediaStats:
    """Poll getStats() (every 0.5 s) until `done`; RTCP-derived values have no event to wait on."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        stats = await media.stats.sample_now()
        if done(stats):
            return stats
        assert asyncio.get_running_loop().time() < deadline, f"timed out; last stats {stats}"
        await asyncio.sleep(0.5)


async def distinct_rtts(media: CallMedia, count: int, skip: int = 0, timeout: float = 30) -> list[float]:
    """The next `count` new RTT values (one per RTCP RR), after skipping `skip` of them."""
    values: list[float] = []
    last = (await media.stats.sample_now()).rtt_s

    def collect(stats: MediaStats) -> bool:
        nonlocal last
        if stats.rtt_s is not None and stats.rtt_s != last:
            values.append(stats.rtt_s)
            last = stats.rtt_s
        return len(values) >= count + skip

    await sample_until(media, collect, timeout)
    return values[skip:]


async def test_injected_one_way_delay_shows_as_rtt_of_twice_the_delay():
    """D = 40 ms each way from the first packet: the reported RTT is 2·D ± 5 ms.

    The delay is on from the start because aiortc smooths RTT (new = 0.85·old + 0.15·sample): after a
    step change it would take ~20 RTCP reports to converge. The 5 ms also absorb the clean loopback
    path's own RTT (~1 ms: two aiortc stacks and the relay's timers in one process).
    """
    delay = 0.040
    impairment = Impairment(delay_s=delay, seed=1)
    async with impaired_call(impairment, impairment) as (call, answerer):
        media = call.media
        assert isinstance(media, CallMedia)
        rtts = await distinct_rtts(media, 5)
        relay = only_relay(answerer, call)
        assert relay.counters["up"].delayed > 0 and relay.counters["down"].delayed > 0
    rtt = statistics.median(rtts)
    assert abs(rtt - 2 * delay) <= 0.005, (rtt, rtts)


# The expected RFC 3550 jitter for i.i.d. normal one-way delays d_i ~ N(D, s^2) on a paced stream:
# J estimates E|d_i - d_(i-1)| and d_i - d_(i-1) ~ N(0, 2 s^2), so E|.| = sqrt(2) s sqrt(2/pi) = 2 s / sqrt(pi).
def expected_rfc3550_jitter(sigma_s: float) -> float:
    return 2.0 * sigma_s / math.sqrt(math.pi)


async def test_injected_random_loss_is_reported_within_half_a_point():
    """5 % random loss on the platform→client leg, ~1500 packets (30 s of PCMU).

    The reference is the loss the relay actually injected on RTP (its own per-packet drop record):
    a Bernoulli(5 %) over 1500 packets itself varies by ±0.56 pp (1 sigma), so the measurement is held
    to ±0.5 pp of what was dropped, and what was dropped to a binomial 4 sigma of the configured 5 %.
    """
    loss = 0.05
    async with impaired_call(Impairment(), Impairment(loss=loss, seed=7), "tone") as (call, answerer):
        media = call.media
        assert isinstance(media, CallMedia)
        stats = await sample_until(media, lambda s: s.packets_received + s.packets_lost >= 30 * PCMU_PPS, 60)
        down = only_relay(answerer, call).counters["down"]
        injected = down.rtp_dropped / down.rtp_in
    reported = stats.packets_lost / (stats.packets_received + stats.packets_lost)
    assert abs(reported - injected) <= 0.005, (reported, injected)
    assert abs(injected - loss) <= 4 * math.sqrt(loss * (1 - loss) / down.rtp_in), injected
    assert abs(reported - loss) <= 0.005 + 4 * math.sqrt(loss * (1 - loss) / down.rtp_in)


async def test_injected_jitter_raises_reported_jitter_to_the_rfc3550_expectation():
    """Normal jitter (standard deviation s = 5 ms) on the platform→client leg (reordering allowed, i.i.d. delays).

    Expected RFC 3550 value: J estimates E|d_i - d_(i-1)|; with d_i ~ N(D, s^2) i.i.d. the difference
    is N(0, 2 s^2), and E|N(0, 2 s^2)| = 2 s / sqrt(pi) ~ 1.128 s (5.64 ms for s = 5 ms). At 20 ms spacing
    packets swap order with P ~ 0.2 %, too rare to move the estimate (checked on the model itself in
    test_netem_impairment). The clean-path baseline (sender pacing on loopback) is ~0.5 ms.
    aiortc's estimator is a 1/16-gain running mean, so the reported value is the median of 15 samples.
    """
    sigma = 0.005
    async with impaired_call(Impairment(), Impairment(), "tone") as (call, answerer):
        media = call.media
        assert isinstance(media, CallMedia)
        clean = await sample_until(media, lambda s: s.packets_received >= 2 * PCMU_PPS, 30)
        only_relay(answerer, call).set_impairment(down=Impairment(delay_s=0.04, jitter_s=sigma, reorder=True, seed=3))
        # the 40 ms step in transit time decays by 15/16 per packet: gone after 3 s (150 packets)
        settled = clean.packets_received + 3 * PCMU_PPS
        await sample_until(media, lambda s: s.packets_received >= settled, 30)
        samples: list[float] = []

        def collect(stats: MediaStats) -> bool:
            if stats.jitter_s is not None:
                samples.append(stats.jitter_s)
            return len(samples) >= 15

        await sample_until(media, collect, 40)
    expected = expected_rfc3550_jitter(sigma)
    reported = statistics.median(samples)
    assert clean.jitter_s is not None and clean.jitter_s < 0.25 * expected, clean
    assert abs(reported - expected) <= 0.25 * expected, (reported, expected, samples)


async def test_burst_loss_yields_a_burst_ratio_above_one():
    """Gilbert-Elliott loss (p = 3 %, r = 30 %, all lost in the bad state): BurstR ≈ 1/(p+r) ≈ 3."""
    burst = Impairment(burst=GilbertElliott(p=0.03, r=0.3), seed=5)
    async with impaired_call(Impairment(), burst, "tone") as (call, answerer):
        media = call.media
        assert isinstance(media, CallMedia)
        await sample_until(media, lambda s: s.packets_received + s.packets_lost >= 15 * PCMU_PPS, 40)
        trace = list(only_relay(answerer, call).counters["down"].rtp_loss_trace)
        received_side = [r for r in (getattr(s, "burst_r", None) for s in media.stats.samples) if r is not None]
    assert sum(trace) > 20
    assert burst_r_from_losses(trace) > 1.5, burst_r_from_losses(trace)
    if received_side:  # the receiver's own per-interval BurstR, where rtcload.media exposes it
        assert statistics.fmean(received_side) > 1.0, received_side
