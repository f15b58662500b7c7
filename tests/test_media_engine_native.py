"""The engine's C per-packet path (`_native`) against the pure-Python engine it replaces.

Correctness only. Both paths get the same input through real libsrtp contexts with the same keys and
real loopback UDP sockets: the native send path must put the very same bytes on the wire as
`EngineStream` (so same sequence numbers, timestamps, markers, DTMF and echo timing, same SRTP), and the
native receive path must compute the same RFC 3550 statistics, loss runs, first RTP and payload-level
audio presence as `EngineStream.on_datagram` + `LossRunTracker` + `PayloadAnalyzer`, and count the same
datagrams as rejected. End-to-end calls on the native path (real aiortc negotiation, the emulator) are
tests/test_media_engine.py: they run on whichever path `native_path()` says, and CI builds the extension.
"""

from __future__ import annotations

import asyncio
import math
import random
import socket
import struct
import time
from typing import Any

import pylibsrtp
import pytest
import uvloop
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rtcload.media.engine import native_path
from rtcload.media.engine.clock import EngineClock
from rtcload.media.engine.native import (
    ENV_SWITCH,
    NativeEngineStream,
    NativePayloadAnalyzer,
    _native,
    native_available,
)
from rtcload.media.engine.rtcp import ReportBlock, build_bye, build_rr, build_sdes_cname, build_sr, compound
from rtcload.media.engine.rtp import pack_rtp, parse_rtp
from rtcload.media.engine.stream import Codec, EngineStream
from rtcload.media.engine.takeover import Srtp, intercept_datagrams
from rtcload.media.engine.udp_link import UdpLink
from rtcload.media.lean import PayloadAnalyzer
from rtcload.media.sequence import LossRunTracker
from rtcload.metrics.lag import LagWindow

KEY = bytes(range(30))  # 16-byte master key + 14-byte salt
PCMU = Codec("pcmu", 0, 8000)
DTMF_PT = 101


def test_the_extension_is_built_and_is_the_default_path(monkeypatch):
    """CI must run the native path: a missing compiler or a broken build fails here, not silently."""
    assert native_available(), "rtcload.media.engine._native is not built (pip install -e . needs gcc)"
    monkeypatch.delenv(ENV_SWITCH, raising=False)
    assert native_path() == "native"
    monkeypatch.setenv(ENV_SWITCH, "0")
    assert native_path() == "python"


def native_kinds(rx: Any) -> dict[str, int]:
    """The C receive path's rejections by kind, as EngineStream.rejected_datagrams() reports them."""
    kinds = ("oversized", "unauthenticated", "replayed", "malformed")
    return {kind: getattr(rx, kind) for kind in kinds if getattr(rx, kind)}


def session(outbound: bool) -> pylibsrtp.Session:
    ssrc_type = pylibsrtp.Policy.SSRC_ANY_OUTBOUND if outbound else pylibsrtp.Policy.SSRC_ANY_INBOUND
    return pylibsrtp.Session(pylibsrtp.Policy(key=KEY, ssrc_type=ssrc_type))


# ---------------------------------------------------------------- the header parser


rtp_like = st.builds(
    lambda first, second, rest, tail: bytes([first, second]) + rest + tail,
    st.integers(0, 255),
    st.integers(0, 255),
    st.binary(min_size=0, max_size=14),
    st.binary(min_size=0, max_size=40),
)


@settings(max_examples=3000, deadline=None)
@given(st.one_of(rtp_like, st.binary(max_size=80)))
def test_the_c_parser_accepts_and_rejects_exactly_what_parse_rtp_does(data):
    try:
        expected = parse_rtp(data)
    except ValueError:
        expected = None
    assert _native.parse_rtp(data) == expected


# ---------------------------------------------------------------- receive: C against EngineStream


class PythonReceiver:
    """The reference: EngineStream.on_datagram with the engine's own loss tracker and payload analyzer."""

    def __init__(self, max_flags: int = 20_000) -> None:
        self.stream = EngineStream(None, Srtp(session(True)), Srtp(session(False)), PCMU, ssrc=1, cname="ref")  # type: ignore[arg-type]
        self.stream.dtmf_payload_type = DTMF_PT
        self.stream.loss_runs = LossRunTracker(max_flags)
        self.analyzer = PayloadAnalyzer(lambda: "pcmu")
        self.stream.on_packet = lambda packet, arrival: self.analyzer.add_payload(packet.payload, arrival)
        self.dtmf: list[tuple[int, bytes, float]] = []
        self.stream.on_dtmf = lambda packet, arrival: self.dtmf.append((packet.timestamp, packet.payload, arrival))
        self.first_rtp_calls = 0
        self.stream.on_first_rtp = self._first

    def _first(self) -> None:
        self.first_rtp_calls += 1


