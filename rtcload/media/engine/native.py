"""The engine's per-packet path in C (`_native`), behind the same `EngineStream` API.

Why: the pure-Python engine spends ~45 us per packet operation, of which only ~12 us are the syscalls
and libsrtp; the C path (`_native.c`) does pack + protect + `sendto` for every stream on the engine's
own send thread (`Sender`: absolute deadlines, no GIL, so nothing on the loop delays a packet), and
demux + unprotect + parse + RFC 3550 statistics + loss runs + payload level + echo in the socket
callback. DTMF events are queued into the C stream and sent by the thread in place of audio. Received
RTCP is read in C too (the far end's SR for LSR/DLSR, its report block about us, RTT: what
`EngineStream._on_rtcp` does), and a report is protected and sent in one C call under the stream's lock
(libsrtp sessions are not thread-safe). What stays Python is what runs about once a second per stream,
and it is the same code for both paths (inherited from `EngineStream`): building SR/RR + SDES, stats
snapshots. `NativeEngineStream` keeps its send/receive state in the
C objects and exposes it under the names `EngineStream` uses, so that shared code reads and writes the
C fields (each under the stream's lock).

The pure-Python engine stays the reference and the fallback: without a built extension, with
`RTCLOAD_ENGINE_NATIVE=0`, or for TURN-relayed pairs (channel data framing stays in aioice).
"""

from __future__ import annotations

import logging
import math
import os
import time
from collections.abc import Callable
from typing import Any

import pylibsrtp
from pylibsrtp import _binding

from rtcload.media.analysis import DBFS_FLOOR
from rtcload.media.engine.dtmf import dtmf_events
from rtcload.media.engine.receive_stats import ReportBlocks
from rtcload.media.engine.rtcp import ReportBlock
from rtcload.media.engine.rtp import RtpPacket
from rtcload.media.engine.send_gaps import SendTiming
from rtcload.media.engine.send_stats import sr_fields
from rtcload.media.engine.stream import Codec, EngineStream
from rtcload.media.engine.takeover import Link, Srtp
from rtcload.media.lean import PayloadAnalyzer
from rtcload.media.sequence import LossRunTracker
from rtcload.media.switches import switched_off

log = logging.getLogger("rtcload.media.engine")

ENV_SWITCH = "RTCLOAD_ENGINE_NATIVE"

# What _native.c calls through pylibsrtp's function pointers: libsrtp 2.x's
# `srtp_err_status_t f(srtp_t ctx, void *buf, int *len)` (libsrtp 3 takes separate in/out buffers and
# size_t lengths: called as 2.x it would write past the buffer). The enum must be int-sized: C reads an int.
SRTP_FUNCTIONS = ("srtp_protect", "srtp_unprotect", "srtp_unprotect_rtcp", "srtp_protect_rtcp")
EXPECTED_SRTP_SIGNATURE = "srtp_err_status_t(*)(struct srtp_ctx_t_ *, void *, int *)"


def srtp_signature_mismatch(ffi: Any = _binding.ffi, lib: Any = _binding.lib) -> str | None:
    """Why pylibsrtp's libsrtp functions cannot be called by _native.c, or None when they match 2.x's."""
    try:
        for name in SRTP_FUNCTIONS:
            signature = ffi.typeof(getattr(lib, name)).cname
            if signature != EXPECTED_SRTP_SIGNATURE:
                return f"{name} is {signature}, not {EXPECTED_SRTP_SIGNATURE}"
        if ffi.sizeof("srtp_err_status_t") != ffi.sizeof("int"):
            return "srtp_err_status_t is not int-sized"
    except (AttributeError, TypeError, ffi.error) as exc:
        return f"libsrtp's functions cannot be inspected: {exc}"
    return None


try:
    from rtcload.media.engine import _native  # type: ignore[attr-defined]
except ImportError as exc:  # built without a compiler: the Python engine carries every call
    _native = None
    _IMPORT_ERROR: str = str(exc)
