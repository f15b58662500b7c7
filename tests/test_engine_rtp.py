"""RTP header build/parse of the media engine, checked against aiortc's own parser as an independent witness."""

from __future__ import annotations

import struct

import pytest
from aiortc.rtp import RtpPacket as AiortcRtpPacket
from hypothesis import given, settings
from hypothesis import strategies as st

from rtcload.media.engine.rtcp import build_rr, build_sr
from rtcload.media.engine.rtp import RtpPacket, is_rtcp, is_rtp_or_rtcp, pack_rtp, parse_rtp


def test_round_trip_keeps_every_field() -> None:
    data = pack_rtp(111, 4321, 123_456_789, 0xDEADBEEF, b"\x01\x02\x03", marker=True)
    assert len(data) == 12 + 3
    assert parse_rtp(data) == RtpPacket(111, True, 4321, 123_456_789, 0xDEADBEEF, b"\x01\x02\x03")


def test_sequence_and_timestamp_wrap_at_16_and_32_bits() -> None:
    packet = parse_rtp(pack_rtp(0, 65536 + 5, (1 << 32) + 7, 1, b""))
    assert (packet.sequence, packet.timestamp) == (5, 7)
    last = parse_rtp(pack_rtp(0, 65535, 0xFFFFFFFF, 1, b"x"))
    assert (last.sequence, last.timestamp) == (65535, 0xFFFFFFFF)


def test_aiortc_parses_what_we_build() -> None:
    data = pack_rtp(8, 65535, 0xFFFFFF00, 0x01020304, bytes(range(160)), marker=True)
    theirs = AiortcRtpPacket.parse(data)
    assert (theirs.version, theirs.payload_type, theirs.marker) == (2, 8, 1)
    assert (theirs.sequence_number, theirs.timestamp, theirs.ssrc) == (65535, 0xFFFFFF00, 0x01020304)
    assert theirs.payload == bytes(range(160))
    assert theirs.csrc == [] and theirs.padding_size == 0


def test_we_parse_what_aiortc_builds() -> None:
    theirs = AiortcRtpPacket(
        payload_type=0, marker=0, sequence_number=17, timestamp=3200, ssrc=99, payload=b"\xff" * 160
    )
    assert parse_rtp(theirs.serialize()) == RtpPacket(0, False, 17, 3200, 99, b"\xff" * 160)


def _chrome_style_packet(payload: bytes, padding: int) -> bytes:
    """What Chrome sends for Opus: CSRC-free header, RFC 8285 one-byte extensions (0xBEDE), optional padding."""
    elements = (
        bytes([0x10, 0x85])  # id 1 (ssrc-audio-level), len 1: voice activity + level 5
        + bytes([0x22, 0x12, 0x34, 0x56])  # id 2 (abs-send-time), len 3
        + bytes([0x31, 0x00, 0x2A])  # id 3 (transport-wide cc), len 2
    )
    elements += b"\x00" * (-len(elements) % 4)  # zero padding bytes up to a 32-bit boundary
    first = 0x80 | 0x10 | (0x20 if padding else 0)
    header = struct.pack("!BBHII", first, 111, 1000, 960_000, 0xC0FFEE)
    extension = struct.pack("!HH", 0xBEDE, len(elements) // 4) + elements
    pad = (b"\x00" * (padding - 1) + bytes([padding])) if padding else b""
    return header + extension + payload + pad


@pytest.mark.parametrize("padding", [0, 1, 4, 7])
def test_chrome_style_extensions_and_padding_are_skipped(padding: int) -> None:
    payload = b"\xfc" + bytes(range(70))
    data = _chrome_style_packet(payload, padding)
    packet = parse_rtp(data)
    assert packet == RtpPacket(111, False, 1000, 960_000, 0xC0FFEE, payload)
    witness = AiortcRtpPacket.parse(data)  # aiortc strips the same extension and padding
    assert witness.payload == payload
    assert witness.padding_size == padding


def test_csrcs_are_skipped() -> None:
    header = struct.pack("!BBHII", 0x82, 0, 5, 800, 7) + struct.pack("!II", 11, 12)
    packet = parse_rtp(header + b"payload")
    assert packet.payload == b"payload" and packet.ssrc == 7
    assert AiortcRtpPacket.parse(header + b"payload").csrc == [11, 12]


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "too short"),
        (b"\x80\x00" + b"\x00" * 9, "too short"),
        (struct.pack("!BBHII", 0x40, 0, 1, 1, 1), "version 1"),
        (struct.pack("!BBHII", 0x83, 0, 1, 1, 1) + b"\x00" * 8, "CSRC list truncated"),
        (struct.pack("!BBHII", 0x90, 0, 1, 1, 1) + b"\xbe", "extension truncated"),
        (struct.pack("!BBHII", 0x90, 0, 1, 1, 1) + struct.pack("!HH", 0xBEDE, 4) + b"\x00" * 8, "exceed"),
        (struct.pack("!BBHII", 0xA0, 0, 1, 1, 1) + b"ab\x00", "padding count is 0"),
        (struct.pack("!BBHII", 0xA0, 0, 1, 1, 1) + b"ab\x09", "exceed"),
        (build_sr(1234, 0, 0, 0, 0), "is RTCP"),
    ],
)
def test_malformed_packets_raise_value_error_with_reason(data: bytes, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        parse_rtp(data)


def test_payload_type_out_of_range_is_refused() -> None:
    with pytest.raises(ValueError, match="payload type 128"):
        pack_rtp(128, 0, 0, 0, b"")


def test_rfc5761_and_rfc7983_demultiplexing() -> None:
    rtp = pack_rtp(111, 1, 1, 1, b"x", marker=True)  # marker + PT 111 = second byte 239, outside 192..223
    assert not is_rtcp(rtp)
    assert is_rtcp(build_rr(1)) and is_rtcp(build_sr(1, 0, 0, 0, 0))
    assert not is_rtcp(b"\x80") and not is_rtcp(b"")
    assert is_rtp_or_rtcp(rtp[0]) and is_rtp_or_rtcp(build_rr(1)[0])
    for stun_dtls_turn in (0x00, 0x01, 20, 22, 63, 64, 79, 192):
        assert not is_rtp_or_rtcp(stun_dtls_turn)


@settings(max_examples=200, deadline=None)
@given(
    payload_type=st.integers(0, 127).filter(lambda pt: not 64 <= pt <= 95),  # RFC 5761: 64..95 collide with RTCP
    sequence=st.integers(0, 0xFFFF),
    timestamp=st.integers(0, 0xFFFFFFFF),
    ssrc=st.integers(0, 0xFFFFFFFF),
    payload=st.binary(max_size=300),
    marker=st.booleans(),
)
def test_any_header_round_trips_and_aiortc_agrees(
    payload_type: int, sequence: int, timestamp: int, ssrc: int, payload: bytes, marker: bool
) -> None:
    data = pack_rtp(payload_type, sequence, timestamp, ssrc, payload, marker)
    assert parse_rtp(data) == RtpPacket(payload_type, marker, sequence, timestamp, ssrc, payload)
    theirs = AiortcRtpPacket.parse(data)
    assert (theirs.payload_type, bool(theirs.marker), theirs.sequence_number) == (payload_type, marker, sequence)
    assert (theirs.timestamp, theirs.ssrc, theirs.payload) == (timestamp, ssrc, payload)


@settings(max_examples=300, deadline=None)
@given(data=st.binary(max_size=64))
def test_arbitrary_bytes_parse_or_raise_value_error_only(data: bytes) -> None:
    try:
        packet = parse_rtp(data)
    except ValueError:
        return
    assert len(packet.payload) <= len(data) - 12