class NativeReceiver:
    def __init__(self, max_flags: int = 20_000) -> None:
        rx = session(False)
        self.srtp = Srtp(rx)
        self.rx = _native.Rx(rx, int(pylibsrtp._binding.ffi.cast("uintptr_t", self.srtp._context)), 0, 8000)
        self.rx.dtmf_pt = DTMF_PT
        self.rx.track_loss(max_flags)
        self.analyzer = NativePayloadAnalyzer(lambda: "pcmu")
        self.analyzer.follow(self.rx, "pcmu")
        self.dtmf: list[tuple[int, bytes, float]] = []
        self.rx.on_dtmf = lambda packet, arrival: self.dtmf.append((packet.timestamp, packet.payload, arrival))
        self.rtcp: list[bytes] = []
        self.rx.on_rtcp = lambda data, _arrival: self.rtcp.append(data) or True
        self.first_rtp_calls = 0
        self.rx.on_first_rtp = self._first

    def _first(self) -> None:
        self.first_rtp_calls += 1


def scenario(draw_seed: int, packets: int) -> list[tuple[bytes, float]]:
    """SRTP datagrams as a network would deliver them: loss, bursts, reordering, jitter, a far-end restart
    (new SSRC), big sequence jumps, DTMF, telephone silence and tone in G.711, RTCP, and garbage."""
    rng = random.Random(draw_seed)
    sender = session(True)
    ssrc = rng.getrandbits(32)
    sequence = rng.choice([rng.getrandbits(16), 65530])  # sometimes across the 16-bit wrap at once
    timestamp = rng.choice([rng.getrandbits(32), 0xFFFFFF00])  # and the 32-bit timestamp wrap
    arrival = 1000.0 + rng.random()
    tone = bytes(int(x) & 0xFF for x in (rng.getrandbits(8) for _ in range(160)))
    out: list[tuple[bytes, float]] = []
    pending: list[tuple[bytes, float]] = []
    for _ in range(packets):
        roll = rng.random()
        if roll < 0.02:  # far end restarts: new SSRC, new sequence space
            ssrc, sequence = rng.getrandbits(32), rng.getrandbits(16)
        elif roll < 0.04:  # big jump (a stray packet or a restart in the same SSRC)
            sequence = (sequence + rng.randint(3000, 20000)) & 0xFFFF
        elif roll < 0.14:  # loss: a run of packets never sent
            skipped = rng.randint(1, 6)
            sequence = (sequence + skipped) & 0xFFFF
            timestamp = (timestamp + 160 * skipped) & 0xFFFFFFFF
        kind = rng.random()
        if kind < 0.05:
            payload_type, payload = DTMF_PT, struct.pack("!BBH", rng.randint(0, 15), 10, 160)
        elif kind < 0.35:
            payload_type, payload = 0, b"\xff" * 160  # mu-law digital silence
        elif kind < 0.38:
            payload_type, payload = 0, b""
        else:
            payload_type, payload = 0, tone[rng.randint(0, 40) :]
        plain = pack_rtp(payload_type, sequence, timestamp, ssrc, payload, marker=rng.random() < 0.05)
        try:
            datagram = sender.protect(plain)
        except pylibsrtp.Error:
            continue
        sequence = (sequence + 1) & 0xFFFF
        timestamp = (timestamp + 160) & 0xFFFFFFFF
        arrival += 0.02 + rng.uniform(-0.004, 0.004)
        pending.append((datagram, arrival))
        if rng.random() < 0.1 and len(pending) > 1:  # reordering: the last two swap places
            (a, ta), (b, tb) = pending[-2], pending[-1]
            pending[-2:] = [(b, ta), (a, tb)]
        if rng.random() < 0.03:
            pending.append((datagram, arrival + 0.001))  # a network duplicate (SRTP replay protection drops it)
        if rng.random() < 0.03:
            report = compound(build_sr(ssrc, rng.getrandbits(64), timestamp, 5, 800))
            pending.append((sender.protect_rtcp(report), arrival))
        if rng.random() < 0.03:
            garbage = bytes([rng.randint(128, 191)]) + rng.randbytes(rng.randint(0, 60))
            pending.append((garbage, arrival))
        if len(pending) > 3:
            out.extend(pending[:-2])
            pending = pending[-2:]
    return out + pending


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(0, 2**31), st.integers(1, 600), st.sampled_from([20_000, 64]))
def test_the_c_receive_path_computes_what_the_python_engine_computes(seed, packets, max_flags):
    """max_flags 64: loss runs never drained keep only the newest flags, in C as in LossRunTracker."""
    python, native = PythonReceiver(max_flags), NativeReceiver(max_flags)
    for datagram, arrival in scenario(seed, packets):
        python.stream.on_datagram(datagram, arrival)
        native.rx.datagram(datagram, arrival)
    stats, rx = python.stream.receive_stats, native.rx
    assert rx.remote_ssrc == python.stream.remote_ssrc
    assert (rx.packets, rx.bytes, rx.expected, rx.max_ext, rx.duplicates) == (
        stats.packets_received,
        stats.bytes_received,
        stats.expected,
        stats.highest_extended_seq,
        stats.duplicates,
    )
    assert rx.jitter == stats.jitter_rtp_units  # the same IEEE operations in the same order: bit-identical
    assert (rx.first_arrival, rx.last_arrival) == (stats.first_arrival_s, stats.last_arrival_s)
    assert (rx.first_rtp, rx.last_rtp) == (python.stream.first_rtp, python.stream.last_rtp)
    assert rx.rejected == python.stream.rejected
    assert native_kinds(rx) == python.stream.rejected_datagrams()  # replays (network duplicates), garbage
    assert native.first_rtp_calls == python.first_rtp_calls == (0 if rx.first_rtp is None else 1)
    assert rx.drain_loss() == python.stream.loss_runs.drain()
    assert native.dtmf == python.dtmf
    a, b = native.analyzer, python.analyzer
    assert (a.frames, a.silent_frames, a._samples) == (b.frames, b.silent_frames, b._samples)
    times = (a.first_frame_at, a.first_audio_at, a.last_audio_at)
    assert times == (b.first_frame_at, b.first_audio_at, b.last_audio_at)
    assert math.isclose(a._sum_squares, b._sum_squares, rel_tol=1e-12, abs_tol=1e-15)
    assert math.isclose(a.rms_dbfs(), b.rms_dbfs(), abs_tol=1e-9)
    assert math.isclose(a.window_dbfs(), b.window_dbfs(), abs_tol=1e-9)
    assert a.silence_ratio() == b.silence_ratio()