else:
    _IMPORT_ERROR = ""
    _MISMATCH = srtp_signature_mismatch()
    if _MISMATCH is not None:  # never hand C a function it would call with the wrong arguments
        _native = None
        _IMPORT_ERROR = f"pylibsrtp's libsrtp is not the checked 2.x API ({_MISMATCH})"
        log.warning("media engine: pure-Python per-packet path: %s", _IMPORT_ERROR)
    else:

        def _address(name: str) -> int:
            return int(_binding.ffi.cast("uintptr_t", _binding.ffi.addressof(_binding.lib, name)))

        _native.configure(
            _address("srtp_protect"),
            _address("srtp_unprotect"),
            _address("srtp_unprotect_rtcp"),
            pylibsrtp.Error,
            RtpPacket,
        )
        _native.configure_rtcp(_address("srtp_protect_rtcp"))  # Tx.protect_rtcp: SRTCP under the lock

_logged = False


def native_available() -> bool:
    """The extension is built and importable."""
    return _native is not None


def native_enabled() -> bool:
    """The native path carries calls: built, and not switched off with RTCLOAD_ENGINE_NATIVE=0."""
    return _native is not None and not switched_off(ENV_SWITCH)


def native_path() -> str:
    """'native' or 'python': which per-packet path this process' engine runs (TURN-relayed calls are
    always Python)."""
    return "native" if native_enabled() else "python"


def path_used() -> str | None:
    """The per-packet path this process' engine ran calls on ('native' or 'python'); None if it carried none.
    (A TURN-relayed call takes the Python path inside a native engine; the answer is the process' path.)"""
    return native_path() if _logged else None


def _log_path_once() -> None:
    global _logged
    if not _logged:
        _logged = True
        if native_enabled():
            log.info("media engine: native per-packet path (C)")
        elif _native is None:
            log.info("media engine: pure-Python per-packet path (extension not built: %s)", _IMPORT_ERROR)
        else:
            log.info("media engine: pure-Python per-packet path (%s=0)", ENV_SWITCH)


def tick(streams: tuple[Any, ...], elapsed: int, send: int, now: float) -> list[int] | None:
    """One tick of every native stream (their `ntx`); the indices of those that need Python this tick."""
    assert _native is not None
    return _native.tick(streams, elapsed, send, now)  # type: ignore[no-any-return]


REALTIME_SWITCH = "RTCLOAD_SEND_THREAD_RT"
THREAD_SWITCH = "RTCLOAD_SEND_THREAD"  # =0: C streams are ticked by the loop's clock, as before the thread


def sender() -> Any:
    """The engine's send thread when the C path carries calls (None otherwise: the loop's clock sends).
    It asks for SCHED_FIFO priority 1 (RTCLOAD_SEND_THREAD_RT=0: no): its work is a burst of ~1-3 ms per
    20 ms, and on a busy machine an ordinary thread waits behind other processes' time slices (gaps of
    40-60 ms measured at 100-500 calls with the run queue full, docs/benchmarks.md). Without root or
    CAP_SYS_NICE the request fails and the thread runs as an ordinary one (`Sender.realtime` says which)."""
    if not native_enabled() or switched_off(THREAD_SWITCH):
        return None
    return _native.Sender(realtime=not switched_off(REALTIME_SWITCH))  # type: ignore[union-attr]


def set_gap_threshold(seconds: float) -> None:
    """Send intervals longer than `seconds` count as gaps (C and Python paths; default 30 ms)."""
    from rtcload.media.engine import send_gaps

    if not seconds > 0:
        raise ValueError("the send gap threshold must be > 0 s")
    send_gaps.GAP_THRESHOLD_S = seconds
    if _native is not None:
        _native.set_gap_threshold(seconds)


def tick_gate() -> Any:
    """A TickGate for an engine clock when the C path carries calls (None otherwise: the timer alone)."""
    return _native.TickGate() if native_enabled() else None  # type: ignore[union-attr]


def _context(srtp: Srtp) -> int:
    return int(_binding.ffi.cast("uintptr_t", srtp._context))


