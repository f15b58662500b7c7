"""MOS moves the way the E-model predicts when the network gets worse (impairment relay in the path)."""

from __future__ import annotations

from rtcload.media.peer import CallMedia
from rtcload.media.rating import rate_samples
from rtcload.netem.impairment import Impairment
from rtcload.quality.emodel import rate
from tests.test_netem_media import PCMU_PPS, impaired_call, only_relay, sample_until


async def test_mos_under_injected_loss_and_delay_follows_the_e_model():
    """5 % random loss platform->client and 40 ms each way: the rated intervals' mean MOS must sit where
    G.107 puts those conditions for PCMU (with PLC), clearly below the clean value."""
    loss, delay = 0.05, 0.04
    up, down = Impairment(delay_s=delay, seed=11), Impairment(delay_s=delay, loss=loss, seed=12)
    async with impaired_call(up, down, "tone") as (call, answerer):
        media = call.media
        assert isinstance(media, CallMedia)
        await sample_until(media, lambda s: s.packets_received + s.packets_lost >= 25 * PCMU_PPS, 60)
        relay = only_relay(answerer, call).counters["down"]
        injected = relay.rtp_dropped / relay.rtp_in
        quality = rate_samples(list(media.stats.samples), media.codec)
    rated = [q for q in quality.rated if q.rtt_known]
    assert len(rated) >= 10
    measured_mos = sum(q.mos for q in rated if q.mos is not None) / len(rated)
    mean_ta_ms = 1000 * sum(q.ta_s for q in rated) / len(rated)
    predicted = rate(ta_ms=mean_ta_ms, ppl_percent=100 * injected, codec="pcmu").mos
    clean = rate(ta_ms=0.0, ppl_percent=0.0, codec="pcmu").mos
    assert abs(measured_mos - predicted) <= 0.15, (measured_mos, predicted, injected)
    assert clean - measured_mos >= 0.6 * (clean - predicted) >= 0.25, (clean, measured_mos)  # a real drop
    assert 40 <= mean_ta_ms <= 200, mean_ta_ms  # RTT/2 (~40 ms) + jitter buffer + PCMU packetisation
