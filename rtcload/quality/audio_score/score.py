"""One call's score: align, pick the method, rate. Runs in a worker process (rtcload/loadgen/audio_pool.py).

Methods (the label every output carries):
- `visqol-speech`: ViSQOL v3 speech mode, MOS-LQO 1..5 (visqol-python with its lattice model), for calls
  whose sent audio is known (echo of our own source, the emulator's prompt). Narrowband calls (G.711)
  are scored against the reference band-limited the same way: against a wideband reference a perfect
  G.711 call reads ~2.3.
- `plcmos`: PLCMOS v2 (Microsoft, MIT, via speechmos), 1..5, no reference, for audio we cannot predict.
A call that received (almost) nothing gets MOS 1.0 with method `silent` rather than a model's guess.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

import numpy as np

from rtcload.quality.audio_score.align import SCORE_RATE, align, narrowband, resample

MIN_SECONDS = 3.0  # shorter captures are not scored: ViSQOL needs patches, PLCMOS a few seconds
SILENT_DBFS = -55.0  # the received segment's RMS below this: nothing audible arrived
LOWEST = 1.0


@dataclass(frozen=True)
class AudioScore:
    mos: float
    method: str  # visqol-speech | plcmos | silent
    correlation: float | None = None  # alignment's normalised cross-correlation (visqol-speech only)
    seconds: float = 0.0  # length of the scored segment


@functools.cache
def _visqol() -> Any:
    from visqol import VisqolApi

    api = VisqolApi()
    api.create(mode="speech", use_lattice_model=True)  # the polynomial fallback over-predicts: never use it
    return api


@functools.cache
def _plcmos() -> Any:
    from speechmos.plcmos import PLCMOS

    return PLCMOS()


def visqol_speech(reference: np.ndarray, degraded: np.ndarray) -> float:
    """MOS-LQO of two aligned 16 kHz float signals."""
    return float(_visqol().measure_from_arrays(reference, degraded, SCORE_RATE).moslqo)


def plcmos(degraded: np.ndarray) -> float:
    """PLCMOS v2 of a 16 kHz float signal in [-1, 1] (its rater embeddings are random: seeded here)."""
    np.random.seed(0)
    return float(_plcmos().get_mos(np.clip(degraded, -1.0, 1.0), 16_000))


def _rms_dbfs(signal: np.ndarray) -> float:
    rms = float(np.sqrt(np.mean(signal * signal))) if signal.size else 0.0
    return 20 * np.log10(rms) if rms > 0 else -120.0


def score_call(
    received: np.ndarray, rate: int, reference: np.ndarray | None = None, reference_rate: int = 48_000,
    narrow: bool = False,
) -> AudioScore:  # fmt: skip
    """Score `received` (float in [-1, 1] at `rate`). `reference`: the looped source that was sent, or None
    (no-reference score). `narrow`: the call's codec carries 8 kHz audio (G.711)."""
    degraded = resample(np.asarray(received, dtype=np.float64), rate, SCORE_RATE)
    seconds = degraded.size / SCORE_RATE
    if seconds < MIN_SECONDS:
        raise ValueError(f"{seconds:.1f} s of audio is too short to score (needs {MIN_SECONDS:g} s)")
    if _rms_dbfs(degraded) < SILENT_DBFS:
        return AudioScore(LOWEST, "silent", None, seconds)
    if reference is None:
        return AudioScore(plcmos(degraded), "plcmos", None, seconds)
    loop = resample(np.asarray(reference, dtype=np.float64), reference_rate, SCORE_RATE)
    if narrow:
        loop = narrowband(loop, SCORE_RATE)
    segment, alignment = align(degraded, loop)
    mos = visqol_speech(segment, degraded)
    return AudioScore(mos, "visqol-speech", alignment.correlation, seconds)