def _rx_field(name: str) -> Any:
    """A field of the base stream's state kept in the C Rx instead (read and written there), so the C RTCP
    reader and Tx.send_report see the same value as the Python code that resets it."""
    return property(lambda self: getattr(self._rx, name), lambda self, value: setattr(self._rx, name, value))


class NativeSendStats:
    """SendStats' interface over the C counters."""

    __slots__ = ("_clock_rate", "_tx")

    def __init__(self, tx: Any, clock_rate: int) -> None:
        self._tx = tx
        self._clock_rate = clock_rate

    @property
    def packets_sent(self) -> int:
        return self._tx.packets  # type: ignore[no-any-return]

    @property
    def octets_sent(self) -> int:
        return self._tx.octets  # type: ignore[no-any-return]

    @property
    def has_sent_since_start(self) -> bool:
        return self._tx.has_sent  # type: ignore[no-any-return]

    def sr_fields(self, now_s: float, wallclock_s: float) -> tuple[int, int]:
        has_sent, last_ts, last_send_s = self._tx.send_state()  # one instant: the send thread moves on
        if not has_sent:
            raise ValueError("no packet sent yet: send an RR, not an SR")
        return sr_fields(last_ts, last_send_s, self._clock_rate, now_s, wallclock_s)


class NativeReceiveStats(ReportBlocks):
    """ReceiveStats' interface over the C counters of one remote SSRC (a new SSRC gets a new view)."""

    __slots__ = ("_clock_rate", "_rx")

    def __init__(self, rx: Any, clock_rate: int) -> None:
        self._rx = rx
        self._clock_rate = clock_rate

    # report_block's interval state: kept in C, where Tx.send_report builds the same block (reset with the
    # statistics on a new SSRC, as a new view was)
    _expected_prior = _rx_field("expected_prior")
    _received_prior = _rx_field("received_prior")

    # the far end's last SR: written by the C RTCP reader (reset with the statistics on a new SSRC)
    _last_sr_middle32 = _rx_field("last_sr_middle32")
    _last_sr_arrival_s = _rx_field("last_sr_arrival")

    packets_received = property(lambda self: self._rx.packets)
    bytes_received = property(lambda self: self._rx.bytes)
    duplicates = property(lambda self: self._rx.duplicates)
    first_arrival_s = property(lambda self: self._rx.first_arrival)
    last_arrival_s = property(lambda self: self._rx.last_arrival)
    highest_extended_seq = property(lambda self: self._rx.max_ext)
    expected = property(lambda self: self._rx.expected)
    jitter_rtp_units = property(lambda self: self._rx.jitter)

    @property
    def cumulative_lost(self) -> int:
        return self._rx.expected - self._rx.packets  # type: ignore[no-any-return]

    @property
    def jitter_s(self) -> float:
        return self._rx.jitter / self._clock_rate  # type: ignore[no-any-return]


def _on(side: str, name: str, readonly: bool = False) -> Any:
    """An EngineStream attribute kept in the C object `side` ('ntx' or 'nrx') under `name`."""

    def get(self: Any) -> Any:
        return getattr(self.__dict__[side], name)

    def set_(self: Any, value: Any) -> None:
        if not readonly:
            setattr(self.__dict__[side], name, value)

    return property(get, set_)


