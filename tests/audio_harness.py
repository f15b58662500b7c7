"""Real calls whose received audio is scored: the emulator (engine media) behind the impairment relay,
a client on the engine path that captures what it hears, and the real scoring pool (worker process).

Used by tests/test_audio_score.py (a small subset) and bench/audio_quality.py (the docs/quality.md table).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from rtcload.emulator import Emulator
from rtcload.emulator.aiortc_answerer import AiortcAnswerer
from rtcload.loadgen.audio_calls import make_buffer_cached
from rtcload.media.capture import SKIP_SECONDS
from rtcload.media.engine.call_media import EngineCallMedia
from rtcload.media.loopback import use_loopback_only
from rtcload.media.media_settings import MediaSettings
from rtcload.media.rating import rate_report
from rtcload.netem.impairment import Impairment
from rtcload.netem.sdp_relay import ImpairedAnswerer
from rtcload.quality.audio_score.pool import AudioScorePool
from rtcload.quality.audio_score.reference import reference_spec
from rtcload.quality.audio_score.score import AudioScore
from rtcload.quality.audio_score.worker import ScoreJob, ScoreResult
from rtcload.signaling import ClientConfig, InboundPolicy, PasswordCredentials, SignalingClient
from tests.conftest import fast_config

use_loopback_only()


@dataclass(frozen=True)
class ScoredCall:
    label: str
    score: AudioScore | None
    error: str
    codec: str | None
    emodel_mos: float | None  # mean E-model MOS of the call's rated intervals
    loss_ratio: float | None
    jitter_s: float | None
    late: int  # packets the capture's playout buffer discarded as late


async def score(pool: AudioScorePool, job: ScoreJob) -> ScoreResult:
    loop = asyncio.get_running_loop()
    future: asyncio.Future[ScoreResult] = loop.create_future()
    verdict = pool.submit(job, lambda r: loop.call_soon_threadsafe(future.set_result, r))
    assert verdict == "queued", verdict
    return await asyncio.wait_for(future, 120)


def _media(source: str, codec: str, capture_s: float) -> EngineCallMedia:
    media = EngineCallMedia(source, decode=True, settings=MediaSettings(codec=codec, stats_interval_s=1.0))
    media.capture_seconds = capture_s
    return media


async def scored_call(
    pool: AudioScorePool,
    label: str,
    destination: str = "echo",
    *,
    source: str = "speech",
    codec: str = "opus",
    up: Impairment | None = None,
    down: Impairment | None = None,
    callee_codec: str | None = None,
    capture_s: float = 8.0,
) -> ScoredCall:
    """One call of `capture_s` heard seconds (after the skipped first second), then its score.

    `callee_codec`: the call goes to a second client (bob, sending `source` in that codec) through the
    emulator's relay, transcoded when the codecs differ; else to `destination` behind the impairments.
    """
    answerer: Any = AiortcAnswerer(loopback_only=True)
    if up is not None or down is not None:
        answerer = ImpairedAnswerer(answerer, up or Impairment(), down or Impairment())
    async with Emulator(fast_config(), answerer) as emu:
        bob = None
        if callee_codec is not None:
            bob = SignalingClient(
                ClientConfig(url=emu.url, credentials=PasswordCredentials("bob", "bob-pass")),
                lambda: EngineCallMedia(source, settings=MediaSettings(codec=callee_codec, stats_interval_s=1.0)),
                inbound_policy=InboundPolicy.ANSWER,
            )
            await bob.connect(timeout=20)
            destination = "bob"
        client = SignalingClient(
            ClientConfig(url=emu.url, credentials=PasswordCredentials("alice", "alice-pass")),
            lambda: _media(source, codec, capture_s),
        )
        await client.connect(timeout=20)
        try:
            call = await client.call(destination, answer_timeout_s=20)
            media = call.media
            assert isinstance(media, EngineCallMedia)
            assert await media.wait_connected(20), "media never connected"
            await call.wait_ended(SKIP_SECONDS + capture_s + 0.5)  # the far end may hang up; else we do
            if not call.ended:
                await call.hangup()
            report = call.media_report
        finally:
            await client.close()
            if bob is not None:
                await bob.close()
    capture = media.capture
    assert capture is not None
    pcm, rate = capture.audio(capture_s)
    spec = source if callee_codec is not None else reference_spec(destination, source)
    reference = None if spec is None else make_buffer_cached(spec)
    result = await score(pool, ScoreJob(pcm, rate, reference, 48_000, narrow=codec in ("pcmu", "pcma")))
    quality = rate_report(report)
    summaries = quality.summaries()

    def mean(key: str) -> float | None:
        entry = summaries.get(key)
        return None if entry is None else entry["mean"]

    return ScoredCall(
        label, result.score, result.error, report.codec, mean("mos"), mean("loss_ratio"), mean("jitter_s"),
        capture.late,
    )  # fmt: skip
