"""`rtcload call`'s audio score: the one call's received audio, scored by the same worker pool as a run's.

Why a module beside call_command and not loadgen/audio_calls: the import layers keep `rtcload call` and
the load generator independent; both share the pure parts (rtcload/quality/audio_score: scoring, the
reference rules, the pool).
"""

from __future__ import annotations

import asyncio
from typing import Any

from rtcload.media.capture import SKIP_SECONDS
from rtcload.media.sources import make_buffer
from rtcload.quality.audio_score.pool import AudioScorePool, process_pool
from rtcload.quality.audio_score.reference import reference_spec, scorable
from rtcload.quality.audio_score.score import MIN_SECONDS
from rtcload.quality.audio_score.worker import ScoreJob, ScoreResult

CAPTURE_S = 12.0
WAIT_S = 90.0  # warm-up (~10 s the first time on a machine, numba caches after) plus one score


def worth_scoring(destination: str, source: str) -> bool:
    """Speech we know or audio we do not (a tone is not scored: reference.py says why)."""
    return scorable(reference_spec(destination, source))


def start_pool() -> AudioScorePool:
    """Start and warm the scoring worker while the call is set up."""
    return process_pool()


async def score_call_media(
    media: Any, destination: str, source: str, codec: str | None, duration_s: float
) -> dict[str, Any]:
    """audio_mos / audio_mos_method (and a note when there is none) for the call's captured audio;
    `duration_s`: how long the call lasted (silence that never arrived counts as heard)."""
    capture = getattr(media, "capture", None)
    if capture is None:
        return {"audio_mos_method": "none", "audio_note": "no audio captured"}
    pool = process_pool()
    if pool.broken:
        return {"audio_mos_method": "unavailable"}  # the pool said why, once, in the log
    pcm, rate = capture.audio(duration_s - SKIP_SECONDS)
    if pcm.size < MIN_SECONDS * rate:
        return {"audio_mos_method": "too_short", "audio_note": f"needs a call of {MIN_SECONDS + SKIP_SECONDS:g} s"}
    spec = reference_spec(destination, source)
    reference = None if spec is None else make_buffer(spec).pcm
    loop = asyncio.get_running_loop()
    future: asyncio.Future[ScoreResult] = loop.create_future()
    verdict = pool.submit(
        ScoreJob(pcm, rate, reference, 48_000, narrow=codec in ("pcmu", "pcma")),
        lambda result: loop.call_soon_threadsafe(future.set_result, result),
    )
    if verdict != "queued":
        return {"audio_mos_method": verdict}
    try:
        result = await asyncio.wait_for(future, WAIT_S)
    except TimeoutError:
        return {"audio_mos_method": "timeout"}
    if result.score is None:
        return {"audio_mos_method": "failed", "audio_note": result.error}
    return {"audio_mos": round(result.score.mos, 3), "audio_mos_method": result.score.method}
