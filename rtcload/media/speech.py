"""The speech source: real synthesised speech, made on this machine, never shipped.

Why synthesised here: a recording we could ship under a clear licence would be one more binary in the
repository; espeak-ng (Debian package `espeak-ng`, installed by scripts/test and .ci/run) speaks a fixed
sentence in ~20 ms and is deterministic for a given version, and a program's output is not its licence.
The same PCM is what a call sends (`--rtc-audio speech`) and what a received call is scored against
(rtcload/quality/audio_score). Without espeak-ng the source falls back, once and loudly, to a seeded
speech-like signal (band-limited noise with syllable and phrase envelopes), still deterministic.

Variants (source specs): `speech` (the reference utterance), `speech:other` (a different sentence: a
platform that plays the wrong prompt) and `speech:garbled` (the reference with every 40 ms chunk played
backwards: every packet arrives, the words do not). The last two exist so the emulator can play them.
"""

from __future__ import annotations

import functools
import logging
import os
import shutil
import sys
import tempfile
import wave
from pathlib import Path
from typing import Any

import numpy as np

from rtcload.options import env

log = logging.getLogger("rtcload.media")

SAMPLE_RATE = 48_000
VOICE = "en-us"
WORDS_PER_MINUTE = 150
TEXTS = {
    "": "The quick brown fox jumps over the lazy dog. "
    "Every packet can arrive on time, and the caller may still hear nothing but noise.",
    "other": "Please hold while we connect your call. Your estimated waiting time is four minutes.",
}
VARIANTS = (*TEXTS, "garbled")
PAUSE_S = 0.6  # silence after each utterance, so the looped source has pauses like speech
PEAK = 0.6  # peak amplitude of the utterance (talk spurts well above -30 dBFS, headroom for codecs)
GARBLE_CHUNK_S = 0.040


def _resample(signal: np.ndarray, rate: int, target: int) -> np.ndarray:
    """Band-limited resampling by FFT zero-padding/truncation (exact for a finite signal; numpy only)."""
    if rate == target:
        return signal
    n_out = round(signal.size * target / rate)
    spectrum = np.fft.rfft(signal)
    out_bins = n_out // 2 + 1
    resized = np.zeros(out_bins, dtype=complex)
    keep = min(out_bins, spectrum.size)
    resized[:keep] = spectrum[:keep]
    return np.fft.irfft(resized, n_out) * (n_out / signal.size)


def espeak_available() -> bool:
    return shutil.which("espeak-ng") is not None


def _os(name: str) -> Any:
    """An `os` function, the unpatched one under gevent: its patched posix_spawn/waitpid need the main
    thread's hub, and the speech source is built in the asyncio thread (`subprocess` is patched too)."""
    if "gevent.monkey" in sys.modules:
        from gevent import monkey

        return monkey.get_original("os", name)
    return getattr(os, name)


def _spawn_and_wait(argv: list[str]) -> int:
    pid = _os("posix_spawnp")(argv[0], argv, env.for_child())
    _, status = _os("waitpid")(pid, 0)
    return os.waitstatus_to_exitcode(status)


@functools.lru_cache(maxsize=8)
def _espeak(text: str) -> np.ndarray:
    """espeak-ng's WAV (22.05 kHz s16 mono) of `text`, as float64 at 48 kHz."""
    with tempfile.TemporaryDirectory(prefix="rtcload-speech-") as tmp:
        path = Path(tmp) / "speech.wav"
        argv = ["espeak-ng", "-v", VOICE, "-s", str(WORDS_PER_MINUTE), "-w", str(path), text]
        code = _spawn_and_wait(argv)
        if code != 0:
            raise RuntimeError(f"espeak-ng exited with {code}")
        with wave.open(str(path), "rb") as wav:
            rate = wav.getframerate()
            raw = wav.readframes(wav.getnframes())
    data = np.frombuffer(raw, dtype="<i2").astype(np.float64) / 32768.0
    return _resample(data, rate, SAMPLE_RATE)


def _speech_like(seconds: float = 6.0, seed: int = 1234) -> np.ndarray:
    """The fallback: 300-3400 Hz noise, ~4 Hz syllable envelope, ~1.5 s phrases and ~0.5 s pauses."""
    rng = np.random.default_rng(seed)
    n = int(SAMPLE_RATE * seconds)
    spectrum = np.fft.rfft(rng.standard_normal(n))
    freqs = np.fft.rfftfreq(n, 1 / SAMPLE_RATE)
    spectrum[(freqs < 300) | (freqs > 3400)] = 0
    noise = np.fft.irfft(spectrum, n)
    noise /= np.max(np.abs(noise)) or 1.0
    t = np.arange(n) / SAMPLE_RATE
    syllables = 0.2 + 0.8 * (0.5 + 0.5 * np.sin(2 * np.pi * 4.0 * t + rng.uniform(0, np.pi))) ** 2
    phrase = ((t % 2.0) < 1.5).astype(float)
    ramp = int(0.02 * SAMPLE_RATE)
    phrase = np.convolve(phrase, np.ones(ramp) / ramp, mode="same")
    return noise * syllables * phrase


def _garble(signal: np.ndarray) -> np.ndarray:
    """Every 40 ms chunk reversed in time: the same spectrum and level, no intelligible words."""
    chunk = int(GARBLE_CHUNK_S * SAMPLE_RATE)
    usable = signal.size - signal.size % chunk
    out = signal.copy()
    out[:usable] = signal[:usable].reshape(-1, chunk)[:, ::-1].ravel()
    return out


_WARNED = False


@functools.lru_cache(maxsize=8)
def speech_pcm(variant: str = "") -> np.ndarray:
    """The variant's utterance plus a pause, float64 at 48 kHz, peak PEAK. Raises ValueError for an
    unknown variant."""
    global _WARNED
    if variant not in VARIANTS:
        raise ValueError(f"bad source spec 'speech:{variant}': expected speech, speech:other or speech:garbled")
    text = TEXTS["" if variant == "garbled" else variant]
    if espeak_available():
        signal = _espeak(text)
    else:
        if not _WARNED:
            _WARNED = True
            log.warning("espeak-ng not found (apt-get install espeak-ng): the speech source is a speech-like signal")
        signal = _speech_like(seed=1234 if variant != "other" else 4321)
    signal = signal * (PEAK / (np.max(np.abs(signal)) or 1.0))
    if variant == "garbled":
        signal = _garble(signal)
    return np.concatenate([signal, np.zeros(int(PAUSE_S * SAMPLE_RATE))])


def speech_origin() -> str:
    """What the speech source is made from on this machine (reports say it next to scores)."""
    return f"espeak-ng {VOICE} {WORDS_PER_MINUTE} wpm" if espeak_available() else "speech-like signal (no espeak-ng)"
