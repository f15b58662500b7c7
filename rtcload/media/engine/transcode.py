"""Relay between two bridged legs on different codecs: decode one, encode the other, off the loop.

A platform bridging two legs avoids transcoding by offering the second leg the first leg's codec (the
emulator's bridge does); when the second leg still answers another one (its own preference, or it
lacks the codec), the audio must be transcoded or the far end hears noise. That is what a B2BUA does,
and what the emulator does here rather than refuse the call.

The work is a decode and an encode per 20 ms packet (bench/transcode.py on the 2-core test machine:
about 0.13 ms Opus to PCMU, 0.28 ms PCMU to Opus; 2 % of a core per transcoded call), so it runs in
the process's decode thread (decode.py: a real OS thread, a bounded queue that drops the oldest under
overload), never on the event loop. Each direction has its own decoder and encoder (both keep state
between frames); encoded payloads come back to the loop with `call_soon_threadsafe` and go out on the
partner's stream with timestamps rescaled to its clock rate, so pauses (hold) and losses keep their
length.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import av
from aiortc.codecs import get_decoder, get_encoder
from aiortc.jitterbuffer import JitterFrame
from av.audio.resampler import AudioResampler

from rtcload.media.encoded import codec_parameters
from rtcload.media.engine.decode import off_loop
from rtcload.media.opus_settings import opus_encoder

Deliver = Callable[[bytes, int, bool, float], None]  # payload, timestamp (out clock), marker, arrival
_WRAP = 1 << 32


class Transcoder:
    """One direction of a relay: payloads of `source` codec in (on the loop), payloads of `target` out."""

    def __init__(self, source: str, target: str, deliver: Deliver, loop: asyncio.AbstractEventLoop) -> None:
        self.source, self.target = source, target
        self._decoder = get_decoder(codec_parameters(source))
        self._encoder = _OpusEncoder() if target == "opus" else get_encoder(codec_parameters(target))
        self._in_rate = codec_parameters(source).clockRate
        self._out_rate = codec_parameters(target).clockRate
        self._out_step = self._out_rate // 50  # one 20 ms frame
        self._deliver = deliver
        self._loop = loop
        self._last_in: int | None = None
        self._in_position = 0  # the last input's time on the output clock
        self._next_out: int | None = None  # the next output payload's timestamp
        self.packets_in = 0  # decoded (in the thread)
        self.packets_out = 0  # encoded (in the thread)
        self.stopped = False

    def push(self, payload: bytes, timestamp: int, marker: bool, arrival: float) -> None:
        """On the loop: one received payload, with its RTP timestamp (source clock) and marker bit."""
        if not self.stopped:
            off_loop(_Packet(self, timestamp, marker), payload, arrival)

    def transcode(self, payload: bytes, timestamp: int, marker: bool, arrival: float) -> None:
        """In the decode thread: decode, re-encode, hand the payloads back to the loop."""
        if self.stopped:
            return
        if self._last_in is not None:
            delta = _signed(timestamp - self._last_in)
            if delta <= 0:
                return  # late or duplicated: its time is past, the far end would only hear it as noise
            self._in_position = (self._in_position + round(delta * self._out_rate / self._in_rate)) % _WRAP
        self._last_in = timestamp
        self.packets_in += 1
        if self._next_out is None or _signed(self._in_position - self._next_out) > self._out_step:
            self._next_out = self._in_position  # the start, or after a pause or loss: keep its length
        for frame in self._decoder.decode(JitterFrame(data=payload, timestamp=timestamp)):
            payloads, _ = self._encoder.encode(frame)
            for encoded in payloads:  # consecutive frames: the encoder's own delay does not make jitter
                self.packets_out += 1
                self._loop.call_soon_threadsafe(self._send, encoded, self._next_out, marker, arrival)
                self._next_out = (self._next_out + self._out_step) % _WRAP
                marker = False

    def _send(self, payload: bytes, timestamp: int, marker: bool, arrival: float) -> None:
        if not self.stopped:
            self._deliver(payload, timestamp, marker, arrival)

    def stop(self) -> None:
        self.stopped = True


def _signed(difference: int) -> int:
    """A difference of two RTP timestamps as a signed number (they wrap at 2**32)."""
    return (difference + _WRAP // 2) % _WRAP - _WRAP // 2


class _OpusEncoder:
    """aiortc's Encoder interface over this process's Opus settings (opus_settings.py), so a transcoded
    leg gets the same Opus as every other stream rtcload sends. Input: decoded frames of any layout/rate."""

    def __init__(self) -> None:
        self._codec = opus_encoder()
        self._resampler = AudioResampler(format="s16", layout="mono", rate=48_000, frame_size=960)

    def encode(self, frame: av.AudioFrame) -> tuple[list[bytes], int | None]:
        packets: list[bytes] = []
        for mono in self._resampler.resample(frame):
            packets += [bytes(p) for p in self._codec.encode(mono)]  # type: ignore[attr-defined]
        return packets, None


class _Packet:
    """One queued payload's RTP fields, for the decode thread (its job interface is decode(payload, arrival))."""

    __slots__ = ("marker", "timestamp", "transcoder")

    def __init__(self, transcoder: Transcoder, timestamp: int, marker: bool) -> None:
        self.transcoder, self.timestamp, self.marker = transcoder, timestamp, marker

    def decode(self, payload: bytes, arrival: float) -> None:
        self.transcoder.transcode(payload, self.timestamp, self.marker, arrival)
