"""RTCP build and parse for the media engine (RFC 3550 section 6), sans-I/O.

The engine sends its own SR/RR so that RTT is measured in both directions from LSR/DLSR, and reads
the far end's report blocks for send-direction loss. Only SR and RR are decoded field by field; every
other packet type in a compound (SDES, BYE, APP, RTPFB/PSFB feedback, XR) is kept as its type so a
caller can count it, never mistaken for a report.
"""

from __future__ import annotations

import random
import struct
from dataclasses import dataclass
from typing import NamedTuple

RTCP_SR = 200
RTCP_RR = 201
RTCP_SDES = 202
RTCP_BYE = 203
RTCP_APP = 204
SDES_CNAME = 1
MAX_REPORT_BLOCKS = 31  # the 5-bit report count

NTP_EPOCH_OFFSET = 2_208_988_800  # seconds from 1900-01-01 (NTP) to 1970-01-01 (Unix)

_HEADER = struct.Struct("!BBH")
_SSRC = struct.Struct("!I")
_SENDER_INFO = struct.Struct("!IIIII")  # NTP msw, NTP lsw, RTP timestamp, packet count, octet count
_BLOCK = struct.Struct("!IIIIII")  # ssrc, fraction<<24 | cumulative lost, highest seq, jitter, LSR, DLSR
_HEADER_SSRC = struct.Struct("!BBHI")
_SR_BODY = struct.Struct("!IIIIII")  # sender SSRC + sender info


@dataclass(frozen=True)
class RtcpCadence:
    """How often a stream sends RTCP: every `mean_s` x uniform(0.5, 1.5) (RFC 3550 6.3.1's randomisation).

    `alternate_rr`: every other report is a receiver report even while sending. Chrome's audio sends
    two RTCP flows, an SR from its send stream and an RR from its receive stream, each every 5 s x
    uniform(0.5, 1.5) (libwebrtc's audio report interval); one flow at half the interval, alternating
    SR and RR, puts the same SR and RR counts per minute on the wire.
    """

    mean_s: float = 1.0
    alternate_rr: bool = False

    def next_interval(self) -> float:
        return self.mean_s * (0.5 + random.random())


# aiortc's RTCRtpSender/Receiver: an SR or RR every 0.5-1.5 s (what the engine sent before profiles)
AIORTC_CADENCE = RtcpCadence()
# Chrome (official SDK 2.27.10 in Chromium 156, twin test capture): 4 SR + 4 RR in 19 s, 22-25 RTCP a minute
CHROME_CADENCE = RtcpCadence(mean_s=2.5, alternate_rr=True)


def ntp_from_unix(t: float) -> int:
    """64-bit NTP timestamp (32.32 fixed point seconds since 1900) for a Unix time."""
    return int((t + NTP_EPOCH_OFFSET) * 4294967296.0) & 0xFFFFFFFFFFFFFFFF


def ntp_middle32(ntp64: int) -> int:
    """The middle 32 bits of an NTP timestamp (16.16 seconds): what LSR and the RTT arithmetic use."""
    return (ntp64 >> 16) & 0xFFFFFFFF


class ReportBlock(NamedTuple):
    """One reception report (RFC 3550 6.4.1) about the source `ssrc`."""

    ssrc: int
    fraction_lost: int  # 8-bit fixed point, 0..255 = 0..~1
    cumulative_lost: int  # signed 24-bit: duplicates can make it negative
    highest_seq: int  # extended highest sequence number received (cycles << 16 | seq)
    jitter: int  # interarrival jitter in RTP timestamp units
    lsr: int  # middle 32 bits of the last SR's NTP timestamp, 0 when none was received
    dlsr: int  # delay since that SR, in 1/65536 s


class SenderReport(NamedTuple):
    ssrc: int
    ntp64: int
    rtp_timestamp: int
    packet_count: int
    octet_count: int
    blocks: tuple[ReportBlock, ...]


class ReceiverReport(NamedTuple):
    ssrc: int
    blocks: tuple[ReportBlock, ...]


class OtherRtcp(NamedTuple):
    """An RTCP packet of a type the engine does not decode (SDES, BYE, APP, feedback, XR)."""

    packet_type: int


RtcpPacket = SenderReport | ReceiverReport | OtherRtcp


def _pack_block(block: ReportBlock) -> bytes:
    if not 0 <= block.fraction_lost <= 255:
        raise ValueError(f"fraction_lost {block.fraction_lost} is outside 0..255")
    lost = max(-0x800000, min(0x7FFFFF, block.cumulative_lost)) & 0xFFFFFF  # clamp, then 24-bit two's complement
    return _BLOCK.pack(
        block.ssrc,
        block.fraction_lost << 24 | lost,
        block.highest_seq & 0xFFFFFFFF,
        max(0, block.jitter) & 0xFFFFFFFF,
        block.lsr & 0xFFFFFFFF,
        block.dlsr & 0xFFFFFFFF,
    )


def _check_block_count(blocks: tuple[ReportBlock, ...] | list[ReportBlock]) -> None:
    if len(blocks) > MAX_REPORT_BLOCKS:
        raise ValueError(f"{len(blocks)} report blocks; one SR/RR carries at most {MAX_REPORT_BLOCKS}")


