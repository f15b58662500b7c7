"""Which calls are scored, against what, and where their score goes (issue 24).

A chosen call is decoded (engine path) and keeps up to CAPTURE_S of what it heard (rtcload/media/capture.py).
When it ends, its audio goes to the process's pool (rtcload/quality/audio_score/pool.py) with the
reference it should match:
- `echo` destinations: our own source (we know what we sent);
- `prompt` destinations: the emulator's prompt, the `speech` source (whatever the route's knobs make it
  play: a platform playing the wrong prompt must score low);
- `tone` destinations: the tone;
- anything else (a real platform's IVR, another user): no reference, a no-reference score.
The score lands in the call's record (calls.csv `audio_mos`, `audio_mos_method`) and in an `audio_mos`
sample (Prometheus histogram by method and codec, the summary's percentiles, SLOs). The record of a
scored call is held until its score arrives (or the pool drops it), so calls.csv has it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

import numpy as np

from rtcload.loadgen.audio_keep import AudioKeeper, network_figures, wav_bytes
from rtcload.loadgen.settings import LoadSettings
from rtcload.media.capture import SKIP_SECONDS
from rtcload.media.sources import make_buffer
from rtcload.quality.audio_score.pool import process_pool
from rtcload.quality.audio_score.reference import reference_spec, scorable
from rtcload.quality.audio_score.score import MIN_SECONDS
from rtcload.quality.audio_score.worker import ScoreJob, ScoreResult

log = logging.getLogger("rtcload.audio")

CAPTURE_S = 12.0
NARROW_CODECS = ("pcmu", "pcma")
CODEC_LABELS = ("opus", "pcmu", "pcma")
# (record, [(sample key, value, label)]): the endpoint turns them into Samples (no import of endpoint here)
Deliver = Callable[[dict[str, Any], list[tuple[str, float, str]]], None]


def chosen(index: int, share: float) -> bool:
    """Call number `index` of this process is scored: exactly `share` of calls, evenly spread."""
    return share > 0 and int((index + 1) * share) > int(index * share)


def metric_label(method: str, codec: str | None) -> str:
    """The sample's bounded label: method/codec (codec outside the known three is `other`)."""
    return f"{method}/{codec if codec in CODEC_LABELS else 'other'}"


class AudioScoring:
    """One virtual user's scored calls: holds their records until the pool answers."""

    def __init__(self, settings: LoadSettings, source: str) -> None:
        self.settings = settings
        self.source = source
        # worth capturing: some destination of the pool sends speech we know, or audio we do not know
        self.worthwhile = settings.audio_score > 0 and any(
            scorable(reference_spec(name, source)) for name, _w in settings.destinations.items
        )
        self.pending = 0
        self._idle = asyncio.Event()
        self._idle.set()

    def prepare(self, media: Any) -> None:
        """A chosen call's media keeps what it hears (it was built with decode=True)."""
        if hasattr(media, "capture_seconds"):
            media.capture_seconds = CAPTURE_S
            process_pool(self.settings.audio_score_cpu)  # start and warm the workers now, during the call

    def finish(self, call: Any, row: dict[str, Any], deliver: Deliver) -> bool:
        """After the call: submit its audio if it was captured. True when the record is held (the pool
        calls `deliver(row, samples)` on the loop later); False when the caller keeps it now."""
        capture = getattr(call.media, "capture", None)
        if capture is None or row.get("outcome") != "answered":
            return False
        duration = row.get("duration_s")
        pcm, rate = capture.audio(None if duration is None else float(duration) - SKIP_SECONDS)
        if pcm.size < MIN_SECONDS * rate:
            row["audio_mos_method"] = "too_short"
            return False
        destination = row.get("destination") or ""
        spec = reference_spec(destination, self.source)
        if not scorable(spec):  # a tone: ViSQOL speech would call a broken tone perfect
            row["audio_mos_method"] = "not_speech"
            return False
        reference = None if spec is None else make_buffer_cached(spec)
        codec = str(row.get("codec") or "")
        job = ScoreJob(pcm, rate, reference, 48_000, narrow=codec in NARROW_CODECS)
        loop = asyncio.get_running_loop()
        pool = process_pool(self.settings.audio_score_cpu)

        keep = AudioKeeper.current() is not None

        def done(result: ScoreResult) -> None:  # in the pool's feeding thread: the WAV is made here, not on the loop
            wav = wav_bytes(pcm, rate) if keep and result.score is not None else b""
            loop.call_soon_threadsafe(self._scored, result, row, wav, codec, deliver)

        verdict = pool.submit(job, done)
        if verdict != "queued":
            row["audio_mos_method"] = verdict
            deliver(row, [_counter(verdict)])
            return True
        self.pending += 1
        self._idle.clear()
        return True

    def _scored(
        self, result: ScoreResult, row: dict[str, Any], wav: bytes, codec: str,
        deliver: Deliver,
    ) -> None:  # fmt: skip
        self.pending -= 1
        if self.pending == 0:
            self._idle.set()
        score = result.score
        if score is None:
            row["audio_mos_method"] = "failed"
            log.debug("audio score failed: %s", result.error)
            deliver(row, [_counter("failed")])
            return
        row["audio_mos"] = round(score.mos, 3)
        row["audio_mos_method"] = score.method
        keeper = AudioKeeper.current()
        if keeper is not None and wav:
            keeper.offer(row, wav, network_figures(row))
        deliver(row, [("audio_mos", score.mos, metric_label(score.method, codec)), _counter("scored")])

    async def flush(self, timeout_s: float = 30.0) -> None:
        """Wait (bounded) for this user's scores still in the pool, so their records are written."""
        if self.pending:
            try:
                await asyncio.wait_for(self._idle.wait(), timeout_s)
            except TimeoutError:
                log.warning("%d audio scores still pending at close: their calls are recorded without", self.pending)


def _counter(result: str) -> tuple[str, float, str]:
    return ("audio_scores", 1.0, result)


_REFERENCES: dict[str, np.ndarray] = {}


def make_buffer_cached(spec: str) -> np.ndarray:
    """The int16 48 kHz loop of a source spec (built once per process)."""
    if spec not in _REFERENCES:
        _REFERENCES[spec] = make_buffer(spec).pcm
    return _REFERENCES[spec]