def rtcp_scenario(seed: int, count: int) -> list[tuple[bytes, float]]:
    """SRTCP compounds (SR/RR with blocks about us, ssrc 1, or others; SDES, BYE) among a far end's RTP
    (restarts too), and malformed compounds: truncated, wrong version, padding before the end, unknown type."""
    rng = random.Random(seed)
    sender = session(True)
    remote, sequence, arrival = rng.getrandbits(32), rng.getrandbits(16), 5000.0 + rng.random()
    out: list[tuple[bytes, float]] = []
    for _ in range(count):
        arrival += rng.uniform(0.0, 1.5)
        roll = rng.random()
        if roll < 0.3:
            if rng.random() < 0.1:
                remote = rng.getrandbits(32)
            sequence = (sequence + 1) & 0xFFFF
            out.append((sender.protect(pack_rtp(0, sequence, 160 * sequence, remote, b"\xff" * 160)), arrival))
            continue
        blocks = [
            ReportBlock(
                rng.choice([1, 1, remote, rng.getrandbits(32)]),
                rng.randint(0, 255),
                rng.randint(-0x800000, 0x7FFFFF),
                rng.getrandbits(32),
                rng.getrandbits(32),
                rng.choice([0, rng.getrandbits(32)]),
                rng.choice([0, rng.randint(1, 200_000), rng.getrandbits(32)]),
            )
            for _ in range(rng.randint(0, 3))
        ]
        sender_ssrc = rng.choice([remote, remote, rng.getrandbits(32)])
        if rng.random() < 0.6:
            first = build_sr(sender_ssrc, rng.getrandbits(64), rng.getrandbits(32), rng.getrandbits(32), 800, blocks)
        else:
            first = build_rr(sender_ssrc, blocks)
        parts = [first, build_sdes_cname(sender_ssrc, "far")] + ([build_bye(sender_ssrc)] if rng.random() < 0.1 else [])
        plain = bytearray(b"".join(parts))
        damage = rng.random()
        if damage < 0.05:
            plain = plain[: rng.randint(8, len(plain) - 1)]  # truncated: a length that runs past the end
        elif damage < 0.08:
            plain[0] = (plain[0] & 0x3F) | 0x40  # version 1
        elif damage < 0.11 and len(parts) > 1:
            plain[0] |= 0x20  # padding on a packet that is not the last
        elif damage < 0.14:
            plain += bytes([0x80, rng.choice([0, 100, 224, 255]), 0, 0])  # a type outside 192..223
        elif damage < 0.16:
            plain += b"\x80"  # trailing bytes that are not a header
        if len(plain) < 8:
            continue
        out.append((sender.protect_rtcp(bytes(plain)), arrival))
    return out


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(0, 2**31), st.integers(1, 120))
def test_the_c_rtcp_reader_keeps_what_the_python_engine_keeps(seed, count):
    """RTCP read in C (rtcp_in_c) against EngineStream._on_rtcp: the far end's last SR (LSR and its arrival,
    reset by a new SSRC), its packet count, its report block about us, the smoothed RTT (bit-identical:
    the same IEEE operations) and malformed compounds rejected as such with nothing changed."""
    wall_offset = 1.7e9 + random.Random(seed).random()
    python = PythonReceiver()
    python.stream._wall_offset = wall_offset
    native = NativeReceiver()
    native.rx.on_rtcp = None
    native.rx.local_ssrc = 1
    native.rx.wall_offset = wall_offset
    native.rx.rtcp_in_c = True
    for datagram, arrival in rtcp_scenario(seed, count):
        python.stream.on_datagram(datagram, arrival)
        native.rx.datagram(datagram, arrival)
        stats, rx, stream = python.stream.receive_stats, native.rx, python.stream
        assert (rx.last_sr_middle32, rx.last_sr_arrival) == (stats._last_sr_middle32, stats._last_sr_arrival_s)
        assert rx.remote_sr_packets == stream.remote_sr_packets
        assert rx.remote_block == (None if stream.remote_block is None else tuple(stream.remote_block))
        assert rx.rtt == stream.rtt_s
        assert (rx.rejected, native_kinds(rx)) == (stream.rejected, stream.rejected_datagrams())


