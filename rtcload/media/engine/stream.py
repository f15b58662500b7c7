"""One call's RTP and RTCP inside the engine: what it sends on each tick, what it learns from each packet.

Send: the next pre-encoded payload of its source (or, for echo/relay, each received payload forwarded
at once) with its own SSRC, sequence numbers and timestamps; marker on the first packet and after a
pause (hold). Receive: SRTP unprotect, header parse, RFC 3550 statistics, loss runs, first/last RTP,
and a per-packet callback for the payload (audio presence, echo). RTCP: an SR (or RR when it has
sent nothing) with a report block and SDES CNAME at the stream's RtcpCadence (rtcp.py: aiortc's 0.5-1.5 s,
or Chrome's for the chrome client profile); the far end's report
blocks about our SSRC give RTT (LSR/DLSR), loss and jitter of what we send.
"""

from __future__ import annotations

import collections
import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass

import pylibsrtp

from rtcload.media.engine.dtmf import DtmfPacket, dtmf_events
from rtcload.media.engine.receive_stats import ReceiveStats
from rtcload.media.engine.rtcp import (
    AIORTC_CADENCE,
    ReceiverReport,
    ReportBlock,
    RtcpCadence,
    SenderReport,
    build_bye,
    build_rr,
    build_sdes_cname,
    build_sr,
    compound,
    ntp_from_unix,
    ntp_middle32,
    parse_rtcp,
    rtt_seconds,
)
from rtcload.media.engine.rtp import RtpPacket, audio_level_extension, pack_rtp, parse_rtp, with_extension
from rtcload.media.engine.send_gaps import SendGaps, SendTiming
from rtcload.media.engine.send_stats import SendStats
from rtcload.media.engine.takeover import _MAX_PLAIN_RTP, Link, Srtp
from rtcload.media.opus_settings import DTX_AFTER_FRAMES, DTX_EVERY_FRAMES
from rtcload.media.sequence import LossRunTracker
from rtcload.media.stats import MediaStats

log = logging.getLogger("rtcload.media.engine")

MAX_DATAGRAM = 1500  # larger RTP-range datagrams are dropped unread (as the C path does)
SRTP_REPLAY_STATUSES = (9, 10)  # libsrtp 2.x srtp_err_status_replay_fail, _replay_old
RTT_ALPHA = 0.85  # aiortc's RTCRtpSender smoothing, so engine and aiortc paths report the same RTT
FRAMES_PER_SECOND = 50
SPEECH_BELOW_DBOV = 50  # RFC 6464 V bit: a frame louder than -50 dBov counts as voice activity


@dataclass(frozen=True)
class Codec:
    name: str  # "opus", "pcmu", "pcma"
    payload_type: int
    clock_rate: int

    @property
    def samples_per_frame(self) -> int:
        return self.clock_rate // FRAMES_PER_SECOND


PacketSink = Callable[[RtpPacket, float], None]