def build_sr(
    ssrc: int,
    ntp64: int,
    rtp_timestamp: int,
    packet_count: int,
    octet_count: int,
    blocks: tuple[ReportBlock, ...] | list[ReportBlock] = (),
) -> bytes:
    """A sender report: what this SSRC sent, with reception reports about the sources it hears."""
    _check_block_count(blocks)
    words = 6 + 6 * len(blocks)  # length field = size in 32-bit words minus one
    return (
        _HEADER_SSRC.pack(0x80 | len(blocks), RTCP_SR, words, ssrc)
        + _SENDER_INFO.pack(
            (ntp64 >> 32) & 0xFFFFFFFF,
            ntp64 & 0xFFFFFFFF,
            rtp_timestamp & 0xFFFFFFFF,
            packet_count & 0xFFFFFFFF,
            octet_count & 0xFFFFFFFF,
        )
        + b"".join(_pack_block(b) for b in blocks)
    )


def build_rr(ssrc: int, blocks: tuple[ReportBlock, ...] | list[ReportBlock] = ()) -> bytes:
    """A receiver report: sent instead of an SR while this SSRC has sent nothing since the last report."""
    _check_block_count(blocks)
    return _HEADER_SSRC.pack(0x80 | len(blocks), RTCP_RR, 1 + 6 * len(blocks), ssrc) + b"".join(
        _pack_block(b) for b in blocks
    )


def build_sdes_cname(ssrc: int, cname: str) -> bytes:
    """SDES with one chunk carrying the CNAME item, which every compound packet must include (6.1)."""
    text = cname.encode("utf-8")
    if not 0 < len(text) <= 255:
        raise ValueError(f"CNAME must be 1..255 bytes of UTF-8, got {len(text)}")
    chunk = _SSRC.pack(ssrc) + bytes((SDES_CNAME, len(text))) + text
    chunk += b"\x00" * (4 - len(chunk) % 4)  # item list ends with a null octet, then pads to 32 bits
    return _HEADER.pack(0x81, RTCP_SDES, len(chunk) // 4) + chunk


def build_bye(ssrc: int) -> bytes:
    """BYE for one SSRC: the far end stops expecting it instead of counting the silence as loss."""
    return _HEADER_SSRC.pack(0x81, RTCP_BYE, 1, ssrc)


def compound(*parts: bytes) -> bytes:
    """Concatenate RTCP packets into one compound packet; RFC 3550 wants an SR or RR first."""
    if not parts:
        raise ValueError("an RTCP compound packet needs at least one packet")
    if len(parts[0]) < 2 or parts[0][1] not in (RTCP_SR, RTCP_RR):
        raise ValueError("an RTCP compound packet must start with an SR or RR (RFC 3550 6.1)")
    return b"".join(parts)


def _parse_blocks(data: bytes, offset: int, count: int) -> tuple[ReportBlock, ...]:
    blocks = []
    for _ in range(count):
        ssrc, lost_word, highest, jitter, lsr, dlsr = _BLOCK.unpack_from(data, offset)
        lost = lost_word & 0xFFFFFF
        if lost & 0x800000:
            lost -= 0x1000000
        blocks.append(ReportBlock(ssrc, lost_word >> 24, lost, highest, jitter, lsr, dlsr))
        offset += _BLOCK.size
    return tuple(blocks)


def parse_rtcp(data: bytes) -> list[RtcpPacket]:
    """Every packet of a compound RTCP datagram; ValueError with the reason when any part is malformed."""
    packets: list[RtcpPacket] = []
    offset = 0
    size = len(data)
    if size < 4:
        raise ValueError(f"RTCP packet too short: {size} bytes")
    while offset < size:
        if size - offset < 4:
            raise ValueError(f"RTCP trailing {size - offset} bytes at offset {offset} are not a packet header")
        first, packet_type, words = _HEADER.unpack_from(data, offset)
        if first >> 6 != 2:
            raise ValueError(f"RTCP version {first >> 6} at offset {offset}, expected 2")
        length = 4 * (words + 1)
        end = offset + length
        if end > size:
            raise ValueError(f"RTCP type {packet_type} at offset {offset} claims {length} bytes, {size - offset} left")
        if first & 0x20 and end != size:
            raise ValueError("RTCP padding is only allowed on the last packet of a compound")
        count = first & 0x1F
        if packet_type == RTCP_SR:
            needed = 28 + 24 * count
            if length < needed:
                raise ValueError(f"RTCP SR with {count} blocks needs {needed} bytes, has {length}")
            ssrc, msw, lsw, rtp_ts, packets_sent, octets = _SR_BODY.unpack_from(data, offset + 4)
            blocks = _parse_blocks(data, offset + 28, count)
            packets.append(SenderReport(ssrc, msw << 32 | lsw, rtp_ts, packets_sent, octets, blocks))
        elif packet_type == RTCP_RR:
            needed = 8 + 24 * count
            if length < needed:
                raise ValueError(f"RTCP RR with {count} blocks needs {needed} bytes, has {length}")
            (ssrc,) = _SSRC.unpack_from(data, offset + 4)
            packets.append(ReceiverReport(ssrc, _parse_blocks(data, offset + 8, count)))
        elif 192 <= packet_type <= 223:
            packets.append(OtherRtcp(packet_type))
        else:
            raise ValueError(f"RTCP packet type {packet_type} at offset {offset} is outside 192..223")
        offset = end
    return packets


def rtt_seconds(block: ReportBlock, arrival_ntp_middle32: int) -> float | None:
    """Round-trip time A - LSR - DLSR (RFC 3550 6.4.1) in seconds; None when no SR was echoed or it is negative."""
    if block.lsr == 0:
        return None
    rtt = (arrival_ntp_middle32 - block.lsr - block.dlsr) & 0xFFFFFFFF
    if rtt & 0x80000000:  # negative: clocks or a stale/forged block, not a round trip
        return None
    return rtt / 65536.0