def test_a_native_stream_reads_rtcp_in_c_and_hands_it_to_python_when_asked():
    """NativeEngineStream reads RTCP in C by default; with nrx.on_rtcp set (a tap, as the Chrome timing test
    uses) Python's _on_rtcp runs instead and writes the same fields through the stream's properties."""
    receiver = receiver_socket()
    stream = sender_pair(True, receiver.getsockname(), PCMU)
    assert isinstance(stream, NativeEngineStream)
    sender = session(True)
    block = ReportBlock(stream.ssrc, 3, 7, 1000, 40, 0, 0)
    report = sender.protect_rtcp(compound(build_rr(0xABCDEF01, [block]), build_sdes_cname(0xABCDEF01, "far")))
    stream.on_datagram(report, 10.0)
    assert stream.nrx.on_rtcp is None and stream.nrx.rtcp_in_c
    assert stream.remote_block == block and stream.rtt_s is None
    stream.nrx.on_rtcp = stream._on_rtcp_plain
    second = block._replace(fraction_lost=9)
    stream.on_datagram(sender.protect_rtcp(compound(build_rr(0xABCDEF01, [second]))), 11.0)
    assert stream.remote_block == second
    assert stream.media_stats().remote_fraction_lost == 9 / 256.0
    stream.close()
    receiver.close()


def test_opus_frames_are_silent_or_audible_by_size_as_payload_analyzer_says():
    python, native = PayloadAnalyzer(lambda: "opus"), NativeReceiver()
    native.analyzer = NativePayloadAnalyzer(lambda: "opus")
    native.analyzer.follow(native.rx, "opus")
    sender = session(True)
    native.rx.on_dtmf = None
    for i, size in enumerate([3, 3, 250, 8, 9, 480, 0, 3]):
        payload = bytes(size)
        python.add_payload(payload, 10.0 + i * 0.02)
        native.rx.datagram(sender.protect(pack_rtp(0, i, i * 960, 7, payload)), 10.0 + i * 0.02)
    a = native.analyzer
    assert (a.frames, a.silent_frames, a.first_audio_at, a.last_audio_at) == (8, 5, 10.04, 10.1)
    assert (python.frames, python.silent_frames, python.first_audio_at, python.last_audio_at) == (
        a.frames,
        a.silent_frames,
        a.first_audio_at,
        a.last_audio_at,
    )
    assert math.isclose(a.rms_dbfs(), python.rms_dbfs(), abs_tol=1e-9)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=1600))
def test_malformed_or_unauthenticated_datagrams_are_counted_never_crash(data):
    native, python = NativeReceiver(), PythonReceiver()
    native.rx.datagram(data, 1.0)
    python.stream.on_datagram(data, 1.0)
    assert native.rx.rejected == python.stream.rejected == 1
    assert native_kinds(native.rx) == python.stream.rejected_datagrams()  # one kind, the same on both paths
    assert native.rx.packets == 0 and native.rx.first_rtp is None


# ---------------------------------------------------------------- send: the same bytes on the wire


def receiver_socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(2.0)
    return sock


