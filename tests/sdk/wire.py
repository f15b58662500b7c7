"""What a call looks like on the wire, from a tcpdump capture on `lo`: RTP, RTCP and STUN per direction.

Why here and not dpkt/tshark: a pcap file is a 24-byte header and 16-byte record headers, and all we
need of each record is the IPv4/UDP ports, the UDP payload length and its first two bytes (RFC 7983
demultiplexing), so a few lines of struct do it without another dependency. The SDP helpers next to it
reduce an offer to what the twin test compares: codecs, fmtp, header extensions, rtcp-fb, ice-options.
"""

from __future__ import annotations

import struct
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

_LINKTYPE_ETHERNET = 1
_LINKTYPE_LINUX_SLL = 113
_LINKTYPE_RAW = 101
STUN_BINDING_REQUEST = 0x0001


@dataclass
class Flow:
    """One direction of a call's media: counts and sizes (UDP payload bytes: SRTP with its tag)."""

    rtp: list[tuple[float, int]] = field(default_factory=list)  # (time, udp payload length)
    rtcp: list[float] = field(default_factory=list)
    stun_requests: list[float] = field(default_factory=list)


def read_udp(path: str | Path) -> list[tuple[float, int, int, bytes, int]]:
    """(time, source port, destination port, first 2 payload bytes, UDP payload length) of each IPv4 UDP packet."""
    data = Path(path).read_bytes()
    if len(data) < 24:
        return []
    magic = data[:4]
    endian = "<" if magic in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1") else ">"
    nano = magic in (b"\x4d\x3c\xb2\xa1", b"\xa1\xb2\x3c\x4d")
    linktype = struct.unpack(endian + "I", data[20:24])[0]
    link_len = {_LINKTYPE_ETHERNET: 14, _LINKTYPE_LINUX_SLL: 16, _LINKTYPE_RAW: 0}.get(linktype)
    if link_len is None:
        raise ValueError(f"{path}: link type {linktype} not supported")
    record = struct.Struct(endian + "IIII")
    out: list[tuple[float, int, int, bytes, int]] = []
    offset = 24
    while offset + 16 <= len(data):
        sec, frac, caplen, _orig = record.unpack_from(data, offset)
        offset += 16
        packet = data[offset : offset + caplen]
        offset += caplen
        ip = packet[link_len:]
        if len(ip) < 28 or ip[0] >> 4 != 4 or ip[9] != 17:
            continue
        ihl = (ip[0] & 0x0F) * 4
        sport, dport, ulen = struct.unpack("!HHH", ip[ihl : ihl + 6])
        payload = ip[ihl + 8 : ihl + 10]
        out.append((sec + frac / (1e9 if nano else 1e6), sport, dport, payload, ulen - 8))
    return out


def flows(path: str | Path, client_ports: set[int]) -> dict[str, Flow]:
    """ "up" (client -> platform) and "down" flows of the UDP packets to or from `client_ports`."""
    result = {"up": Flow(), "down": Flow()}
    for t, sport, dport, head, length in read_udp(path):
        if sport in client_ports:
            flow = result["up"]
        elif dport in client_ports:
            flow = result["down"]
        else:
            continue
        if len(head) < 2:
            continue
        first, second = head[0], head[1]
        if 128 <= first <= 191:
            if 192 <= second <= 223:
                flow.rtcp.append(t)
            else:
                flow.rtp.append((t, length))
        elif first <= 3 and (first << 8 | second) == STUN_BINDING_REQUEST:
            flow.stun_requests.append(t)
    return result


@dataclass(frozen=True)
class Rates:
    seconds: float
    rtp_packets: int
    rtp_per_s: float
    rtp_mean_bytes: float
    rtp_min_bytes: int
    rtp_max_bytes: int
    rtcp_per_min: float
    stun_requests_per_s: float

    def as_dict(self) -> dict[str, Any]:
        return {k: round(v, 3) if isinstance(v, float) else v for k, v in asdict(self).items()}


def rates(flow: Flow, window: tuple[float, float]) -> Rates:
    """Rates inside `window` (start, end), the span both directions carried media."""
    start, end = window
    seconds = max(end - start, 1e-9)
    sizes = [n for t, n in flow.rtp if start <= t <= end]
    rtcp = [t for t in flow.rtcp if start <= t <= end]
    stun = [t for t in flow.stun_requests if start <= t <= end]
    return Rates(
        seconds=seconds,
        rtp_packets=len(sizes),
        rtp_per_s=len(sizes) / seconds,
        rtp_mean_bytes=sum(sizes) / len(sizes) if sizes else 0.0,
        rtp_min_bytes=min(sizes, default=0),
        rtp_max_bytes=max(sizes, default=0),
        rtcp_per_min=60.0 * len(rtcp) / seconds,
        stun_requests_per_s=len(stun) / seconds,
    )


def media_window(both: dict[str, Flow], settle_s: float = 1.0) -> tuple[float, float]:
    """From `settle_s` after RTP flows both ways to the last RTP packet both ways: the steady call."""
    up, down = both["up"].rtp, both["down"].rtp
    if not up or not down:
        return (0.0, 0.0)
    return (max(up[0][0], down[0][0]) + settle_s, min(up[-1][0], down[-1][0]))


def sdp_features(sdp: str) -> dict[str, Any]:
    """What an audio offer asks for, by codec name rather than payload type (those may differ)."""
    names: dict[str, str] = {}
    order: list[str] = []
    fmtp: dict[str, str] = {}
    feedback: dict[str, list[str]] = {}
    extensions: list[str] = []
    ice_options: list[str] = []
    for line in sdp.replace("\r\n", "\n").split("\n"):
        if line.startswith("m=audio "):
            order = line.split()[3:]
        elif line.startswith("a=rtpmap:"):
            pt, _, encoding = line[len("a=rtpmap:") :].partition(" ")
            names[pt] = encoding.lower()
        elif line.startswith("a=fmtp:"):
            pt, _, params = line[len("a=fmtp:") :].partition(" ")
            fmtp[pt] = params
        elif line.startswith("a=rtcp-fb:"):
            pt, _, kind = line[len("a=rtcp-fb:") :].partition(" ")
            feedback.setdefault(pt, []).append(kind)
        elif line.startswith("a=extmap:"):
            extensions.append(line.split()[1])
        elif line.startswith("a=ice-options:"):
            ice_options += line[len("a=ice-options:") :].split()
    static = {"0": "pcmu/8000", "8": "pcma/8000", "9": "g722/8000", "13": "cn/8000"}
    codec = {pt: names.get(pt) or static.get(pt, pt) for pt in order}
    return {
        "codecs": [codec[pt] for pt in order],
        "fmtp": {codec[pt]: fmtp[pt] for pt in order if pt in fmtp and codec[pt] != "red/48000/2"},
        "rtcp_fb": {codec[pt]: sorted(feedback[pt]) for pt in order if pt in feedback},
        "extensions": extensions,
        "ice_options": ice_options,
        "candidates": sum(1 for line in sdp.split("\n") if line.startswith("a=candidate:")),
    }


def candidate_ports(sdp: str, trickled: list[str]) -> set[int]:
    """UDP ports of a client's candidates, from its SDP and any trickled candidate lines."""
    lines = [line[2:] for line in sdp.replace("\r\n", "\n").split("\n") if line.startswith("a=candidate:")]
    ports = set()
    for line in [*lines, *trickled]:
        parts = line.split()
        if len(parts) > 5 and parts[2].lower() == "udp":
            ports.add(int(parts[5]))
    return ports
