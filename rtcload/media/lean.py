"""Lean media path for scale: pre-encoded send, no receive-side decoding, payload-level analysis.

Why: aiortc decodes every received frame on a per-receiver thread and encodes every sent frame in an
executor; at hundreds of calls per core that, not the RTP path, is the cost. Here:
- send: `PreEncodedTrack` (encode once per process per codec, sender only packs);
- receive: the receiver starts no decoder thread (`disable_decoder`), so nothing is decoded or queued;
  RTP statistics, RTCP (RTT, loss, jitter in getStats) and our per-packet hook (first RTP, loss runs)
  are untouched;
- audio presence: `PayloadAnalyzer` estimates each packet's level from the payload. G.711 is decoded
  exactly with a 256-entry table (cheap, exact level). Opus: digital silence is a 3-byte frame (libopus'
  CELT silence, what libwebrtc sends; opus_settings.py) and anything audible takes tens of bytes and more
  (~60-120 at libwebrtc's 32 kbit/s VBR), so "payload > 8 bytes" = audio.
  Trade-off: Opus level is nominal (ACTIVE_OPUS_DBFS), quiet-but-not-silent noise counts
  as audio, and no dominant frequency is available. Calls that need exact content: `decode=True`
  (full ReceiveAnalyzer on decoded frames) for a sampled subset, see `decode_this_call`.
"""

from __future__ import annotations

import collections
import math
import time
import types
from collections.abc import Callable
from typing import Any

import aiortc.rtcrtpreceiver as _receiver_module
import numpy as np
from aiortc import RTCRtpReceiver, RTCRtpTransceiver
from aiortc.mediastreams import MediaStreamTrack

from rtcload.media.aiortc_private.rtp import rtp_handler, set_rtp_handler
from rtcload.media.analysis import DBFS_FLOOR, DEFAULT_ENERGY_FLOOR_DBFS, ReceiveAnalyzer
from rtcload.media.encoded import PacketEchoTrack, PreEncodedTrack
from rtcload.media.endpoint import MediaEndpoint
from rtcload.media.media_settings import DEFAULT_MEDIA, MediaSettings
from rtcload.media.peer import CallMedia
from rtcload.media.session import AudioSession

OPUS_SILENT_MAX_BYTES = 8  # libopus digital-silence frames are 3 bytes; audible frames are tens to hundreds
ACTIVE_OPUS_DBFS = -20.0  # nominal level reported for an audible Opus packet (its true level is unknown)
_G711_SAMPLES_PER_PACKET = 160


def _g711_tables() -> dict[str, np.ndarray]:
    """Byte -> linear sample in [-1, 1] for mu-law and A-law (ITU-T G.711)."""
    codes = np.arange(256, dtype=np.int32)
    u = ~codes & 0xFF
    exponent = (u >> 4) & 0x07
    mantissa = u & 0x0F
    mu = (((mantissa << 3) + 0x84) << exponent) - 0x84
    mu = np.where(u & 0x80, -mu, mu) / 32768.0
    a = codes ^ 0x55
    exponent = (a >> 4) & 0x07
    mantissa = a & 0x0F
    alaw = np.where(exponent == 0, (mantissa << 4) + 8, ((mantissa << 4) + 0x108) << (exponent - 1))
    alaw = np.where(a & 0x80, alaw, -alaw) / 32768.0
    return {"pcmu": mu.astype(np.float64) ** 2, "pcma": alaw.astype(np.float64) ** 2}


_G711_POWER = _g711_tables()


def payload_dbfs(payload: bytes, codec: str | None) -> float:
    """Estimated level of one packet: exact for G.711, silent/active-nominal for Opus."""
    power_table = _G711_POWER.get(codec or "")
    if power_table is not None:
        if not payload:
            return DBFS_FLOOR
        power = float(power_table[np.frombuffer(payload, dtype=np.uint8)].mean())
        return max(DBFS_FLOOR, 10.0 * math.log10(power)) if power > 0 else DBFS_FLOOR
    return ACTIVE_OPUS_DBFS if len(payload) > OPUS_SILENT_MAX_BYTES else DBFS_FLOOR


_LEVELS: dict[tuple[str | None, bytes | bool], tuple[float, float]] = {}
_LEVELS_MAX = 8192  # a looped source repeats its payloads: the cache holds them; live audio just refills it