class EngineStream:
    """Per-call state; every method runs on the engine's loop (tick, datagram callback)."""

    stale_stamps = 0  # kernel receive stamps out of range (the native path stamps with them; this one never)

    def __init__(self, link: Link, tx_srtp: Srtp, rx_srtp: Srtp, codec: Codec, ssrc: int, cname: str) -> None:
        self.link = link
        self.codec = codec
        self.ssrc = ssrc
        self.cname = cname
        self._tx = tx_srtp
        self._rx = rx_srtp
        self._spf = codec.samples_per_frame
        self._wall_offset = time.time() - time.monotonic()
        # send
        self.frames: tuple[bytes, ...] | None = None  # the source's payloads; None = nothing sent on ticks
        self.levels: tuple[int, ...] | None = None  # each frame's audio level (-dBov, RFC 6464), with frames
        self.audio_level_id: int | None = None  # negotiated ssrc-audio-level extension id: written when set
        self.dtx: tuple[bool, ...] | None = None  # Opus DTX: which frames are silent (None: send every frame)
        self._silent_run = 0  # consecutive silent frames so far (DTX)
        self.dtx_skipped = 0  # frames DTX did not send
        self.sending = False  # negotiated to send and not held
        self._index = 0
        self._sequence = random.getrandbits(16)
        self._timestamp = random.getrandbits(32)
        self._marker = True
        self._echo_offset: int | None = None
        self.sent = SendStats(codec.clock_rate)
        self.dtmf_payload_type: int | None = None  # negotiated telephone-event at the codec's clock rate
        self._dtmf: collections.deque[tuple[int, int, DtmfPacket]] = collections.deque()  # (tick, base ts, packet)
        self._ticks = 0
        self._now = time.monotonic()  # the current tick's (or datagram's) time, for the send statistics
        self._sent_since_report = False
        self.send_gaps = SendGaps()  # when packets really left (the C path keeps these in its Tx)
        # receive
        self.remote_ssrc: int | None = None
        self.receive_stats = ReceiveStats(codec.clock_rate)
        self.loss_runs: LossRunTracker | None = None
        self.on_packet: PacketSink | None = None
        self.on_first_rtp: Callable[[], None] | None = None
        self.on_dtmf: PacketSink | None = None
        self.first_rtp: float | None = None
        self.last_rtp: float | None = None
        self.rejected = 0  # datagrams that failed SRTP or RTP/RTCP parsing
        self._rejected_kinds: collections.Counter[str] = collections.Counter()  # stray.KINDS
        # RTCP
        self._cadence = AIORTC_CADENCE
        self._rr_turn = False  # the cadence alternates SR and RR: the next report is an RR
        self._next_rtcp = time.monotonic() + self._cadence.next_interval()
        self.rtt_s: float | None = None
        self.remote_block: ReportBlock | None = None
        self.remote_sr_packets: int | None = None

    # ---------------------------------------------------------------- send

    def on_tick(self, elapsed: int, send: int, now: float) -> None:
        """`elapsed` frames of time passed; send the last `send` of them (fewer after a long stall)."""
        self._tick_send(elapsed, send, now)
        self._tick_rtcp(now)

    def _tick_send(self, elapsed: int, send: int, now: float) -> None:
        self._now = now
        self._ticks += elapsed
        if self.sending and self.frames is not None:
            if elapsed > send:
                self._timestamp += (elapsed - send) * self._spf
                self._index += elapsed - send
                self._marker = True
            frames = self.frames
            gaps = self.send_gaps
            for _ in range(send):
                if self._dtmf and self._dtmf[0][0] <= self._ticks:
                    self._send_due_dtmf()  # a digit's ticks carry its events instead of audio
                elif self.dtx is not None and self._dtx_skips():
                    self.dtx_skipped += 1
                    gaps.pause()  # a DTX silence is meant: the next packet starts a new run, no gap
                    self._index += 1
                    self._timestamp += self._spf
                    continue
                elif self.audio_level_id is not None and self.levels:
                    level = self.levels[self._index % len(self.levels)]
                    extension = audio_level_extension(self.audio_level_id, level, level < SPEECH_BELOW_DBOV)
                    self._send(frames[self._index % len(frames)], self._timestamp, extension=extension)
                else:
                    self._send(frames[self._index % len(frames)], self._timestamp)
                gaps.sent(time.monotonic())
                self._index += 1
                self._timestamp += self._spf
        else:
            self._timestamp += elapsed * self._spf
            if not self.sending:
                self._marker = True
                self.send_gaps.pause()

    @property
    def rtcp_cadence(self) -> RtcpCadence:
        return self._cadence

    @rtcp_cadence.setter
    def rtcp_cadence(self, cadence: RtcpCadence) -> None:
        """A client profile's cadence (chrome: Chrome's); the next report is rescheduled on it."""
        self._cadence = cadence
        self._next_rtcp = time.monotonic() + cadence.next_interval()

    def _dtx_skips(self) -> bool:
        """Opus DTX (libopus' rule): in a silence of more than DTX_AFTER_FRAMES frames, send one frame in
        DTX_EVERY_FRAMES and skip the rest; the first frame after the silence is a talkspurt (marker)."""
        assert self.dtx is not None
        if not self.dtx[self._index % len(self.dtx)]:
            if self._silent_run > DTX_AFTER_FRAMES:
                self._marker = True
            self._silent_run = 0
            return False
        self._silent_run += 1
        over = self._silent_run - DTX_AFTER_FRAMES
        return over > 0 and over % DTX_EVERY_FRAMES != 0

    def _tick_rtcp(self, now: float) -> None:
        if now >= self._next_rtcp:
            self._next_rtcp = now + self._cadence.next_interval()
            receiver_only = self._rr_turn
            self._rr_turn = self._cadence.alternate_rr and not self._rr_turn
            self.send_rtcp(receiver_only=receiver_only)

    def send_dtmf(self, digits: str) -> bool:
        """Queue RFC 4733 events for `digits` from the next tick (after any digits still queued);
        False when no telephone-event was negotiated."""
        if self.dtmf_payload_type is None or self.frames is None:
            return False
        start = self._ticks + 1  # the next tick sends the frame stamped self._timestamp
        if self._dtmf:
            start = max(start, self._dtmf[-1][0] + 3)  # after the queued digits' end packets and a gap
        base = self._timestamp + (start - self._ticks - 1) * self._spf  # the audio timestamp of that tick
        for packet in dtmf_events(digits, self.codec.clock_rate):
            self._dtmf.append((start + packet.offset_ticks, base, packet))
        return True

    def _send_due_dtmf(self) -> None:
        assert self.dtmf_payload_type is not None
        while self._dtmf and self._dtmf[0][0] <= self._ticks:
            _tick, base, packet = self._dtmf.popleft()
            self.send_rtp(self.dtmf_payload_type, packet.payload, base + packet.timestamp_offset, packet.marker)

    def forward(self, payload: bytes, timestamp: int, marker: bool, now: float) -> None:
        """Echo/relay: send a received payload now, its timing kept (timestamp offset), our own seq/SSRC."""
        if not self.sending:
            return
        if len(payload) + 12 > _MAX_PLAIN_RTP:  # legal RTP that cannot be re-sent under SRTP: dropped, counted
            self.send_gaps.oversized += 1
            return
        self._now = now
        if self._echo_offset is None:
            self._echo_offset = self._timestamp - timestamp
            marker = True
        self._send(payload, timestamp + self._echo_offset, marker)
        self.send_gaps.forwarded(time.monotonic(), now)

    def send_timing(self) -> SendTiming:
        """When this stream's packets really left: gaps, drops, oversized forwards (send_gaps.py)."""
        return self.send_gaps.snapshot()

    def set_sending(self, sending: bool) -> None:
        if sending and not self.sending:
            self._marker = True
        self.sending = sending

    def _send(self, payload: bytes, timestamp: int, marker: bool = False, extension: bytes = b"") -> None:
        if extension:  # only the Python path writes header extensions (the C path has no such argument)
            self.send_rtp(self.codec.payload_type, payload, timestamp, marker or self._marker, extension=extension)
        else:
            self.send_rtp(self.codec.payload_type, payload, timestamp, marker or self._marker)
        self._marker = False
        self._sent_since_report = True

    def send_rtp(self, payload_type: int, payload: bytes, timestamp: int, marker: bool, extension: bytes = b"") -> None:
        """A packet on this stream (audio, or RFC 4733 telephone-event), same SSRC and sequence; `extension`:
        an RFC 8285 block (audio_level_extension) written after the fixed header."""
        packet = pack_rtp(payload_type, self._sequence, timestamp, self.ssrc, payload, marker)
        if extension:
            packet = with_extension(packet, extension)
        self._sequence = (self._sequence + 1) & 0xFFFF
        self.link.send(self._tx.protect(packet))
        self.sent.on_packet(len(payload), timestamp, self._now)

    @property
    def timestamp(self) -> int:
        """The RTP timestamp of the next frame."""
        return self._timestamp

    # ---------------------------------------------------------------- receive

    def _reject(self, kind: str) -> None:
        self.rejected += 1
        self._rejected_kinds[kind] += 1

    def _srtp_failure(self) -> str:
        return "replayed" if self._rx.status in SRTP_REPLAY_STATUSES else "unauthenticated"

    def rejected_datagrams(self) -> dict[str, int]:
        """RTP/RTCP-range datagrams this stream dropped, by kind (stray.KINDS)."""
        return dict(self._rejected_kinds)

    def on_datagram(self, data: bytes, arrival: float) -> None:
        if len(data) > MAX_DATAGRAM:
            self._reject("oversized")
            return
        if len(data) < 12:
            self._reject("malformed")
            return
        if 191 < data[1] < 224:
            try:
                plain = self._rx.unprotect_rtcp(data)
            except pylibsrtp.Error:
                self._reject(self._srtp_failure())
                return
            try:
                self._on_rtcp(plain, arrival)
            except ValueError:
                self._reject("malformed")
            return
        try:
            plain = self._rx.unprotect(data)
        except pylibsrtp.Error:
            self._reject(self._srtp_failure())
            return
        try:
            packet = parse_rtp(plain)
        except ValueError:
            self._reject("malformed")
            return
        if packet.ssrc != self.remote_ssrc:
            if self.remote_ssrc is not None:  # a new stream (far end restarted): statistics start over
                self.receive_stats = ReceiveStats(self.codec.clock_rate)
            self.remote_ssrc = packet.ssrc
        audio = packet.payload_type == self.codec.payload_type  # telephone-events repeat their start timestamp
        self.receive_stats.on_packet(packet.sequence, packet.timestamp, arrival, len(packet.payload), jitter=audio)
        self.last_rtp = arrival
        if self.first_rtp is None:
            self.first_rtp = arrival
            if self.on_first_rtp is not None:
                self.on_first_rtp()
        if self.loss_runs is not None:
            self.loss_runs.on_packet(packet.sequence)
        if audio:
            if self.on_packet is not None:
                self.on_packet(packet, arrival)
        elif packet.payload_type == self.dtmf_payload_type and self.on_dtmf is not None:
            self.on_dtmf(packet, arrival)

    # ---------------------------------------------------------------- RTCP

    def send_rtcp(self, bye: bool = False, receiver_only: bool = False) -> None:
        """SR (or RR when nothing was sent, or `receiver_only`) with a report block, SDES CNAME[, BYE]."""
        now = time.monotonic()
        blocks = [] if self.remote_ssrc is None else [self.receive_stats.report_block(self.remote_ssrc, now)]
        sent = self.sent
        if not receiver_only and sent.has_sent_since_start and (self._sent_since_report or self.sending):
            ntp, rtp_timestamp = sent.sr_fields(now, now + self._wall_offset)
            report = build_sr(self.ssrc, ntp, rtp_timestamp, sent.packets_sent, sent.octets_sent, blocks)
        else:
            report = build_rr(self.ssrc, blocks)
        self._sent_since_report = False
        parts = [report, build_sdes_cname(self.ssrc, self.cname)]
        if bye:
            parts.append(build_bye(self.ssrc))
        self._send_rtcp_packet(compound(*parts))

    def _send_rtcp_packet(self, plain: bytes) -> None:
        self.link.send(self._tx.protect_rtcp(plain))

    def _on_rtcp_plain(self, data: bytes, arrival: float) -> bool:
        """An unprotected RTCP datagram (the native receive path hands these over); False when malformed."""
        try:
            self._on_rtcp(data, arrival)
        except ValueError:
            return False
        return True

    def close(self) -> None:
        """The call ended: nothing of this stream is sent any more (the native stream closes its socket copy)."""

    def _on_rtcp(self, data: bytes, arrival: float) -> None:
        for report in parse_rtcp(data):
            if isinstance(report, SenderReport):
                if report.ssrc == self.remote_ssrc or self.remote_ssrc is None:
                    self.receive_stats.on_sender_report(ntp_middle32(report.ntp64), arrival)
                    self.remote_sr_packets = report.packet_count
                self._on_blocks(report.blocks, arrival)
            elif isinstance(report, ReceiverReport):
                self._on_blocks(report.blocks, arrival)

    def _on_blocks(self, blocks: tuple[ReportBlock, ...], arrival: float) -> None:
        for block in blocks:
            if block.ssrc != self.ssrc:
                continue
            self.remote_block = block
            rtt = rtt_seconds(block, ntp_middle32(ntp_from_unix(arrival + self._wall_offset)))
            if rtt is not None and block.dlsr:
                self.rtt_s = rtt if self.rtt_s is None else RTT_ALPHA * self.rtt_s + (1 - RTT_ALPHA) * rtt

    # ---------------------------------------------------------------- statistics

    def media_stats(self) -> MediaStats:
        """The same MediaStats a getStats() sample gives, from the engine's own counters."""
        rx = self.receive_stats
        block = self.remote_block
        clock_rate = self.codec.clock_rate
        return MediaStats(
            at=time.monotonic(),
            codec=self.codec.name,
            clock_rate=clock_rate,
            packets_sent=self.sent.packets_sent,
            send_drops=self.send_timing().drops,
            bytes_sent=self.sent.octets_sent,
            packets_received=rx.packets_received,
            bytes_received=rx.bytes_received,
            packets_lost=max(0, rx.cumulative_lost),
            jitter_s=rx.jitter_s if rx.packets_received else None,
            rtt_s=self.rtt_s,
            remote_packets_lost=None if block is None else block.cumulative_lost,
            remote_jitter_s=None if block is None else block.jitter / clock_rate,
            remote_fraction_lost=None if block is None else block.fraction_lost / 256.0,
        )