def sender_pair(native: bool, remote: tuple[str, int], codec: Codec) -> EngineStream:
    link = UdpLink(remote)
    kind = NativeEngineStream if native else EngineStream
    stream = kind(link, Srtp(session(True)), Srtp(session(False)), codec, ssrc=0x11223344, cname="same")  # type: ignore[arg-type]
    stream._sequence, stream._timestamp = 65500, 0xFFFFF000  # both wrap during the run
    stream._next_rtcp = math.inf  # RTCP carries wall-clock time: keep it out of the byte comparison
    stream.dtmf_payload_type = DTMF_PT
    return stream


def drive(stream: EngineStream, steps: list[tuple[str, int]], frames: tuple[bytes, ...]) -> None:
    """The engine's calls in one order: ticks (with stalls), hold/unhold, DTMF, echo forwarding."""
    stream.frames = frames
    stream.set_sending(True)
    now = 50.0
    for action, value in steps:
        now += 0.02
        if action == "tick":
            elapsed = value
            send = min(elapsed, 5)
            if isinstance(stream, NativeEngineStream):
                attention = _native.tick((stream.ntx,), elapsed, send, now)
                if attention:
                    stream.on_native(elapsed, send, now)
            else:
                stream.on_tick(elapsed, send, now)
        elif action == "hold":
            stream.set_sending(bool(value))
        elif action == "dtmf":
            assert stream.send_dtmf("1#" if value else "5")
        elif action == "forward":
            stream.forward(bytes([value]) * 160, 1000 * value, value % 3 == 0, now)


actions = st.lists(
    st.one_of(
        st.tuples(st.just("tick"), st.sampled_from([1, 1, 1, 1, 2, 3, 7])),
        st.tuples(st.just("hold"), st.integers(0, 1)),
        st.tuples(st.just("dtmf"), st.integers(0, 1)),
        st.tuples(st.just("forward"), st.integers(0, 255)),
    ),
    min_size=1,
    max_size=120,
)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(actions)
def test_the_c_send_path_puts_the_same_bytes_on_the_wire_as_the_python_engine(steps):
    frames = tuple(bytes([i]) * (100 + i) for i in range(7))
    wires = []
    streams = []
    for native in (False, True):
        receiver = receiver_socket()
        stream = sender_pair(native, receiver.getsockname(), PCMU)
        drive(stream, steps, frames)
        datagrams = [receiver.recv(2048) for _ in range(stream.sent.packets_sent)]
        receiver.close()
        wires.append(datagrams)
        streams.append(stream)
    python, native = streams
    assert wires[1] == wires[0]
    assert (native.sent.packets_sent, native.sent.octets_sent) == (python.sent.packets_sent, python.sent.octets_sent)
    assert native.sent.has_sent_since_start == python.sent.has_sent_since_start
    if python.sent.has_sent_since_start:
        assert native.sent.sr_fields(99.0, 1.7e9) == python.sent.sr_fields(99.0, 1.7e9)
    assert (native._sequence, native._timestamp & 0xFFFFFFFF, native._marker, native.sending) == (
        python._sequence,
        python._timestamp & 0xFFFFFFFF,
        python._marker,
        python.sending,
    )
    native.close()


class CountingLink(UdpLink):
    """A UdpLink that counts what went through its Python send (the path the C RTCP send replaces)."""

    def __init__(self, remote: tuple[str, int], relayed: bool) -> None:
        super().__init__(remote)
        self.relayed = relayed
        self.python_sends = 0

    def send(self, data: bytes) -> None:
        self.python_sends += 1
        super().send(data)


