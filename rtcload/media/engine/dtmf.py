"""RFC 4733 telephone-events (DTMF in RTP), sans-I/O: the packet schedule to send and a detector to receive.

The engine sends digits on the call's own SSRC and sequence, in place of audio on those ticks, the way a
browser does: each event's packets share the event's start timestamp, carry a growing duration, the first
has the marker bit and the last (E bit) is sent three times (RFC 4733 2.5.1.4) for robustness to loss.
"""

from __future__ import annotations

import math
import struct
from typing import NamedTuple

DIGIT_EVENTS = {**{str(d): d for d in range(10)}, "*": 10, "#": 11, "A": 12, "B": 13, "C": 14, "D": 15}
EVENT_DIGITS = {v: k for k, v in DIGIT_EVENTS.items()}
END_PACKET_COPIES = 3
MAX_VOLUME = 63  # -dBm0, 6 bits

_EVENT = struct.Struct("!BBH")


class DtmfPacket(NamedTuple):
    """One telephone-event packet to send `offset_ticks` ptime ticks from the start of the sequence."""

    offset_ticks: int
    payload: bytes  # the 4-byte event payload
    marker: bool  # first packet of an event
    timestamp_offset: int  # the event's start, in RTP units from the start of the sequence
    end: bool  # E bit


class DtmfEvent(NamedTuple):
    event: int
    end: bool
    volume: int
    duration: int  # RTP units


def pack_event(event: int, end: bool, volume: int, duration: int) -> bytes:
    if not 0 <= event <= 255:
        raise ValueError(f"telephone-event {event} outside 0..255")
    if not 0 <= volume <= MAX_VOLUME:
        raise ValueError(f"DTMF volume {volume} outside 0..{MAX_VOLUME} (-dBm0)")
    if not 0 <= duration <= 0xFFFF:
        raise ValueError(f"DTMF duration {duration} outside 0..65535 RTP units")
    return _EVENT.pack(event, (0x80 if end else 0) | volume, duration)


def parse_event(payload: bytes) -> DtmfEvent:
    """The first event of a telephone-event payload; ValueError when shorter than 4 bytes."""
    if len(payload) < 4:
        raise ValueError(f"telephone-event payload is {len(payload)} bytes, needs 4")
    event, flags, duration = _EVENT.unpack_from(payload)
    return DtmfEvent(event, bool(flags & 0x80), flags & 0x3F, duration)


def dtmf_events(
    digits: str,
    clock_rate: int,
    duration_ms: int = 100,
    gap_ms: int = 50,
    volume: int = 10,
    ptime_ms: int = 20,
) -> list[DtmfPacket]:
    """The packet schedule for `digits` (0-9, *, #, A-D): one packet per tick while a digit lasts, then a gap."""
    if not digits:
        raise ValueError("no DTMF digits to send")
    unknown = sorted({d for d in digits.upper() if d not in DIGIT_EVENTS})
    if unknown:
        raise ValueError(f"DTMF digits must be 0-9, *, #, A-D; got {''.join(unknown)!r}")
    if clock_rate <= 0 or ptime_ms <= 0 or duration_ms <= 0 or gap_ms < 0:
        raise ValueError("clock rate, ptime and duration must be positive and the gap not negative")
    units_per_tick = clock_rate * ptime_ms // 1000
    event_ticks = math.ceil(duration_ms / ptime_ms)
    gap_ticks = math.ceil(gap_ms / ptime_ms)
    if event_ticks * units_per_tick > 0xFFFF:
        raise ValueError(f"a {duration_ms} ms event does not fit the 16-bit duration at {clock_rate} Hz")
    packets: list[DtmfPacket] = []
    start_tick = 0
    for digit in digits.upper():
        event = DIGIT_EVENTS[digit]
        timestamp = start_tick * units_per_tick
        for i in range(event_ticks):
            last = i == event_ticks - 1
            payload = pack_event(event, last, volume, (i + 1) * units_per_tick)
            copies = END_PACKET_COPIES if last else 1
            packets.extend(DtmfPacket(start_tick + i, payload, i == 0, timestamp, last) for _ in range(copies))
        start_tick += event_ticks + gap_ticks
    return packets


class DtmfDetector:
    """Digits from received telephone-event packets, each reported once however many copies arrive.

    An event is identified by its RTP timestamp (all its packets share it); a digit is reported on its
    first packet, so a lost end packet does not lose the digit.
    """

    __slots__ = ("_seen_timestamps", "digits")

    def __init__(self) -> None:
        self.digits: list[str] = []
        self._seen_timestamps: list[int] = []  # recent event timestamps, newest last

    def on_packet(self, rtp_timestamp: int, payload: bytes) -> str | None:
        """The new digit this packet starts, or None (a continuation, a repeat, or a non-DTMF event)."""
        event = parse_event(payload)
        if rtp_timestamp in self._seen_timestamps:
            return None
        self._seen_timestamps.append(rtp_timestamp)
        if len(self._seen_timestamps) > 16:
            del self._seen_timestamps[0]
        digit = EVENT_DIGITS.get(event.event)
        if digit is not None:
            self.digits.append(digit)
        return digit
