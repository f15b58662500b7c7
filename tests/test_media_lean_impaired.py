"""The lean media path reports the same loss, RTT and MOS as the full path on the same impaired call."""

from __future__ import annotations

from rtcload.emulator import Emulator
from rtcload.emulator.aiortc_answerer import AiortcAnswerer
from rtcload.media.lean import LeanCallMedia
from rtcload.media.loopback import use_loopback_only
from rtcload.media.media_settings import MediaSettings
from rtcload.media.peer import CallMedia
from rtcload.media.rating import rate_samples
from rtcload.netem.impairment import Impairment
from rtcload.netem.sdp_relay import ImpairedAnswerer
from rtcload.signaling import ClientConfig, PasswordCredentials, SignalingClient
from tests.conftest import fast_config
from tests.test_netem_media import PCMU_PPS, sample_until

use_loopback_only()
LOSS, DELAY = 0.05, 0.03


async def measure(media_class: type[CallMedia], seed: int) -> dict[str, float]:
    up, down = Impairment(delay_s=DELAY, seed=seed), Impairment(delay_s=DELAY, loss=LOSS, seed=seed + 1)
    answerer = ImpairedAnswerer(AiortcAnswerer(loopback_only=True, lean=True), up, down)
    async with Emulator(fast_config(), answerer) as emu:
        client = SignalingClient(
            ClientConfig(url=emu.url, credentials=PasswordCredentials("alice", "alice-pass")),
            lambda: media_class("tone:440", settings=MediaSettings(codec="pcmu", stats_interval_s=1.0)),
        )
        await client.connect(timeout=20)
        try:
            call = await client.call("echo", answer_timeout_s=20)
            media = call.media
            assert isinstance(media, media_class)
            last = await sample_until(media, lambda s: s.packets_received + s.packets_lost >= 20 * PCMU_PPS, 60)
            counters = answerer.relay(call.id).counters["down"]
            injected = counters.rtp_dropped / counters.rtp_in
            # one E-model rating over the whole window: short intervals would only add sampling noise
            first = next(s for s in media.stats.samples if s.packets_received > 0 and s.rtt_s is not None)
            (whole,) = rate_samples([first, last], media.codec).rated
        finally:
            await client.close()
    return {
        "loss": last.packets_lost / (last.packets_received + last.packets_lost),
        "injected": injected,
        "rtt": whole.rtt_s,
        "mos": whole.mos,
    }


async def test_lean_and_full_paths_agree_on_an_impaired_call():
    full = await measure(CallMedia, seed=21)
    lean = await measure(LeanCallMedia, seed=21)  # same seeds: the relay drops the same packets
    for run in (full, lean):
        assert abs(run["loss"] - run["injected"]) <= 0.005, run  # each reports what the relay dropped
        assert abs(run["rtt"] - 2 * DELAY) <= 0.01, run
    assert abs(full["mos"] - lean["mos"]) <= 0.1, (full, lean)
    assert full["mos"] < 4.0  # the impairment shows in both
    assert abs(full["rtt"] - lean["rtt"]) <= 0.005, (full, lean)