@pytest.mark.parametrize("relayed", [False, True])
def test_rtcp_from_the_c_path_is_the_python_engines_srtcp_and_host_pairs_send_it_from_c(relayed):
    """The same SR/RR + SDES (+ BYE) reports, SRTCP-protected on the stream's session: the same bytes on the
    wire from both engines. A host pair's report is protected and sent in one C call (not through the
    link); a TURN-relayed pair's still goes through the link, which wraps it in channel data."""
    wires = []
    for native in (False, True):
        receiver = receiver_socket()
        kind = NativeEngineStream if native else EngineStream
        link = CountingLink(receiver.getsockname(), relayed)
        stream = kind(link, Srtp(session(True)), Srtp(session(False)), PCMU, ssrc=0x11223344, cname="same")  # type: ignore[arg-type]
        reports = [compound(build_sr(0x11223344, (i + 1) << 32, 160 * i, 50 * i, 8000 * i, [])) for i in range(3)]
        for report in reports:
            stream._send_rtcp_packet(report)
        wires.append([receiver.recv(2048) for _ in reports])
        assert link.python_sends == (0 if native and not relayed else len(reports))
        stream.close()
        if native and not relayed:
            with pytest.raises(ConnectionError):  # the call ended: nothing is sent on a closed stream
                stream._send_rtcp_packet(reports[0])
        receiver.close()
    assert wires[1] == wires[0]
    plain = Srtp(session(False))
    assert [plain.unprotect_rtcp(d)[:28] for d in wires[1]] == [r[:28] for r in reports]


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(0, 2**31), st.lists(st.tuples(st.integers(0, 3), st.booleans(), st.booleans()), max_size=8))
def test_reports_built_in_c_are_the_python_engines_reports(seed, reports):
    """Tx.send_report against EngineStream.send_rtcp after the same traffic both ways (received RTP with
    loss and a far-end restart, the far end's SRs, ticks sent or not, hold): SR or RR with the same report
    block (fraction lost since the last report, cumulative loss, jitter, LSR/DLSR), SDES CNAME, BYE, and
    the same SRTCP bytes on the wire."""
    rng = random.Random(seed)
    frames = tuple(bytes([i]) * 160 for i in range(3))
    incoming = [(d, a) for d, a in rtcp_scenario(seed, 60) if rng.random() < 0.9]
    wires = []
    for native in (False, True):
        receiver = receiver_socket()
        stream = sender_pair(native, receiver.getsockname(), PCMU)
        stream._wall_offset = 1.7e9 + 0.25
        stream.frames = frames
        clock = 7000.0
        for step, (ticks, hold, bye) in enumerate(reports):
            stream.set_sending(not hold)
            for _ in range(ticks):
                clock += 0.02
                if isinstance(stream, NativeEngineStream):
                    _native.tick((stream.ntx,), 1, 1, clock)
                else:
                    stream.on_tick(1, 1, clock)
            for datagram, arrival in incoming[step * 7 : step * 7 + 7]:
                stream.on_datagram(datagram, arrival)
            with monkeypatch_monotonic(clock + 0.013):
                stream.send_rtcp(bye=bye, receiver_only=step % 3 == 2)
        datagrams = [receiver.recv(2048) for _ in range(stream.sent.packets_sent + len(reports))]
        rtcp = [d for d in datagrams if 191 < d[1] < 224]
        wires.append(rtcp)
        assert len(rtcp) == len(reports)
        stream.close()
        receiver.close()
    assert wires[1] == wires[0]


class monkeypatch_monotonic:
    """time.monotonic() answers `now` inside the block (send_rtcp reads the clock for its SR and DLSR)."""

    def __init__(self, now: float) -> None:
        self.now = now

    def __enter__(self) -> None:
        self.saved = time.monotonic
        time.monotonic = lambda: self.now

    def __exit__(self, *_exc: Any) -> None:
        time.monotonic = self.saved


def test_a_stream_that_cannot_send_any_more_is_handed_back_to_the_engine_with_the_error():
    receiver = receiver_socket()
    stream = sender_pair(True, receiver.getsockname(), PCMU)
    assert isinstance(stream, NativeEngineStream)
    stream.frames = (b"\x00" * 160,)
    stream.set_sending(True)
    assert _native.tick((stream.ntx,), 1, 1, 1.0) is None  # sent, nothing to report
    assert receiver.recv(2048)
    stream.close()  # the call ended: the socket copy is closed, a late tick must not write anywhere
    stream.ntx.sending = True
    assert _native.tick((stream.ntx,), 1, 1, 1.02) == [0]
    with pytest.raises(OSError, match="Bad file descriptor"):
        stream.on_native(1, 1, 1.02)
    assert _native.tick((stream.ntx,), 1, 1, 1.04) == [0]  # and it stays reported until the engine drops it
    receiver.close()


def test_an_address_the_socket_cannot_reach_fails_the_stream_instead_of_sending_nothing_silently():
    stream = sender_pair(True, ("::1", 9), PCMU)  # an IPv6 destination on an IPv4 socket
    stream.frames = (b"\x00" * 160,)
    stream.set_sending(True)
    assert _native.tick((stream.ntx,), 1, 1, 1.0) == [0]
    with pytest.raises(OSError):
        stream.on_native(1, 1, 1.0)
    stream.close()


def test_an_ipv6_pair_is_sent_to_from_c_as_well():
    receiver = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    receiver.bind(("::1", 0))
    receiver.settimeout(2.0)
    link = UdpLink(receiver.getsockname()[:2])
    link.sock.close()
    link.sock = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    link.sock.bind(("::1", 0))
    stream = NativeEngineStream(link, Srtp(session(True)), Srtp(session(False)), PCMU, ssrc=5, cname="v6")  # type: ignore[arg-type]
    stream.frames = (b"\x01" * 160,)
    stream.set_sending(True)
    assert _native.tick((stream.ntx,), 1, 1, 1.0) is None
    packet = parse_rtp(session(False).unprotect(receiver.recv(2048)))
    assert (packet.ssrc, packet.payload, packet.marker) == (5, b"\x01" * 160, True)
    stream.close()
    receiver.close()
    link.sock.close()


