"""RTCP build/parse and SR bookkeeping of the media engine, with aiortc's RTCP parser and RFC 3550's own example
as witnesses."""

from __future__ import annotations

import struct

import pytest
from aiortc.rtp import (
    RtcpByePacket,
    RtcpPacket,
    RtcpPsfbPacket,
    RtcpReceiverInfo,
    RtcpRrPacket,
    RtcpRtpfbPacket,
    RtcpSdesPacket,
    RtcpSrPacket,
)
from hypothesis import given, settings
from hypothesis import strategies as st

from rtcload.media.engine.receive_stats import ReceiveStats
from rtcload.media.engine.rtcp import (
    OtherRtcp,
    ReceiverReport,
    ReportBlock,
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
from rtcload.media.engine.send_stats import SendStats

BLOCK = ReportBlock(
    ssrc=0xAABBCCDD,
    fraction_lost=64,
    cumulative_lost=1234,
    highest_seq=0x1FFFF,
    jitter=77,
    lsr=0x12345678,
    dlsr=0x00018000,
)


def test_ntp_conversion() -> None:
    assert ntp_from_unix(0.0) == 2_208_988_800 << 32
    assert ntp_from_unix(1.5) == ((2_208_988_800 + 1) << 32) | (1 << 31)
    assert ntp_middle32(0x0123_4567_89AB_CDEF) == 0x4567_89AB


def test_sender_report_round_trip_and_aiortc_agrees() -> None:
    ntp = ntp_from_unix(1_800_000_000.25)
    data = build_sr(0x11223344, ntp, 0xFFFFFFF0, 500, 80_000, [BLOCK])
    assert parse_rtcp(data) == [SenderReport(0x11223344, ntp, 0xFFFFFFF0, 500, 80_000, (BLOCK,))]
    (theirs,) = RtcpPacket.parse(data)
    assert isinstance(theirs, RtcpSrPacket) and theirs.ssrc == 0x11223344
    info = theirs.sender_info
    assert (info.ntp_timestamp, info.rtp_timestamp, info.packet_count, info.octet_count) == (
        ntp,
        0xFFFFFFF0,
        500,
        80_000,
    )
    report = theirs.reports[0]
    assert (report.ssrc, report.fraction_lost, report.packets_lost) == (BLOCK.ssrc, 64, 1234)
    assert (report.highest_sequence, report.jitter, report.lsr, report.dlsr) == (0x1FFFF, 77, 0x12345678, 0x18000)


def test_receiver_report_with_negative_cumulative_loss() -> None:
    block = BLOCK._replace(cumulative_lost=-3)
    data = build_rr(7, [block, BLOCK])
    assert parse_rtcp(data) == [ReceiverReport(7, (block, BLOCK))]
    (theirs,) = RtcpPacket.parse(data)
    assert isinstance(theirs, RtcpRrPacket) and [r.packets_lost for r in theirs.reports] == [-3, 1234]


def test_cumulative_loss_is_clamped_to_24_bits() -> None:
    (rr,) = parse_rtcp(build_rr(7, [BLOCK._replace(cumulative_lost=10**9)]))
    assert isinstance(rr, ReceiverReport) and rr.blocks[0].cumulative_lost == 0x7FFFFF


def test_empty_reports_and_too_many_blocks() -> None:
    assert parse_rtcp(build_rr(9)) == [ReceiverReport(9, ())]
    assert RtcpPacket.parse(build_sr(9, 1, 2, 3, 4))[0].reports == []
    with pytest.raises(ValueError, match="at most 31"):
        build_rr(9, [BLOCK] * 32)
    with pytest.raises(ValueError, match="fraction_lost"):
        build_rr(9, [BLOCK._replace(fraction_lost=256)])


@pytest.mark.parametrize(
    "cname", ["a", "ab", "abc", "abcd", "abcde", "rtcload-0001@example.invalid", "é" * 10, "x" * 255]
)
def test_sdes_cname_is_padded_and_aiortc_reads_it(cname: str) -> None:
    data = build_sdes_cname(0x55, cname)
    assert len(data) % 4 == 0
    assert parse_rtcp(data) == [OtherRtcp(202)]
    (theirs,) = RtcpPacket.parse(data)
    assert isinstance(theirs, RtcpSdesPacket)
    assert theirs.chunks[0].ssrc == 0x55 and theirs.chunks[0].items == [(1, cname.encode())]


def test_sdes_cname_length_limits() -> None:
    for bad in ("", "x" * 256):
        with pytest.raises(ValueError, match="CNAME"):
            build_sdes_cname(1, bad)


def test_compound_sr_sdes_bye_as_aiortc_sees_it() -> None:
    data = compound(build_sr(1, ntp_from_unix(0), 0, 0, 0, [BLOCK]), build_sdes_cname(1, "me"), build_bye(1))
    ours = parse_rtcp(data)
    assert [type(p) for p in ours] == [SenderReport, OtherRtcp, OtherRtcp]
    assert ours[1:] == [OtherRtcp(202), OtherRtcp(203)]
    theirs = RtcpPacket.parse(data)
    assert [type(p) for p in theirs] == [RtcpSrPacket, RtcpSdesPacket, RtcpByePacket]
    assert theirs[2].sources == [1]


def test_compound_must_start_with_a_report() -> None:
    with pytest.raises(ValueError, match="SR or RR"):
        compound(build_sdes_cname(1, "x"), build_rr(1))
    with pytest.raises(ValueError, match="at least one"):
        compound()


def test_we_parse_aiortc_built_reports_and_feedback() -> None:
    info = RtcpReceiverInfo(ssrc=3, fraction_lost=1, packets_lost=2, highest_sequence=70_000, jitter=4, lsr=5, dlsr=6)
    rr = bytes(RtcpRrPacket(ssrc=9, reports=[info]))
    nack = bytes(RtcpRtpfbPacket(fmt=1, ssrc=9, media_ssrc=3, lost=[10, 12]))
    pli = bytes(RtcpPsfbPacket(fmt=1, ssrc=9, media_ssrc=3))
    assert parse_rtcp(rr + nack + pli) == [
        ReceiverReport(9, (ReportBlock(3, 1, 2, 70_000, 4, 5, 6),)),
        OtherRtcp(205),
        OtherRtcp(206),
    ]


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"\x80\xc9", "too short"),
        (struct.pack("!BBHI", 0x40, 201, 1, 1), "version 1"),
        (struct.pack("!BBHI", 0x80, 201, 5, 1), "claims 24 bytes"),
        (struct.pack("!BBHI", 0x81, 201, 1, 1), "needs 32 bytes"),
        (struct.pack("!BBHI", 0x80, 200, 1, 1), "SR with 0 blocks needs 28"),
        (build_rr(1) + b"\x80\xc9", "trailing 2 bytes"),
        (struct.pack("!BBHI", 0xA0, 201, 1, 1) + build_rr(2), "padding"),
        (struct.pack("!BBHI", 0x80, 100, 1, 1), "outside 192..223"),
    ],
)
def test_malformed_compounds_raise_value_error_with_reason(data: bytes, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        parse_rtcp(data)


def test_rtt_matches_rfc3550_figure_2() -> None:
    """RFC 3550 6.4.1 example: A = 0xb710:8000, LSR = 0xb705:2000, DLSR = 0x0005:4000 -> 6.125 s."""
    block = BLOCK._replace(lsr=0xB7052000, dlsr=0x00054000)
    assert rtt_seconds(block, 0xB7108000) == pytest.approx(6.125)


def test_rtt_none_without_sr_or_when_negative_and_correct_across_wrap() -> None:
    assert rtt_seconds(BLOCK._replace(lsr=0), 0xB7108000) is None
    assert rtt_seconds(BLOCK._replace(lsr=0xB7108000, dlsr=0x10000), 0xB7108000) is None
    # SR 0.25 s before the middle bits wrap, RR 0.5 s after it (0.75 s elapsed), held 0.5 s: RTT 0.25 s
    assert rtt_seconds(BLOCK._replace(lsr=0xFFFFC000, dlsr=0x8000), 0x00008000) == pytest.approx(0.25)


def test_rtt_end_to_end_from_wallclock() -> None:
    """An SR sent at t, held 0.2 s by the far end (DLSR), answered at t + 0.23: the RTT is 30 ms (to 1/65536 s)."""
    t = 1_800_000_000.0
    lsr = ntp_middle32(ntp_from_unix(t))
    block = BLOCK._replace(lsr=lsr, dlsr=int(0.2 * 65536))
    assert rtt_seconds(block, ntp_middle32(ntp_from_unix(t + 0.23))) == pytest.approx(0.03, abs=2 / 65536)


@settings(max_examples=300, deadline=None)
@given(data=st.binary(max_size=96))
def test_arbitrary_bytes_parse_or_raise_value_error_only(data: bytes) -> None:
    try:
        packets = parse_rtcp(data)
    except ValueError:
        return
    assert isinstance(packets, list)  # anything else (IndexError, struct.error, ...) fails the property


@settings(max_examples=150, deadline=None)
@given(
    blocks=st.lists(
        st.builds(
            ReportBlock,
            ssrc=st.integers(0, 0xFFFFFFFF),
            fraction_lost=st.integers(0, 255),
            cumulative_lost=st.integers(-0x800000, 0x7FFFFF),
            highest_seq=st.integers(0, 0xFFFFFFFF),
            jitter=st.integers(0, 0xFFFFFFFF),
            lsr=st.integers(0, 0xFFFFFFFF),
            dlsr=st.integers(0, 0xFFFFFFFF),
        ),
        max_size=31,
    ),
    ntp=st.integers(0, 0xFFFFFFFFFFFFFFFF),
)
def test_any_report_round_trips_and_aiortc_agrees(blocks: list[ReportBlock], ntp: int) -> None:
    data = compound(build_sr(1, ntp, 2, 3, 4, blocks), build_rr(5, blocks))
    assert parse_rtcp(data) == [SenderReport(1, ntp, 2, 3, 4, tuple(blocks)), ReceiverReport(5, tuple(blocks))]
    sr, rr = RtcpPacket.parse(data)
    assert [r.packets_lost for r in sr.reports] == [b.cumulative_lost for b in blocks]
    assert [(r.lsr, r.dlsr, r.jitter) for r in rr.reports] == [(b.lsr, b.dlsr, b.jitter) for b in blocks]


def test_send_stats_counts_and_sr_timestamp_extrapolation() -> None:
    sent = SendStats(48000)
    assert not sent.has_sent_since_start
    with pytest.raises(ValueError, match="send an RR"):
        sent.sr_fields(0.0, 1_800_000_000.0)
    for i in range(50):  # 1 s of Opus frames, the last one's timestamp just before the 32-bit wrap
        sent.on_packet(120, (0xFFFFFFFF - 49 * 960 + i * 960) & 0xFFFFFFFF, 10.0 + i * 0.02)
    assert (sent.packets_sent, sent.octets_sent, sent.has_sent_since_start) == (50, 6000, True)
    ntp, rtp_timestamp = sent.sr_fields(10.98 + 0.5, 1_800_000_000.25)  # 0.5 s after the last packet
    assert ntp == ntp_from_unix(1_800_000_000.25)
    assert rtp_timestamp == (0xFFFFFFFF + 24000) & 0xFFFFFFFF  # advanced 0.5 s at 48 kHz, across the wrap


def test_rtt_round_trip_through_sr_and_rr_built_by_the_engine() -> None:
    """A sends an SR (SendStats), B answers with an RR (ReceiveStats), A computes the RTT: every hop parsed."""
    wall_offset = 1_800_000_000.0  # wallclock = monotonic + offset on host A
    a_sent = SendStats(8000)
    a_sent.on_packet(160, 1000, 5.0)
    ntp, rtp_timestamp = a_sent.sr_fields(5.0, 5.0 + wall_offset)
    sr = compound(
        build_sr(0xA, ntp, rtp_timestamp, a_sent.packets_sent, a_sent.octets_sent), build_sdes_cname(0xA, "a")
    )
    assert RtcpPacket.parse(sr)[0].sender_info.ntp_timestamp == ntp  # aiortc reads what A sent
    # B receives it 15 ms later (its own monotonic clock, any epoch) and answers 200 ms after that
    b_stats = ReceiveStats(8000)
    b_stats.on_packet(1, 1000, 77.0, 160)
    (b_view,) = [p for p in parse_rtcp(sr) if isinstance(p, SenderReport)]
    b_stats.on_sender_report(ntp_middle32(b_view.ntp64), arrival_s=77.015)
    rr = build_rr(0xB, [b_stats.report_block(0xA, now_s=77.215)])
    # A receives the RR 15 ms later: 5.0 + 0.015 + 0.2 + 0.015 on its clock => RTT 30 ms
    (a_view,) = parse_rtcp(rr)
    assert isinstance(a_view, ReceiverReport)
    rtt = rtt_seconds(a_view.blocks[0], ntp_middle32(ntp_from_unix(5.23 + wall_offset)))
    assert rtt == pytest.approx(0.030, abs=3 / 65536)
