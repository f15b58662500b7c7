"""Generated audio sources as aiortc tracks: 20 ms, s16 mono 48 kHz frames paced in real time.

Each source precomputes one loopable PCM buffer with numpy so producing a frame is a slice; the
buffer/frame split (`PcmBuffer` vs `PcmTrack`) leaves room to encode once per process later.
"""

from __future__ import annotations

import asyncio
import fractions
import time
import wave
from pathlib import Path

import av
import numpy as np
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

SAMPLE_RATE = 48_000
PTIME_S = 0.020
FRAME_SAMPLES = int(SAMPLE_RATE * PTIME_S)  # 960
TIME_BASE = fractions.Fraction(1, SAMPLE_RATE)


class PcmBuffer:
    """A loopable int16 buffer at 48 kHz; `frame(i)` is the i-th 20 ms slice (wrapping)."""

    def __init__(self, samples: np.ndarray, name: str) -> None:
        pcm = np.asarray(samples, dtype=np.int16).ravel()
        if pcm.size == 0:
            raise ValueError(f"{name}: empty audio buffer")
        # Pad to a whole number of frames by looping so every slice is contiguous.
        frames = -(-pcm.size // FRAME_SAMPLES)
        reps = -(-(frames * FRAME_SAMPLES) // pcm.size)
        self.pcm = np.tile(pcm, reps)[: frames * FRAME_SAMPLES].copy()
        self.frames = frames
        self.name = name
        self._level: float | None = None

    def frame(self, index: int) -> np.ndarray:
        start = (index % self.frames) * FRAME_SAMPLES
        return self.pcm[start : start + FRAME_SAMPLES]


def buffer_level(buffer: PcmBuffer) -> float:
    """RMS level 0..1 of a source's PCM (what a sender reports as its local audio level).

    Computed once per buffer (~1 ms for a 1 s tone): every call of a process shares its source's buffer.
    """
    if buffer._level is None:
        pcm = buffer.pcm.astype(np.float64) / 32768.0
        buffer._level = float(np.sqrt(np.mean(pcm * pcm))) if pcm.size else 0.0
    return buffer._level


def _to_int16(signal: np.ndarray) -> np.ndarray:
    return np.clip(np.round(signal * 32767.0), -32768, 32767).astype(np.int16)


def tone_buffer(freq: float, amplitude: float = 0.5, seconds: float = 1.0) -> PcmBuffer:
    """One second loops seamlessly for integer frequencies."""
    t = np.arange(int(SAMPLE_RATE * seconds)) / SAMPLE_RATE
    return PcmBuffer(_to_int16(amplitude * np.sin(2 * np.pi * freq * t)), f"tone:{freq:g}")


def dualtone_buffer(f1: float, f2: float, amplitude: float = 0.35, seconds: float = 1.0) -> PcmBuffer:
    t = np.arange(int(SAMPLE_RATE * seconds)) / SAMPLE_RATE
    signal = amplitude * (np.sin(2 * np.pi * f1 * t) + np.sin(2 * np.pi * f2 * t))
    return PcmBuffer(_to_int16(signal), f"dualtone:{f1:g},{f2:g}")


def silence_buffer() -> PcmBuffer:
    return PcmBuffer(np.zeros(FRAME_SAMPLES, dtype=np.int16), "silence")


def speech_buffer(variant: str = "") -> PcmBuffer:
    """Synthesised speech (rtcload/media/speech.py): `speech`, `speech:other`, `speech:garbled`."""
    from rtcload.media.speech import speech_pcm

    return PcmBuffer(_to_int16(speech_pcm(variant)), f"speech:{variant}" if variant else "speech")


def wav_buffer(path: str | Path) -> PcmBuffer:
    """Read a PCM WAV (8/16/32-bit int), mix to mono and resample to 48 kHz by linear interpolation."""
    try:
        with wave.open(str(path), "rb") as wav:
            channels, width, rate = wav.getnchannels(), wav.getsampwidth(), wav.getframerate()
            raw = wav.readframes(wav.getnframes())
    except (OSError, wave.Error, EOFError) as exc:
        raise ValueError(f"wav:{path}: cannot read PCM WAV ({exc})") from exc
    if width == 1:
        data = (np.frombuffer(raw, dtype=np.uint8).astype(np.float64) - 128.0) / 128.0
    elif width == 2:
        data = np.frombuffer(raw, dtype="<i2").astype(np.float64) / 32768.0
    elif width == 4:
        data = np.frombuffer(raw, dtype="<i4").astype(np.float64) / 2147483648.0
    else:
        raise ValueError(f"wav:{path}: unsupported sample width {width} bytes")
    data = data[: data.size - data.size % channels].reshape(-1, channels).mean(axis=1)
    if data.size == 0:
        raise ValueError(f"wav:{path}: no samples")
    if rate != SAMPLE_RATE:
        out_n = max(1, round(data.size * SAMPLE_RATE / rate))
        data = np.interp(np.arange(out_n) * rate / SAMPLE_RATE, np.arange(data.size), data)
    return PcmBuffer(_to_int16(data), f"wav:{path}")


class PcmTrack(MediaStreamTrack):
    """Audio track playing a PcmBuffer in a loop, paced like aiortc's AudioStreamTrack.

    `muted` swaps the payload for silence without disturbing timing (used for hold).
    """

    kind = "audio"

    def __init__(self, buffer: PcmBuffer) -> None:
        super().__init__()
        self.buffer = buffer
        self.muted = False
        self._index = 0
        self._start: float | None = None
        self._silence = np.zeros(FRAME_SAMPLES, dtype=np.int16)

    @property
    def spec(self) -> str:
        return self.buffer.name

    async def recv(self) -> av.AudioFrame:
        if self.readyState != "live":
            raise MediaStreamError
        if self._start is None:
            self._start = time.monotonic()
        else:
            wait = self._start + self._index * PTIME_S - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
        pcm = self._silence if self.muted else self.buffer.frame(self._index)
        frame = av.AudioFrame.from_ndarray(pcm.reshape(1, -1), format="s16", layout="mono")
        frame.sample_rate = SAMPLE_RATE
        frame.pts = self._index * FRAME_SAMPLES
        frame.time_base = TIME_BASE
        self._index += 1
        return frame


def _floats(text: str, spec: str, count: int) -> list[float]:
    parts = text.split(",")
    if len(parts) != count:
        raise ValueError(f"bad source spec {spec!r}: expected {count} comma-separated frequencies")
    try:
        values = [float(p) for p in parts]
    except ValueError as exc:
        raise ValueError(f"bad source spec {spec!r}: frequencies must be numbers") from exc
    for v in values:
        if not 0 < v < SAMPLE_RATE / 2:
            raise ValueError(f"bad source spec {spec!r}: frequency {v:g} outside (0, {SAMPLE_RATE // 2}) Hz")
    return values


def make_buffer(spec: str) -> PcmBuffer:
    """Parse a source spec: tone:<hz> | dualtone:<f1>,<f2> | speech[:other|:garbled] | silence | wav:<path>."""
    kind, _, arg = spec.strip().partition(":")
    if kind == "tone" and arg:
        return tone_buffer(_floats(arg, spec, 1)[0])
    if kind == "dualtone" and arg:
        f1, f2 = _floats(arg, spec, 2)
        return dualtone_buffer(f1, f2)
    if kind == "speech":
        return speech_buffer(arg)
    if kind == "silence" and not arg:
        return silence_buffer()
    if kind == "wav" and arg:
        return wav_buffer(arg)
    raise ValueError(
        f"bad source spec {spec!r}: expected tone:<hz>, dualtone:<f1>,<f2>, speech[:other|:garbled], silence"
        " or wav:<path>"
    )


def make_source(spec: str) -> PcmTrack:
    """Build a live audio track from a spec string (see make_buffer)."""
    return PcmTrack(make_buffer(spec))