# ---------------------------------------------------------------- kernel receive stamps, tick preemption


class _CandidateProtocol(asyncio.DatagramProtocol):
    """A local candidate's protocol as aioice's StunProtocol looks to takeover: `transport`, datagram_received."""

    def connection_made(self, transport: Any) -> None:
        self.transport = transport

    def datagram_received(self, data: bytes, addr: Any) -> None:
        raise AssertionError("not RTP/RTCP: the tests send only SRTP")


class _Candidates:
    """The one thing intercept_datagrams reads from aioice's Connection: its local candidates' protocols."""

    def __init__(self, protocols: list[asyncio.DatagramProtocol]) -> None:
        self._protocols = protocols


async def _native_endpoints(count: int, gate: object = None) -> tuple[list[Any], list[NativeReceiver], Any]:
    """`count` real uvloop UDP endpoints whose datagram_received is the C Demux (installed by takeover's
    intercept_datagrams, kernel stamps from each protocol's socket), each feeding its own NativeReceiver."""
    loop = asyncio.get_running_loop()
    endpoints, receivers, protocols = [], [], []
    for _ in range(count):
        transport, protocol = await loop.create_datagram_endpoint(_CandidateProtocol, local_addr=("127.0.0.1", 0))
        endpoints.append(transport)
        protocols.append(protocol)
        receivers.append(NativeReceiver())
    by_protocol = dict(zip(map(id, protocols), receivers, strict=True))
    restore = intercept_datagrams(
        _Candidates(protocols),
        lambda data, arrival: None,
        lambda original, fd: _native.Demux(by_protocol[id(original.__self__)].rx, original, fd, gate),
    )
    return endpoints, receivers, restore


def _run_uvloop(coroutine: Any) -> Any:
    loop = uvloop.new_event_loop()
    try:
        return loop.run_until_complete(coroutine)
    finally:
        loop.close()


def test_arrivals_are_the_kernels_receive_times_not_when_the_busy_loop_got_to_them():
    async def scenario() -> tuple[list[float], list[tuple[int, float]], float, float | None, float]:
        endpoints, (receiver,), restore = await _native_endpoints(1)
        arrivals: list[tuple[int, float]] = []
        receiver.rx.on_audio = lambda packet, arrival: arrivals.append((packet.sequence, arrival))
        sender = sender_pair(True, endpoints[0].get_extra_info("sockname"), PCMU)
        # The socket's first stamp request switches the kernel's timestamping on, through deferred work
        # (net_enable_timestamp): a datagram queued before that work ran has no stamp and gets the time of
        # the request. One warm-up datagram, handled before the measured ones, takes that case out.
        sender.send_rtp(0, bytes(160), 0, False)
        for _ in range(200):
            if arrivals:
                break
            await asyncio.sleep(0.01)
        warm_up = arrivals[0][1]
        arrivals.clear()
        sent = []
        for k in range(5):  # the loop is blocked the whole time: every datagram waits in the socket's queue
            sent.append(time.monotonic())
            sender.send_rtp(0, bytes(160), 160 * k, False)
            time.sleep(0.01)
        time.sleep(0.05)
        handled_after = time.monotonic()
        for _ in range(200):
            if len(arrivals) == 5:
                break
            await asyncio.sleep(0.01)
        restore()
        for transport in endpoints:
            transport.close()
        return sent, arrivals, handled_after, receiver.rx.first_rtp, warm_up

    sent, arrivals, handled_after, first_rtp, warm_up = _run_uvloop(scenario())
    assert [seq for seq, _ in arrivals] == [65501 + k for k in range(5)]  # after the warm-up's 65500
    for at_send, (_, arrival) in zip(sent, arrivals, strict=True):
        assert at_send <= arrival + 0.0005  # the same clock as time.monotonic() (sub-ms conversion slack)
        assert arrival - at_send < 0.005, "stamped when handled (>= 50 ms later), not when received"
    assert handled_after - arrivals[-1][1] >= 0.045
    assert first_rtp == warm_up  # the statistics use the same stamps (the first datagram is the warm-up)


def test_without_the_socket_the_arrival_is_the_callback_time():
    """The fallback (a candidate with no socket of its own, e.g. TURN): stamped when handled, as before."""
    rx_session = session(False)
    rx = _native.Rx(rx_session, int(pylibsrtp._binding.ffi.cast("uintptr_t", Srtp(rx_session)._context)), 0, 8000)
    sender_srtp = Srtp(session(True))
    demux = _native.Demux(rx, lambda data, addr: None, -1, None)
    before = time.monotonic()
    demux(sender_srtp.protect(pack_rtp(0, 1, 160, 7, bytes(160))), ("127.0.0.1", 9))
    assert before <= rx.first_rtp <= time.monotonic()


