"""Encode-once audio: every source is encoded once per process per codec and shared by all calls.

A track whose `recv()` returns `av.Packet` makes aiortc's RTCRtpSender call `encoder.pack()` inline
(rtcrtpsender._next_encoded_frame): no per-frame encode and no executor thread hop. Packets are
paced on each track's own 20 ms grid and the gap between sends is recorded process-wide, so a
generator that falls behind its own clock is visible (send-interval p99), not mistaken for jitter.
"""

from __future__ import annotations

import asyncio
import collections
import fractions
import functools
import time
from collections.abc import Callable

import av
import numpy as np
from aiortc.codecs import get_encoder
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack
from aiortc.rtcrtpparameters import RTCRtpCodecParameters

from rtcload.media.opus_settings import OpusSettings, current_opus, encode_loop
from rtcload.media.sources import FRAME_SAMPLES, PTIME_S, SAMPLE_RATE, TIME_BASE, PcmBuffer, make_buffer
from rtcload.metrics.lag import LagWindow

_CODECS = {
    "opus": RTCRtpCodecParameters(mimeType="audio/opus", clockRate=48000, channels=2, payloadType=111),
    "pcmu": RTCRtpCodecParameters(mimeType="audio/PCMU", clockRate=8000, channels=1, payloadType=0),
    "pcma": RTCRtpCodecParameters(mimeType="audio/PCMA", clockRate=8000, channels=1, payloadType=8),
}


def codec_parameters(codec: str) -> RTCRtpCodecParameters:
    """aiortc's parameters for a codec name (opus, pcmu, pcma): what its encoders and decoders are built from."""
    if codec not in _CODECS:
        raise ValueError(f"pre-encoding supports {sorted(_CODECS)}, not {codec!r}")
    return _CODECS[codec]


# Send gaps of every pre-encoded track in this process (seconds between consecutive sends of one track).
SEND_GAPS = LagWindow(capacity=200_000, unreported=collections.deque(maxlen=1))


@functools.lru_cache(maxsize=64)
def cached_buffer(spec: str) -> PcmBuffer:
    """The PCM of a source spec, built once per process (a 1 s tone costs ~1 ms of numpy)."""
    return make_buffer(spec)


def encoded_frames(spec: str, codec: str) -> tuple[bytes, ...]:
    """One payload per 20 ms frame of the looped source: Opus with this process's settings
    (opus_settings.py: like libwebrtc unless configured), G.711 with aiortc's own encoder."""
    return _encoded_frames(spec, codec, current_opus() if codec == "opus" else None)


@functools.lru_cache(maxsize=128)
def _encoded_frames(spec: str, codec: str, opus: OpusSettings | None) -> tuple[bytes, ...]:
    buffer = cached_buffer(spec)
    frames = max(buffer.frames, 1)
    if opus is not None:
        return encode_loop([buffer.frame(index) for index in range(frames)], opus)
    encoder = get_encoder(codec_parameters(codec))
    payloads: list[bytes] = []
    # Two passes over the loop so the encoder/resampler state at the seam is the steady state.
    for index in range(2 * frames):
        frame = av.AudioFrame.from_ndarray(buffer.frame(index).reshape(1, -1), format="s16", layout="mono")
        frame.sample_rate = SAMPLE_RATE
        frame.pts = index * FRAME_SAMPLES
        frame.time_base = TIME_BASE
        out, _ = encoder.encode(frame)
        if index >= frames:
            payloads.append(b"".join(out))
    return tuple(payloads)


@functools.lru_cache(maxsize=64)
def frame_levels(spec: str) -> tuple[int, ...]:
    """Each 20 ms frame's level in -dBov (RFC 6464: 0 = full scale, 127 = silence), as a sender reports it
    in ssrc-audio-level; it follows the frame tables of `encoded_frames` index for index."""
    buffer = cached_buffer(spec)
    pcm = buffer.pcm.astype(np.float64).reshape(buffer.frames, FRAME_SAMPLES) / 32768.0
    rms = np.sqrt(np.mean(pcm * pcm, axis=1))
    dbov = np.where(rms > 0, -20.0 * np.log10(np.maximum(rms, 1e-12)), 127.0)
    return tuple(int(v) for v in np.clip(np.round(dbov), 0, 127))


def silence_frames(codec: str) -> tuple[bytes, ...]:
    return encoded_frames("silence", codec)


class PreEncodedTrack(MediaStreamTrack):
    """Loops cached payloads of `spec` in the negotiated codec, one av.Packet per 20 ms.

    `codec_of` is asked for the negotiated codec at the first send (the track exists before SDP).
    `muted` sends the codec's encoded silence instead (hold), keeping timing and sequence numbers.
    """

    kind = "audio"

    def __init__(self, spec: str, codec_of: Callable[[], str | None], gaps: LagWindow | None = SEND_GAPS) -> None:
        super().__init__()
        self.spec = spec
        self.buffer = cached_buffer(spec)
        self.muted = False
        self._codec_of = codec_of
        self._frames: tuple[bytes, ...] | None = None
        self._silence: tuple[bytes, ...] | None = None
        self._index = 0
        self._start: float | None = None
        self._last: float | None = None
        self._gaps = gaps

    def _payloads(self) -> tuple[tuple[bytes, ...], tuple[bytes, ...]]:
        if self._frames is None or self._silence is None:
            codec = self._codec_of() or "opus"
            self._frames = encoded_frames(self.spec, codec)
            self._silence = silence_frames(codec)
        return self._frames, self._silence

    async def recv(self) -> av.Packet:
        if self.readyState != "live":
            raise MediaStreamError
        frames, silence = self._payloads()
        if self._start is None:
            self._start = time.monotonic()
        else:
            wait = self._start + self._index * PTIME_S - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
        now = time.monotonic()
        if self._gaps is not None and self._last is not None:
            self._gaps.record(now - self._last)
        self._last = now
        table = silence if self.muted else frames
        packet = av.Packet(table[self._index % len(table)])
        packet.pts = self._index * FRAME_SAMPLES
        packet.time_base = TIME_BASE
        self._index += 1
        return packet


class PacketEchoTrack(MediaStreamTrack):
    """Sends back received payloads as-is (same negotiated codec both ways): echo without decode/encode.

    Timestamps are re-stamped on a continuous 20 ms timeline; the oldest payload is dropped when the
    sender lags, like EchoTrack.
    """

    kind = "audio"

    def __init__(self, max_packets: int = 10) -> None:
        super().__init__()
        self._queue: asyncio.Queue[bytes] = asyncio.Queue(maxsize=max_packets)
        self._pts = 0

    def push(self, payload: bytes) -> None:
        if self._queue.full():
            self._queue.get_nowait()
        self._queue.put_nowait(payload)

    async def recv(self) -> av.Packet:
        if self.readyState != "live":
            raise MediaStreamError
        packet = av.Packet(await self._queue.get())
        packet.pts = self._pts
        packet.time_base = fractions.Fraction(1, SAMPLE_RATE)
        self._pts += FRAME_SAMPLES
        return packet