class NativeEngineStream(EngineStream):
    """An EngineStream whose per-packet work runs in C; the shared Python code reads the C state."""

    # send state (EngineStream's names -> the Tx fields)
    frames = _on("ntx", "frames")
    sending = _on("ntx", "sending")
    _index = _on("ntx", "index")
    _sequence = _on("ntx", "seq")
    _timestamp = _on("ntx", "ts")
    _marker = _on("ntx", "marker")
    _echo_offset = _on("ntx", "echo_offset")
    _ticks = _on("ntx", "ticks")
    _now = _on("ntx", "now")
    _sent_since_report = _on("ntx", "sent_since_report")
    _next_rtcp = _on("ntx", "next_rtcp")
    # receive state (read-only: the C receive path writes them)
    remote_ssrc = _on("nrx", "remote_ssrc", readonly=True)
    first_rtp = _on("nrx", "first_rtp", readonly=True)
    last_rtp = _on("nrx", "last_rtp", readonly=True)
    rejected = _on("nrx", "rejected")
    # what the far end's RTCP said (the C reader keeps it: EngineStream._on_rtcp in C)
    rtt_s = _on("nrx", "rtt")
    remote_sr_packets = _on("nrx", "remote_sr_packets")
    on_first_rtp = _on("nrx", "on_first_rtp")
    on_dtmf = _on("nrx", "on_dtmf")

    def __init__(self, link: Link, tx_srtp: Srtp, rx_srtp: Srtp, codec: Codec, ssrc: int, cname: str) -> None:
        host, port = link.remote_addr[:2]
        fd = os.dup(link.fileno())  # our own descriptor: a socket aiortc closes (or reuses) is never written
        try:
            self.__dict__["ntx"] = _native.Tx(  # type: ignore[union-attr]
                fd, host, port, tx_srtp._session, _context(tx_srtp), ssrc, codec.payload_type, codec.samples_per_frame
            )
        except BaseException:
            os.close(fd)
            raise
        self.__dict__["nrx"] = _native.Rx(  # type: ignore[union-attr]
            rx_srtp._session, _context(rx_srtp), codec.payload_type, codec.clock_rate
        )
        self._sent_view = NativeSendStats(self.ntx, codec.clock_rate)
        self._stats_view = NativeReceiveStats(self.nrx, codec.clock_rate)
        self._stats_generation = self.nrx.generation
        self._loss_runs: LossRunTracker | None = None
        self._dtmf_pt: int | None = None
        self._unsent_logged = 0
        super().__init__(link, tx_srtp, rx_srtp, codec, ssrc, cname)
        # RTCP is read in C (rtcp_read: SR -> LSR/DLSR, report blocks about us -> remote_block, RTT); setting
        # nrx.on_rtcp = self._on_rtcp_plain hands it to Python's _on_rtcp again (same state, same fields)
        self.nrx.local_ssrc = ssrc
        self.nrx.wall_offset = self._wall_offset
        self.nrx.rtcp_in_c = True

    ntx: Any
    nrx: Any

    # ---------------------------------------------------------------- views EngineStream's code uses

    @property
    def sent(self) -> NativeSendStats:  # type: ignore[override]
        return self._sent_view

    @sent.setter
    def sent(self, _value: Any) -> None:
        """EngineStream.__init__ assigns a SendStats; the C counters are the truth here."""

    @property
    def receive_stats(self) -> NativeReceiveStats:  # type: ignore[override]
        generation = self.nrx.generation
        if generation != self._stats_generation:  # the far end's SSRC changed: statistics start over
            self._stats_generation = generation
            self._stats_view = NativeReceiveStats(self.nrx, self.codec.clock_rate)
        return self._stats_view

    @receive_stats.setter
    def receive_stats(self, _value: Any) -> None:
        """EngineStream.__init__ assigns a ReceiveStats; the C counters are the truth here."""

    @property
    def remote_block(self) -> ReportBlock | None:  # type: ignore[override]
        block = self.nrx.remote_block
        return None if block is None else ReportBlock(*block)

    @remote_block.setter
    def remote_block(self, block: ReportBlock | None) -> None:
        self.nrx.remote_block = None if block is None else tuple(block)

    @property
    def loss_runs(self) -> LossRunTracker | None:  # type: ignore[override]
        return self._loss_runs

    @loss_runs.setter
    def loss_runs(self, tracker: LossRunTracker | None) -> None:
        self._loss_runs = tracker
        if tracker is not None:
            self.nrx.track_loss(tracker.max_flags)
            tracker.follow(self.nrx.drain_loss)

    @property
    def dtmf_payload_type(self) -> int | None:  # type: ignore[override]
        return self._dtmf_pt

    @dtmf_payload_type.setter
    def dtmf_payload_type(self, payload_type: int | None) -> None:
        self._dtmf_pt = payload_type
        self.nrx.dtmf_pt = payload_type

    # ---------------------------------------------------------------- send

    def send_rtp(self, payload_type: int, payload: bytes, timestamp: int, marker: bool) -> None:
        self.ntx.send_rtp(payload_type, payload, timestamp, marker)

    def forward(self, payload: bytes, timestamp: int, marker: bool, now: float) -> None:
        self.ntx.forward(payload, timestamp, marker, now)

    def send_dtmf(self, digits: str) -> bool:
        """EngineStream.send_dtmf's schedule, handed to the C stream: its send thread sends the events in
        place of audio on their ticks (the start tick and base timestamp are fixed in C, under the lock)."""
        if self.dtmf_payload_type is None or self.frames is None:
            return False
        events = [
            (packet.offset_ticks, packet.timestamp_offset, packet.payload, packet.marker)
            for packet in dtmf_events(digits, self.codec.clock_rate)
        ]
        self.ntx.queue_dtmf(self.dtmf_payload_type, events)
        return True

    def send_rtcp(self, bye: bool = False, receiver_only: bool = False) -> None:
        """EngineStream.send_rtcp in one C call for a host/srflx pair (Tx.send_report builds the same SR/RR +
        SDES[, BYE] as rtcp.py, protects and sends it); a TURN-relayed pair goes through Python and its link."""
        link = self.link
        closing = getattr(link, "closing", None)
        if closing is None or link.relayed:
            super().send_rtcp(bye, receiver_only)
            return
        if closing():
            raise ConnectionError("the call's ICE socket is closed")
        now = time.monotonic()
        sender = not receiver_only and (self._sent_since_report or self.sending)
        self._sent_since_report = False
        self.ntx.send_report(
            self.nrx, self.cname.encode("utf-8"), sender, bye, now, now + self._wall_offset, self.codec.clock_rate
        )

    def _send_rtcp_packet(self, plain: bytes) -> None:
        """SRTCP in C under the stream's lock: the send thread protects RTP on the same libsrtp session.
        Host/srflx pairs: protected and sent in the same C call on the stream's socket, to the address its
        RTP goes to (rtcp-mux). A TURN-relayed pair wraps it in channel data: the link sends it."""
        link = self.link
        closing = getattr(link, "closing", None)
        if closing is None or link.relayed:
            link.send(self.ntx.protect_rtcp(plain))
        elif closing():
            raise ConnectionError("the call's ICE socket is closed")
        else:
            self.ntx.send_rtcp(plain)

    def on_native(self, elapsed: int, send: int, now: float) -> None:
        """The send thread (or the synchronous tick) handed this stream back: it failed, or RTCP is due."""
        error = self.ntx.take_error()
        if error is not None:
            raise error
        if self.ntx.python_ticks:
            self.on_tick(elapsed, send, now)
        else:
            self._tick_rtcp(now)
        unsent = self.ntx.send_errors
        if unsent > self._unsent_logged:  # checked when RTCP is due: at most about once a second per stream
            log.warning(
                "media engine: stream %08x: %d RTP packets could not be sent (socket buffer full or no route): "
                "counted as send drops, not as the platform's loss",
                self.ssrc,
                unsent - self._unsent_logged,
            )
            self._unsent_logged = unsent

    def send_timing(self) -> SendTiming:
        gap_max, over, gaps, drops, oversized = self.ntx.send_timing()
        _queued, late, dropped, _pending = self.ntx.playout_counts
        return SendTiming(gap_max, over, gaps, drops, oversized, late, dropped)

    def time_sends(self, capacity: int) -> None:
        """Keep up to `capacity` of this stream's send intervals (timed at the sendto, in C) for the bench."""
        self.ntx.record_intervals(capacity)

    def send_intervals(self) -> list[float]:
        """The kept send intervals (s), cleared."""
        return self.ntx.drain_intervals()  # type: ignore[no-any-return]

    # ---------------------------------------------------------------- receive

    def on_datagram(self, data: bytes, arrival: float) -> None:
        self.nrx.datagram(data, arrival)

    def rejected_datagrams(self) -> dict[str, int]:
        """What the C receive path dropped, by kind (stray.KINDS; `empty` at the Demux)."""
        rx = self.nrx
        kinds = ("empty", "oversized", "unauthenticated", "replayed", "malformed")
        return {kind: getattr(rx, kind) for kind in kinds if getattr(rx, kind)}

    @property
    def stale_stamps(self) -> int:
        """Datagrams whose kernel receive stamp was out of range (stamped at the callback instead)."""
        return self.nrx.stale_stamps  # type: ignore[no-any-return]

    def demux(self, original: Callable[[bytes, Any], None], fd: int = -1, gate: Any = None) -> Any:
        """The C `datagram_received` for one of the call's sockets: RTP/RTCP here, the rest to `original`.
        `fd` (the socket read) gives kernel receive stamps; `gate` (the engine clock's TickGate) lets the
        callback fire an overdue tick."""
        return _native.Demux(self.nrx, original, fd, gate)  # type: ignore[union-attr]

    def close(self) -> None:
        self.ntx.sending = False
        self.ntx.close()
        self.nrx.closed = True