def test_an_overdue_tick_fires_from_the_socket_callback_once_and_keeps_its_deadlines():
    """What every Demux does after a datagram (gate.check()) while a batch of callbacks holds the loop."""
    period = 0.1
    ticks: list[tuple[int, float]] = []
    lateness = LagWindow()
    gate = _native.TickGate()

    async def scenario() -> EngineClock | None:
        clock = EngineClock(asyncio.get_running_loop(), lambda elapsed, send: ticks.append((elapsed, time.monotonic())),
                            period_s=period, lateness=lateness, gate=gate)  # fmt: skip
        clock.start()
        while not ticks:
            await asyncio.sleep(0.001)
        origin = clock._origin
        assert gate.deadline == origin + period and gate.fire is not None
        gate.check()  # not due yet: nothing happens
        assert len(ticks) == 1
        while time.monotonic() < origin + period + 0.03:  # the loop is busy past tick 1's deadline...
            pass
        gate.check()  # ...and the next datagram's callback runs the tick
        checked_at = time.monotonic()
        assert len(ticks) == 2 and clock.preempted == 1 and gate.fired == 1
        if checked_at >= origin + 2 * period:  # descheduled by a busy machine past tick 2 too: not this case
            clock.stop()
            return None
        assert gate.deadline == origin + 2 * period
        gate.check()
        assert len(ticks) == 2
        while time.monotonic() < origin + 2.5 * period:  # tick 1's timer was cancelled: only tick 2's fires
            await asyncio.sleep(0.005)
        clock.stop()
        return clock

    for _attempt in range(5):  # a machine that steals > 70 ms at the wrong instant tests nothing: again
        ticks.clear()
        lateness = LagWindow()
        gate = _native.TickGate()
        clock = _run_uvloop(scenario())
        if clock is not None:
            break
    assert clock is not None, "descheduled past two periods in every attempt"
    origin = clock._origin
    assert [elapsed for elapsed, _ in ticks] == [1, 1, 1]
    for k, (_, at) in enumerate(ticks):
        assert at >= origin + k * period - 0.0002  # never early: deadlines stay origin + k * period
    assert ticks[2][1] - ticks[1][1] > 0.05, "tick 1's cancelled timer ran as an extra tick"
    recorded = [lag for _, lag in lateness.samples]
    assert len(recorded) == 3 and recorded[1] >= 0.03
    assert gate.fire is None and gate.deadline == math.inf  # stopped: a late datagram fires nothing
    gate.check()
    assert len(ticks) == 3


def test_ticks_keep_time_while_a_long_batch_of_datagrams_holds_the_loop():
    """20 sockets x 8 datagrams queued while the loop is blocked, each taking 2 ms to handle: one batch of
    ~320 ms of callbacks. The gate fires the 20 ms tick between datagrams instead of after the batch."""
    period = 0.02
    lateness = LagWindow()
    gate = _native.TickGate()
    ticks: list[float] = []

    async def scenario() -> tuple[int, int]:
        endpoints, receivers, restore = await _native_endpoints(20, gate)
        handled = []

        def work(packet: Any, arrival: float) -> None:
            handled.append(arrival)
            end = time.monotonic() + 0.002
            while time.monotonic() < end:
                pass

        for receiver in receivers:
            receiver.rx.on_audio = work
        senders = [sender_pair(True, t.get_extra_info("sockname"), PCMU) for t in endpoints]
        clock = EngineClock(asyncio.get_running_loop(), lambda elapsed, send: ticks.append(time.monotonic()),
                            period_s=period, lateness=lateness, gate=gate)  # fmt: skip
        clock.start()
        while len(ticks) < 3:
            await asyncio.sleep(0.005)
        lateness.samples.clear()
        for k in range(8):
            for sender in senders:
                sender.send_rtp(0, bytes(160), 160 * k, False)
        for _ in range(300):
            if len(handled) == 160:
                break
            await asyncio.sleep(0.01)
        clock.stop()
        restore()
        for transport in endpoints:
            transport.close()
        return len(handled), gate.fired

    handled, fired = _run_uvloop(scenario())
    assert handled == 160
    assert fired >= 5  # the batch spanned many deadlines and the callbacks fired those ticks
    late = [lag for _, lag in lateness.samples]
    assert late and max(late) < 0.015, f"a tick waited for the batch: {max(late) * 1000:.1f} ms late"
