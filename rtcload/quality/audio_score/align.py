"""Resampling and alignment of a received segment to the looped source it came from (numpy only).

Why alignment here and not only ViSQOL's own: a call's audio starts at an arbitrary point of the looped
source and reaches us after the round trip, so the received segment is a rotation of the loop. One FFT
cross-correlation over the whole loop finds that rotation; ViSQOL then refines patch by patch.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

SCORE_RATE = 16_000  # ViSQOL speech mode and PLCMOS both work on 16 kHz
NARROWBAND_RATE = 8_000


def resample(signal: np.ndarray, rate: int, target: int) -> np.ndarray:
    """Band-limited resampling by FFT zero-padding/truncation: an ideal low-pass at the lower Nyquist."""
    signal = np.asarray(signal, dtype=np.float64)
    if rate == target or signal.size == 0:
        return signal
    n_out = max(1, round(signal.size * target / rate))
    spectrum = np.fft.rfft(signal)
    resized = np.zeros(n_out // 2 + 1, dtype=complex)
    keep = min(resized.size, spectrum.size)
    resized[:keep] = spectrum[:keep]
    return np.fft.irfft(resized, n_out) * (n_out / signal.size)


def narrowband(signal: np.ndarray, rate: int) -> np.ndarray:
    """What a G.711 leg can carry: down to 8 kHz and back to `rate` (everything above 4 kHz removed)."""
    return resample(resample(signal, rate, NARROWBAND_RATE), NARROWBAND_RATE, rate)


@dataclass(frozen=True)
class Alignment:
    offset: int  # samples into the loop where the received segment starts
    correlation: float  # normalised cross-correlation at that offset (1.0: identical waveform)


def align(received: np.ndarray, loop: np.ndarray) -> tuple[np.ndarray, Alignment]:
    """The stretch of the looped `loop` that lines up with `received` (same rate, same length as received)."""
    n, period = received.size, loop.size
    if n == 0 or period == 0:
        raise ValueError("cannot align an empty signal")
    reps = -(-(n + period) // period)
    tiled = np.tile(loop, reps)
    size = 1 << int(np.ceil(np.log2(tiled.size + n)))
    spectrum = np.fft.rfft(tiled, size) * np.conj(np.fft.rfft(received, size))
    corr = np.fft.irfft(spectrum, size)[:period]
    offset = int(np.argmax(corr))
    segment = tiled[offset : offset + n]
    norm = float(np.linalg.norm(segment) * np.linalg.norm(received))
    correlation = float(corr[offset] / norm) if norm > 0 else 0.0
    return segment, Alignment(offset, correlation)