class _FromNative:
    """A PayloadAnalyzer field read from the C receive path once it follows one (stored locally before)."""

    def __init__(self, native_name: str) -> None:
        self.native_name = native_name

    def __set_name__(self, owner: type, name: str) -> None:
        self.local = "_local" + name

    def __get__(self, obj: Any, owner: type | None = None) -> Any:
        if obj is None:
            return self
        rx = obj.__dict__.get("_native_rx")
        return obj.__dict__.get(self.local) if rx is None else getattr(rx, self.native_name)

    def __set__(self, obj: Any, value: Any) -> None:
        obj.__dict__[self.local] = value


class NativePayloadAnalyzer(PayloadAnalyzer):
    """PayloadAnalyzer whose per-packet counting runs in C once `follow(rx)` is called: frames, silence,
    level sums, first/last audio (arrival times, exact) and the level window. Before that (or for a
    stream on the Python path) it is a plain PayloadAnalyzer."""

    frames = _FromNative("frames")
    silent_frames = _FromNative("silent_frames")
    first_frame_at = _FromNative("first_frame_at")
    first_audio_at = _FromNative("first_audio_at")
    last_audio_at = _FromNative("last_audio_at")
    _sum_squares = _FromNative("sum_squares")
    _samples = _FromNative("samples")

    def follow(self, rx: Any, codec: str) -> None:
        rx.analyze(codec, self.energy_floor_dbfs, self.window_s)
        self.__dict__["_native_rx"] = rx

    def window_dbfs(self) -> float:
        rx = self.__dict__.get("_native_rx")
        if rx is None:
            return super().window_dbfs()
        power = rx.window_power()
        if power is None:
            return DBFS_FLOOR
        return max(DBFS_FLOOR, 10 * math.log10(power)) if power > 0 else DBFS_FLOOR


def make_stream(link: Link, tx: Srtp, rx: Srtp, codec: Codec, ssrc: int, cname: str) -> EngineStream:
    """The native stream when the extension carries this call, else the pure-Python one."""
    _log_path_once()
    if native_enabled() and not link.relayed:
        try:
            return NativeEngineStream(link, tx, rx, codec, ssrc, cname)
        except (ValueError, OSError, AttributeError) as exc:  # e.g. a scoped IPv6 address, a socket-less transport
            log.info("media engine: this call takes the Python path: %r", exc)
    return EngineStream(link, tx, rx, codec, ssrc, cname)


def make_payload_analyzer(codec_of: Callable[[], str | None], **kwargs: Any) -> PayloadAnalyzer:
    return NativePayloadAnalyzer(codec_of, **kwargs) if native_enabled() else PayloadAnalyzer(codec_of, **kwargs)