def _level_and_power(payload: bytes, codec: str | None) -> tuple[float, float]:
    """(dBFS, linear power) of one payload, memoised: the per-packet cost of payload analysis at scale."""
    # G.711: the level depends on every byte; Opus: only on whether the frame is digital silence
    key = (codec, payload) if codec in _G711_POWER else (codec, len(payload) > OPUS_SILENT_MAX_BYTES)
    found = _LEVELS.get(key)
    if found is None:
        if len(_LEVELS) >= _LEVELS_MAX:
            _LEVELS.clear()
        level = payload_dbfs(payload, codec)
        found = _LEVELS[key] = (level, 10 ** (level / 10) if level > DBFS_FLOOR else 0.0)
    return found


class PayloadAnalyzer(ReceiveAnalyzer):
    """ReceiveAnalyzer fed per RTP packet from payload-level estimates instead of decoded frames.

    Keeps the same summary/one-way/window interface; `on_payload` is called for every packet so an
    echo endpoint can forward it. No dominant frequency (None) without decoding.
    """

    def __init__(
        self,
        codec_of: Callable[[], str | None],
        energy_floor_dbfs: float = DEFAULT_ENERGY_FLOOR_DBFS,
        window_s: float = 0.5,
        one_way_after_s: float = 5.0,
    ) -> None:
        super().__init__(energy_floor_dbfs=energy_floor_dbfs, window_s=window_s, one_way_after_s=one_way_after_s)
        self._codec_of = codec_of
        self._codec: str | None = None
        self.on_payload: Callable[[bytes], None] | None = None
        self._levels: collections.deque[tuple[float, float]] = collections.deque()

    def attach(self, track: MediaStreamTrack) -> None:
        """Nothing to consume: without a decoder the remote track never receives frames."""

    def add_payload(self, payload: bytes, now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        if self.on_payload is not None:
            self.on_payload(payload)
        if self._codec is None:
            self._codec = self._codec_of()
        level, power = _level_and_power(payload, self._codec)
        self.frames += 1
        if self.first_frame_at is None:
            self.first_frame_at = now
        if level >= self.energy_floor_dbfs:
            self.last_audio_at = now
            if self.first_audio_at is None:
                self.first_audio_at = now
        else:
            self.silent_frames += 1
        self._sum_squares += power * _G711_SAMPLES_PER_PACKET
        self._samples += _G711_SAMPLES_PER_PACKET
        self._levels.append((now, power))
        cutoff = now - self.window_s
        while self._levels and self._levels[0][0] < cutoff:
            self._levels.popleft()
        self._changed.set()

    def window_dbfs(self) -> float:
        if not self._levels:
            return DBFS_FLOOR
        power = sum(p for _, p in self._levels) / len(self._levels)
        return max(DBFS_FLOOR, 10 * math.log10(power)) if power > 0 else DBFS_FLOOR

    def dominant_frequency(self) -> float | None:
        return None


class _NoThread:
    """Stands in for the receiver's decoder thread: never runs, and is falsy so aiortc queues nothing."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        pass

    def start(self) -> None:
        pass

    def join(self, timeout: float | None = None) -> None:
        pass

    def __bool__(self) -> bool:
        return False


class _ThreadingWithoutThreads(types.ModuleType):
    def __getattr__(self, name: str) -> Any:
        import threading

        return getattr(threading, name)


_NO_THREADS = _ThreadingWithoutThreads("threading")
_NO_THREADS.Thread = _NoThread  # type: ignore[attr-defined]


def disable_decoder(receiver: RTCRtpReceiver) -> None:
    """Start this receiver without its decoder thread (other receivers in the process are unaffected).

    RTCRtpReceiver.receive() creates the thread synchronously (no await in between), so swapping the
    module's `threading` for that one step cannot leak to another coroutine. With a falsy thread,
    `_handle_rtp_packet` still updates RTP statistics and the jitter buffer but queues no frame.
    """
    original = receiver.receive

    async def receive(parameters: Any) -> None:
        saved = _receiver_module.threading
        _receiver_module.threading = _NO_THREADS  # type: ignore[assignment]
        try:
            await original(parameters)
        finally:
            _receiver_module.threading = saved

    receiver.receive = receive  # type: ignore[method-assign]


def hook_payloads(receiver: RTCRtpReceiver, analyzer: PayloadAnalyzer) -> None:
    """Feed every received RTP payload to `analyzer` (outermost wrapper over the session's RTP hook)."""
    inner = rtp_handler(receiver)

    async def observe(packet: Any, arrival_time_ms: int) -> None:
        analyzer.add_payload(packet.payload)
        await inner(packet, arrival_time_ms)

    set_rtp_handler(receiver, observe)


def decode_this_call(index: int, every: int) -> bool:
    """Sampled full decoding: call number `index` is decoded when every > 0 and index % every == 0."""
    return every > 0 and index % every == 0


class _LeanReceive:
    """Mixin for AudioSession subclasses: every payload goes to `self.payloads`; unless `decode`, that
    PayloadAnalyzer is also the session's analyzer and the receiver runs no decoder thread."""

    decode: bool
    analyzer: ReceiveAnalyzer
    payloads: PayloadAnalyzer
    transceiver: RTCRtpTransceiver | None

    def _lean_analyzer(self, one_way_after_s: float, energy_floor_dbfs: float) -> None:
        session: Any = self
        self.payloads = PayloadAnalyzer(
            lambda: session.codec, energy_floor_dbfs=energy_floor_dbfs, one_way_after_s=one_way_after_s
        )
        if not self.decode:
            self.analyzer = self.payloads

    def _lean_transceiver(self, transceiver: RTCRtpTransceiver) -> RTCRtpTransceiver:
        if not getattr(transceiver, "_rtcload_lean", False):
            transceiver._rtcload_lean = True  # type: ignore[attr-defined]
            if not self.decode:
                disable_decoder(transceiver.receiver)
            hook_payloads(transceiver.receiver, self.payloads)
        return transceiver


class LeanCallMedia(_LeanReceive, CallMedia):
    """CallMedia that sends pre-encoded packets and (unless `decode`) analyses payloads, not audio.

    Same API and MediaReport as CallMedia; `dominant_hz` is None and Opus levels are nominal when not
    decoding (see module docstring).
    """

    def __init__(self, source: str = "tone:440", settings: MediaSettings = DEFAULT_MEDIA, decode: bool = False) -> None:
        self.decode = decode
        CallMedia.__init__(
            self,
            source,
            settings,
            track=PreEncodedTrack(source.strip(), lambda: self.codec),  # type: ignore[arg-type]
        )
        self._lean_analyzer(settings.one_way_after_s, settings.energy_floor_dbfs)

    def _ensure_transceiver(self) -> RTCRtpTransceiver:
        return self._lean_transceiver(super()._ensure_transceiver())


class LeanMediaEndpoint(_LeanReceive, MediaEndpoint):
    """MediaEndpoint whose echo/relay forwards RTP payloads without decode/re-encode and whose sources
    are pre-encoded. `decode=True` keeps full analysis of what arrives (echo still forwards payloads).
    """

    def __init__(
        self,
        mode: str = "echo",
        codec: str | None = None,
        ice_servers: list[str] | None = None,
        stats_interval_s: float = 0.0,
        one_way_after_s: float = 5.0,
        decode: bool = False,
    ) -> None:
        self.mode = mode
        self.decode = decode
        self.echo = None
        self.packet_echo: PacketEchoTrack | None = None
        track: MediaStreamTrack | None
        if mode in ("echo", "relay"):
            self.packet_echo = PacketEchoTrack()
            track = self.packet_echo
        elif mode == "oneway":
            track = None
        else:
            track = PreEncodedTrack(mode.strip(), lambda: self.codec)
        AudioSession.__init__(
            self,
            track,
            codec=codec,
            ice_servers=ice_servers,
            stats_interval_s=stats_interval_s,
            one_way_after_s=one_way_after_s,
        )
        self._sends_energy = mode not in ("echo", "relay", "oneway", "silence")
        self._lean_analyzer(one_way_after_s, DEFAULT_ENERGY_FLOOR_DBFS)
        if self.packet_echo is not None and mode == "echo":
            self.payloads.on_payload = self.packet_echo.push

    def _ensure_transceiver(self) -> RTCRtpTransceiver:
        return self._lean_transceiver(super()._ensure_transceiver())

    def relay_to(self, other: MediaEndpoint) -> None:
        """Bridge two lean "relay" endpoints: payloads each receives are sent out by the other."""
        if not isinstance(other, LeanMediaEndpoint) or self.packet_echo is None or other.packet_echo is None:
            raise ValueError("relay_to needs two lean endpoints in relay mode")
        if self.codec != other.codec:  # payloads of one codec are noise in another; lean does not transcode
            raise ValueError(
                f"the lean path relays payloads as they are and cannot relay {self.codec} to {other.codec}"
            )
        self.payloads.on_payload = other.packet_echo.push
        other.payloads.on_payload = self.packet_echo.push
