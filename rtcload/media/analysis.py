"""What arrived on a received audio track: first audio, level, silence, dominant tone, one-way.

The pure functions work on float arrays in [-1, 1] so they are testable without aiortc. The
analyzer also *consumes* the remote track, which aiortc requires (its decoded-frame queue grows
without bound otherwise).
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

import av
import numpy as np
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

DBFS_FLOOR = -120.0
DEFAULT_ENERGY_FLOOR_DBFS = -50.0


def rms_dbfs(samples: np.ndarray) -> float:
    """RMS level in dBFS (full-scale sine = -3.01 dBFS); -120 for empty/digital silence."""
    if samples.size == 0:
        return DBFS_FLOOR
    rms = float(np.sqrt(np.mean(np.square(samples, dtype=np.float64))))
    return max(DBFS_FLOOR, 20.0 * math.log10(rms)) if rms > 0 else DBFS_FLOOR


def dominant_frequency(samples: np.ndarray, sample_rate: int) -> float | None:
    """Strongest non-DC frequency (Hann window + parabolic peak interpolation); None if too short/silent."""
    n = samples.size
    if n < 64 or not np.any(samples):
        return None
    spectrum = np.abs(np.fft.rfft(samples * np.hanning(n)))
    spectrum[0] = 0.0
    k = int(np.argmax(spectrum))
    if spectrum[k] <= 0:
        return None
    offset = 0.0
    if 0 < k < spectrum.size - 1:
        a, b, c = np.log(spectrum[k - 1 : k + 2] + 1e-12)
        denom = a - 2 * b + c
        if denom != 0:
            offset = 0.5 * (a - c) / denom
    return float((k + offset) * sample_rate / n)


def goertzel(samples: np.ndarray, sample_rate: int, freq: float) -> float:
    """Normalised power at `freq` (~amplitude**2/4 for a pure sine at that frequency).

    Computes the single-bin DFT |X(f)|**2 / n**2 that the Goertzel recursion yields, vectorised with numpy
    (a Python-level recursion costs ~10 ms per 0.5 s window).
    """
    n = samples.size
    if n == 0:
        return 0.0
    phase = np.exp(-2j * np.pi * freq / sample_rate * np.arange(n))
    return float(abs(np.dot(samples.astype(np.float64), phase)) ** 2) / (n * n)


def frame_to_mono(frame: av.AudioFrame) -> np.ndarray:
    """Decoded aiortc frame (s16 packed, mono or stereo) -> float mono in [-1, 1]."""
    data = frame.to_ndarray().astype(np.float32).ravel() / 32768.0
    channels = len(frame.layout.channels)
    if channels > 1:
        data = data[: data.size - data.size % channels].reshape(-1, channels).mean(axis=1)
    return data


@dataclass(frozen=True)
class AnalyzerSummary:
    frames: int
    first_frame_at: float | None  # monotonic
    first_audio_at: float | None  # monotonic, first frame above the energy floor
    rms_dbfs: float  # over everything received
    window_dbfs: float  # over the last window
    silence_ratio: float  # fraction of frames below the energy floor (0 if none received)
    dominant_hz: float | None
    one_way: bool


class ReceiveAnalyzer:
    """Consume a remote audio track and keep running measurements of it.

    One-way audio = we have been sending (`set_sending(True)`) for `one_way_after_s` and no frame above
    the energy floor arrived in that time; it also fires when no track/RTP arrives at all.
    """

    def __init__(
        self,
        energy_floor_dbfs: float = DEFAULT_ENERGY_FLOOR_DBFS,
        window_s: float = 0.5,
        one_way_after_s: float = 5.0,
        on_frame: Callable[[av.AudioFrame], None] | None = None,
    ) -> None:
        self.energy_floor_dbfs = energy_floor_dbfs
        self.window_s = window_s
        self.one_way_after_s = one_way_after_s
        self.on_frame = on_frame
        self.frames = 0
        self.silent_frames = 0
        self.first_frame_at: float | None = None
        self.first_audio_at: float | None = None
        self.last_audio_at: float | None = None
        self.sending_since: float | None = None
        self._sum_squares = 0.0
        self._samples = 0
        self._window: deque[np.ndarray] = deque()
        self._window_samples = 0
        self._rate = 0
        self._changed = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    # --- feeding -------------------------------------------------------------------------------
    def attach(self, track: MediaStreamTrack) -> None:
        """Start consuming `track` in a task (one track per analyzer)."""
        if self._task is None:
            self._task = asyncio.ensure_future(self._consume(track))

    async def _consume(self, track: MediaStreamTrack) -> None:
        with contextlib.suppress(MediaStreamError, asyncio.CancelledError):
            while True:
                frame = await track.recv()
                if self.on_frame is not None:
                    self.on_frame(frame)
                self.add_frame(frame)

    def add_frame(self, frame: av.AudioFrame) -> None:
        self.add_samples(frame_to_mono(frame), frame.sample_rate)

    def add_samples(self, samples: np.ndarray, sample_rate: int, now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        self.frames += 1
        if self.first_frame_at is None:
            self.first_frame_at = now
        if rms_dbfs(samples) >= self.energy_floor_dbfs:
            self.last_audio_at = now
            if self.first_audio_at is None:
                self.first_audio_at = now
        else:
            self.silent_frames += 1
        self._sum_squares += float(np.sum(np.square(samples, dtype=np.float64)))
        self._samples += samples.size
        if sample_rate != self._rate:
            self._window.clear()
            self._window_samples = 0
            self._rate = sample_rate
        self._window.append(samples)
        self._window_samples += samples.size
        limit = int(self.window_s * sample_rate)
        while self._window and self._window_samples - self._window[0].size >= limit:
            self._window_samples -= self._window.popleft().size
        self._changed.set()

    def set_sending(self, sending: bool, now: float | None = None) -> None:
        """Tell the one-way detector whether we currently send audio energy."""
        if sending and self.sending_since is None:
            self.sending_since = time.monotonic() if now is None else now
        elif not sending:
            self.sending_since = None

    # --- measurements --------------------------------------------------------------------------
    def window_samples(self) -> np.ndarray:
        return np.concatenate(list(self._window)) if self._window else np.zeros(0, dtype=np.float32)

    def rms_dbfs(self) -> float:
        if self._samples == 0:
            return DBFS_FLOOR
        rms = math.sqrt(self._sum_squares / self._samples)
        return max(DBFS_FLOOR, 20 * math.log10(rms)) if rms > 0 else DBFS_FLOOR

    def window_dbfs(self) -> float:
        return rms_dbfs(self.window_samples())

    def silence_ratio(self) -> float:
        return self.silent_frames / self.frames if self.frames else 0.0

    def dominant_frequency(self) -> float | None:
        """Dominant frequency over the last window, None if it is below the energy floor."""
        samples = self.window_samples()
        if rms_dbfs(samples) < self.energy_floor_dbfs:
            return None
        return dominant_frequency(samples, self._rate)

    def detect_tone(self, freq: float, tolerance_hz: float = 10.0) -> bool:
        found = self.dominant_frequency()
        return found is not None and abs(found - freq) <= tolerance_hz

    def one_way(self, now: float | None = None) -> bool:
        if self.sending_since is None:
            return False
        now = time.monotonic() if now is None else now
        since = max(self.sending_since, self.last_audio_at or self.sending_since)
        return now - since >= self.one_way_after_s

    def summary(self) -> AnalyzerSummary:
        return AnalyzerSummary(
            frames=self.frames,
            first_frame_at=self.first_frame_at,
            first_audio_at=self.first_audio_at,
            rms_dbfs=self.rms_dbfs(),
            window_dbfs=self.window_dbfs(),
            silence_ratio=self.silence_ratio(),
            dominant_hz=self.dominant_frequency(),
            one_way=self.one_way(),
        )

    # --- waiting -------------------------------------------------------------------------------
    async def wait_until(self, predicate: Callable[[ReceiveAnalyzer], bool], timeout: float, tick: float = 0.1) -> bool:
        """Wait until `predicate(self)` holds; re-checked on every frame and every `tick` (for time-based
        conditions such as one-way). Returns False on timeout."""
        deadline = time.monotonic() + timeout
        while not predicate(self):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            self._changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), min(tick, remaining))
        return True

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
