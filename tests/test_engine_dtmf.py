"""RFC 4733 telephone-event schedule and detector of the media engine."""

from __future__ import annotations

import pytest

from rtcload.media.engine.dtmf import DtmfDetector, DtmfEvent, dtmf_events, pack_event, parse_event
from rtcload.media.engine.rtp import pack_rtp, parse_rtp


def test_one_digit_at_8khz_matches_rfc4733_layout() -> None:
    packets = dtmf_events("1", 8000)  # 100 ms at 20 ms ptime: 5 packets, the last sent 3 times
    assert [p.offset_ticks for p in packets] == [0, 1, 2, 3, 4, 4, 4]
    assert [p.marker for p in packets] == [True] + [False] * 6
    assert [p.end for p in packets] == [False] * 4 + [True] * 3
    assert {p.timestamp_offset for p in packets} == {0}  # every packet of an event carries its start timestamp
    assert [parse_event(p.payload).duration for p in packets] == [160, 320, 480, 640, 800, 800, 800]
    # event 1, E=0, R=0, volume 10, duration 160: hand-encoded per RFC 4733 section 2.3
    assert packets[0].payload == b"\x01\x0a\x00\xa0"
    assert packets[-1].payload == b"\x01\x8a\x03\x20"


def test_digits_follow_each_other_after_the_gap() -> None:
    packets = dtmf_events("#9", 48000, duration_ms=100, gap_ms=50)
    second = [p for p in packets if parse_event(p.payload).event == 9]
    first = [p for p in packets if parse_event(p.payload).event == 11]
    assert len(first) == len(second) == 7
    assert second[0].offset_ticks == 5 + 3  # 5 event ticks, then ceil(50/20) = 3 ticks of gap
    assert second[0].timestamp_offset == 8 * 960 and second[0].marker
    assert parse_event(first[-1].payload) == DtmfEvent(11, True, 10, 4800)


def test_letters_are_case_insensitive() -> None:
    assert parse_event(dtmf_events("a", 8000)[0].payload).event == 12
    assert parse_event(dtmf_events("D", 8000)[0].payload).event == 15


@pytest.mark.parametrize(
    ("kwargs", "reason"),
    [
        ({"digits": ""}, "no DTMF digits"),
        ({"digits": "12x"}, "got 'X'"),
        ({"digits": "1", "clock_rate": 48000, "duration_ms": 2000}, "16-bit duration"),
        ({"digits": "1", "volume": 64}, "volume 64"),
        ({"digits": "1", "ptime_ms": 0}, "positive"),
    ],
)
def test_bad_requests_raise_value_error(kwargs: dict, reason: str) -> None:
    args = {"clock_rate": 8000, **kwargs}
    with pytest.raises(ValueError, match=reason):
        dtmf_events(**args)


def test_event_payload_round_trip_and_short_payload() -> None:
    assert parse_event(pack_event(15, True, 63, 65535)) == DtmfEvent(15, True, 63, 65535)
    with pytest.raises(ValueError, match="needs 4"):
        parse_event(b"\x01\x02\x03")
    with pytest.raises(ValueError, match="duration"):
        pack_event(1, False, 10, 70000)


def _send(digits: str, start_timestamp: int, drop_first: bool = False) -> list[bytes]:
    """The schedule as RTP on the wire (PT 101), start timestamp applied the way the engine will."""
    packets = dtmf_events(digits, 8000)
    if drop_first:
        packets = [p for p in packets if not p.marker]
    return [
        pack_rtp(101, i, start_timestamp + p.timestamp_offset, 42, p.payload, p.marker) for i, p in enumerate(packets)
    ]


def test_detector_reports_each_digit_once_even_repeated_digits() -> None:
    detector = DtmfDetector()
    found = []
    for data in _send("1123#", start_timestamp=0xFFFFF000):  # across the 32-bit timestamp wrap
        packet = parse_rtp(data)
        digit = detector.on_packet(packet.timestamp, packet.payload)
        if digit:
            found.append(digit)
    assert found == list("1123#") == detector.digits


def test_detector_survives_the_loss_of_the_first_packet() -> None:
    detector = DtmfDetector()
    for data in _send("7", start_timestamp=1000, drop_first=True):
        packet = parse_rtp(data)
        detector.on_packet(packet.timestamp, packet.payload)
    assert detector.digits == ["7"]
