"""The scoring worker process: warm the models once, then score jobs from a pipe until it closes.

Why a process of its own: ViSQOL and PLCMOS hold the GIL for ~0.5 s per call and numba's first call
compiles for ~10 s; in the generator's process either would stop every call's packets. The worker is
started with `spawn` (a fresh interpreter: no Locust, no gevent, no event loop) and lowers its own
priority, so on a busy machine the media loop wins the CPU.
"""

from __future__ import annotations

import os
import resource
import traceback
from dataclasses import dataclass
from multiprocessing.connection import Connection

import numpy as np

from rtcload.quality.audio_score.score import AudioScore, plcmos, score_call, visqol_speech

NICE = 10


@dataclass(frozen=True)
class ScoreJob:
    """One call's received audio and what to score it against (sent from the generator process)."""

    pcm: np.ndarray  # float32 mono, [-1, 1]
    rate: int
    reference: np.ndarray | None  # int16 mono loop at reference_rate, or None: no-reference score
    reference_rate: int = 48_000
    narrow: bool = False


@dataclass(frozen=True)
class ScoreResult:
    score: AudioScore | None
    cpu_s: float  # CPU this job cost the worker
    error: str = ""


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def warm_up() -> float:
    """Compile and load both scorers on 4 s of a deterministic chirp-and-noise signal: CPU seconds spent."""
    start = _cpu()
    rate = 16_000
    t = np.arange(4 * rate) / rate
    rng = np.random.default_rng(0)
    signal = 0.3 * np.sin(2 * np.pi * (200 + 300 * t) * t) * (0.5 + 0.5 * np.sin(2 * np.pi * 3 * t))
    signal += 0.01 * rng.standard_normal(signal.size)
    visqol_speech(signal, signal)
    plcmos(signal)
    return _cpu() - start


def run(conn: Connection) -> None:
    """Worker main: reply ("ready", warm-up CPU) once warm, then one ScoreResult per ScoreJob."""
    try:
        os.nice(NICE)
    except OSError:
        pass
    try:
        conn.send(("ready", warm_up()))
    except Exception as exc:  # the extra is broken here: say so once, score nothing
        conn.send(("broken", f"{type(exc).__name__}: {exc}"))
        return
    while True:
        try:
            job = conn.recv()
        except (EOFError, OSError):
            return
        start = _cpu()
        try:
            ref = None if job.reference is None else job.reference.astype(np.float64) / 32768.0
            score = score_call(job.pcm, job.rate, ref, job.reference_rate, job.narrow)
            conn.send(ScoreResult(score, _cpu() - start))
        except Exception as exc:  # one bad capture must not end scoring for the run
            detail = traceback.format_exception_only(exc)[-1].strip()
            conn.send(ScoreResult(None, _cpu() - start, detail))
