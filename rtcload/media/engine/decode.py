"""Sampled decoding off the loop: the calls asked for full analysis are decoded in one real OS thread.

Why one thread per process and not per call: a thread per call is what made aiortc's default path
cost ~3 % of a core per call and, under Locust's gevent patching, starve (patched threads become
greenlets of the loop's thread). Here the thread is created with the *original* `_thread` primitives
(`gevent.monkey.get_original` when gevent has patched them), so it is a real OS thread that blocks on
a real lock; decoded PCM goes back to the loop with `loop.call_soon_threadsafe` (the analyzers live
there). Payloads queue in a deque (append/popleft are atomic), bounded so a stalled decoder drops the
oldest rather than growing.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import sys
from typing import Any, Protocol

from aiortc.codecs import get_decoder
from aiortc.jitterbuffer import JitterFrame

from rtcload.media.analysis import ReceiveAnalyzer, frame_to_mono
from rtcload.media.capture import PcmCapture
from rtcload.media.encoded import codec_parameters

log = logging.getLogger("rtcload.media.engine")

MAX_QUEUED = 5000  # ~100 s of one call's packets, or 2 s of 50 decoded calls


def _original(module: str, name: str) -> Any:
    """The unpatched `_thread` primitive, even after gevent's monkey-patching."""
    if "gevent.monkey" in sys.modules:
        from gevent import monkey

        return monkey.get_original(module, name)
    import _thread

    return getattr(_thread, name)


class DecodeJob(Protocol):
    """Work on one received payload, run in the decode thread (a sampled decoder, a relay transcoder)."""

    def decode(self, payload: bytes, arrival: float) -> None: ...


class _DecodeWorker:
    """The process's decoding thread: (job, payload, arrival) in; each job sends its results to the loop."""

    def __init__(self) -> None:
        self._jobs: collections.deque[tuple[DecodeJob, bytes, float]] = collections.deque(maxlen=MAX_QUEUED)
        self._wake = _original("_thread", "allocate_lock")()
        self._wake.acquire()
        self._started = False

    def push(self, decoder: DecodeJob, payload: bytes, arrival: float) -> None:
        self._jobs.append((decoder, payload, arrival))
        if not self._started:
            self._started = True
            _original("_thread", "start_new_thread")(self._run, ())
        try:
            self._wake.release()
        except RuntimeError:  # already signalled: the thread drains everything queued when it wakes
            pass

    def _run(self) -> None:
        jobs = self._jobs
        while True:
            self._wake.acquire()
            while jobs:
                decoder, payload, arrival = jobs.popleft()
                try:
                    decoder.decode(payload, arrival)
                except Exception as exc:  # a corrupt payload must not end decoding for every call
                    log.debug("decode failed: %r", exc)


_WORKER: _DecodeWorker | None = None


def _worker() -> _DecodeWorker:
    global _WORKER
    if _WORKER is None:
        _WORKER = _DecodeWorker()
    return _WORKER


def off_loop(job: DecodeJob, payload: bytes, arrival: float) -> None:
    """On the loop: queue `job.decode(payload, arrival)` for the process's decode thread."""
    _worker().push(job, payload, arrival)


class SampledDecoder:
    """Decodes one call's received payloads in the process's decode thread and feeds `analyzer` on the loop."""

    def __init__(self, codec: str, analyzer: ReceiveAnalyzer, loop: asyncio.AbstractEventLoop) -> None:
        self._decoder = get_decoder(codec_parameters(codec))
        self._analyzer = analyzer
        self._loop = loop
        self._timestamp = 0
        self._step = 960 if codec == "opus" else 160
        self.stopped = False
        self.capture: PcmCapture | None = None  # set for a call whose audio is scored (audio_score)

    def push(self, payload: bytes, arrival: float, timestamp: int | None = None) -> None:
        """On the loop: queue one payload (its arrival time is the analysed frame's time; its RTP
        timestamp places it in the capture, when the call's audio is kept)."""
        if self.stopped:
            return
        if self.capture is not None and timestamp is not None:
            _worker().push(_Captured(self, timestamp), payload, arrival)  # placed in the decode thread
            return
        _worker().push(self, payload, arrival)

    def decode(self, payload: bytes, arrival: float, slot: int | None = None) -> None:
        """In the decode thread."""
        if self.stopped:
            return
        frames = self._decoder.decode(JitterFrame(data=payload, timestamp=self._timestamp))
        self._timestamp += self._step
        for frame in frames:
            samples = frame_to_mono(frame)
            if slot is not None and self.capture is not None:
                self.capture.write(slot, samples, frame.sample_rate)
            self._loop.call_soon_threadsafe(self._deliver, samples, frame.sample_rate, arrival)

    def _deliver(self, samples: Any, sample_rate: int, arrival: float) -> None:
        if not self.stopped:
            self._analyzer.add_samples(samples, sample_rate, arrival)

    def stop(self) -> None:
        self.stopped = True


class _Captured:
    """A payload of a captured call and its RTP timestamp (the decode thread's job: it places the frame
    in the capture, then decodes it for the analyzer as for any decoded call)."""

    __slots__ = ("decoder", "timestamp")

    def __init__(self, decoder: SampledDecoder, timestamp: int) -> None:
        self.decoder = decoder
        self.timestamp = timestamp

    def decode(self, payload: bytes, arrival: float) -> None:
        capture = self.decoder.capture
        slot = None if capture is None else capture.slot(self.timestamp, arrival)
        self.decoder.decode(payload, arrival, slot)
