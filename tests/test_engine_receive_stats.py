"""RFC 3550 receive statistics of the media engine: loss, jitter, wrap-around, reordering, LSR/DLSR."""

from __future__ import annotations

import random

import pytest
from aiortc import rtcrtpreceiver
from aiortc.rtp import RtpPacket as AiortcRtpPacket
from hypothesis import given, settings
from hypothesis import strategies as st

from rtcload.media.engine.receive_stats import ReceiveStats
from rtcload.media.engine.rtcp import ntp_from_unix, ntp_middle32, rtt_seconds

PTIME = 0.02


def _feed(stats: ReceiveStats, sequences: list[int], start_ts: int = 0, units: int = 160, size: int = 160) -> None:
    """Packets on a perfect 20 ms clock (timestamp and arrival advance together): jitter stays 0."""
    first = sequences[0]
    for seq in sequences:
        step = (seq - first) & 0xFFFF
        stats.on_packet(seq & 0xFFFF, (start_ts + step * units) & 0xFFFFFFFF, 100.0 + step * PTIME, size)


def test_clean_stream_counts_everything_and_has_no_jitter() -> None:
    stats = ReceiveStats(8000)
    assert (stats.expected, stats.packets_received, stats.first_arrival_s) == (0, 0, None)
    _feed(stats, list(range(1000, 1100)))
    assert (stats.expected, stats.packets_received, stats.cumulative_lost) == (100, 100, 0)
    assert stats.bytes_received == 100 * 160
    assert stats.jitter_rtp_units == pytest.approx(0.0, abs=1e-6)
    assert stats.first_arrival_s == 100.0 and stats.last_arrival_s == pytest.approx(100.0 + 99 * PTIME)


def test_sequence_wrap_extends_the_sequence_number() -> None:
    stats = ReceiveStats(8000)
    _feed(stats, [s & 0xFFFF for s in range(65500, 65600)])
    assert stats.highest_extended_seq == 65599
    assert (stats.expected, stats.cumulative_lost) == (100, 0)
    assert stats.report_block(1, 200.0).highest_seq == 65599  # cycles = 1 in the high 16 bits


def test_timestamp_wrap_does_not_create_jitter() -> None:
    stats = ReceiveStats(48000)
    _feed(stats, list(range(200)), start_ts=0xFFFFFFFF - 960 * 50, units=960)
    assert stats.jitter_s == pytest.approx(0.0, abs=1e-6)


def test_loss_cumulative_and_fraction_per_interval() -> None:
    stats = ReceiveStats(8000)
    lost = {10, 11, 12, 50, 99}
    _feed(stats, [s for s in range(100) if s not in lost] + [100])  # 101 expected, 5 lost
    block = stats.report_block(0xABC, now_s=200.0)
    assert (stats.expected, stats.packets_received, stats.cumulative_lost) == (101, 96, 5)
    assert block.fraction_lost == (5 << 8) // 101 and block.cumulative_lost == 5
    # the next interval is clean: fraction 0, cumulative unchanged
    for seq in range(101, 151):
        stats.on_packet(seq, seq * 160, 100.0 + seq * PTIME, 160)
    block = stats.report_block(0xABC, now_s=201.0)
    assert (block.fraction_lost, block.cumulative_lost, block.highest_seq, block.ssrc) == (0, 5, 150, 0xABC)


def test_reordering_is_not_loss_and_duplicates_are_not_received() -> None:
    stats = ReceiveStats(8000)
    order = [0, 1, 3, 2, 4, 4, 6, 5, 5, 7, 2]  # two swaps, two duplicates of recent packets, one old duplicate
    _feed(stats, order)
    assert (stats.expected, stats.packets_received, stats.cumulative_lost, stats.duplicates) == (8, 8, 0, 3)


def test_reordering_across_the_wrap() -> None:
    stats = ReceiveStats(8000)
    _feed(stats, [65533, 65534, 0, 65535, 1, 2])
    assert (stats.highest_extended_seq, stats.expected, stats.cumulative_lost) == (65538, 6, 0)


def test_packet_older_than_the_first_extends_the_expected_range() -> None:
    stats = ReceiveStats(8000)
    _feed(stats, [501, 502, 500, 503])
    assert (stats.expected, stats.packets_received, stats.cumulative_lost) == (4, 4, 0)


def test_sender_restart_rebases_but_keeps_totals() -> None:
    stats = ReceiveStats(8000)
    _feed(stats, list(range(10)))
    for seq in (40_000, 40_001, 40_002):  # a jump > MAX_DROPOUT confirmed by the next packet
        stats.on_packet(seq, seq * 160, 200.0 + seq * PTIME, 100)
    assert (stats.expected, stats.packets_received, stats.cumulative_lost) == (13, 13, 0)
    assert stats.bytes_received == 10 * 160 + 3 * 100


def test_one_stray_packet_far_ahead_is_not_counted() -> None:
    stats = ReceiveStats(8000)
    _feed(stats, [0, 1, 2])
    stats.on_packet(30_000, 0, 100.1, 160)  # a stray: the stream continues at 3
    _feed(stats, [3, 4])
    assert (stats.expected, stats.packets_received, stats.cumulative_lost) == (5, 5, 0)


def test_jitter_matches_a_hand_computed_rfc3550_sequence() -> None:
    """Transit (arrival*8000 - ts): 0, 8, 0, 16, 16 -> D = 8, 8, 16, 0.

    J1 = 8/16 = 0.5; J2 = 0.5 + 7.5/16 = 0.96875; J3 = 0.96875 + 15.03125/16 = 1.908203125;
    J4 = 1.908203125 - 1.908203125/16 = 1.788940429...
    """
    stats = ReceiveStats(8000)
    arrivals = [0.000, 0.021, 0.040, 0.062, 0.082]
    expected = [0.0, 0.5, 0.96875, 1.908203125, 1.908203125 * 15 / 16]
    for i, (arrival, jitter) in enumerate(zip(arrivals, expected, strict=True)):
        stats.on_packet(i, i * 160, arrival, 160)
        assert stats.jitter_rtp_units == pytest.approx(jitter, abs=1e-9)
    assert stats.jitter_s == pytest.approx(expected[-1] / 8000)
    assert stats.report_block(1, 1.0).jitter == 1  # the RR carries the integer part


def test_telephone_events_are_counted_but_leave_jitter_alone() -> None:
    """A DTMF digit (RFC 4733) between audio packets: its packets repeat the event's start timestamp."""
    stats = ReceiveStats(8000)
    for seq in range(10):
        stats.on_packet(seq, seq * 160, seq * PTIME, 160)
    for seq in range(10, 17):  # 7 telephone-event packets, 20 ms apart, all with the event's timestamp
        stats.on_packet(seq, 10 * 160, seq * PTIME, 4, jitter=False)
    for seq in range(17, 30):  # audio resumes on the wall clock
        stats.on_packet(seq, seq * 160, seq * PTIME, 160)
    assert (stats.packets_received, stats.cumulative_lost) == (30, 0)
    assert stats.bytes_received == 23 * 160 + 7 * 4
    assert stats.jitter_rtp_units == pytest.approx(0.0, abs=1e-6)
    counted = ReceiveStats(8000)  # the same packets all fed to the estimator: the events look like jitter
    for seq in range(30):
        counted.on_packet(seq, 10 * 160 if 10 <= seq < 17 else seq * 160, seq * PTIME, 160)
    assert counted.jitter_rtp_units > 40  # ~6 ms of invented jitter at 8 kHz


def test_agrees_with_aiortc_receiver_statistics(monkeypatch: pytest.MonkeyPatch) -> None:
    """aiortc's StreamStatistics (its RR source) as a witness on an in-order stream with loss and jittery arrival."""
    rng = random.Random(7)
    theirs = rtcrtpreceiver.StreamStatistics(8000)
    ours = ReceiveStats(8000)
    now = [0.0]
    monkeypatch.setattr(rtcrtpreceiver.time, "time", lambda: now[0])
    for seq in range(3000):
        if rng.random() < 0.03:
            continue
        # arrival on whole RTP units so aiortc's integer arrival and our float arrival agree exactly
        now[0] = (seq * 160 + rng.randint(0, 40)) / 8000
        ts = (0xFFFF0000 + seq * 160) & 0xFFFFFFFF
        theirs.add(AiortcRtpPacket(sequence_number=(60000 + seq) & 0xFFFF, timestamp=ts))
        ours.on_packet((60000 + seq) & 0xFFFF, ts, now[0], 160)
    assert ours.expected == theirs.packets_expected
    assert ours.cumulative_lost == theirs.packets_lost
    assert ours.report_block(1, now[0]).fraction_lost == theirs.fraction_lost
    assert ours.jitter_rtp_units == pytest.approx(theirs.jitter, abs=1.0)  # aiortc keeps the integer (Q4) form


def test_lsr_dlsr_and_the_rtt_they_give_the_sender() -> None:
    """The far end sent an SR at wallclock t; we hold it 0.25 s; the sender gets our RR 0.3 s after t: RTT 50 ms."""
    t = 1_800_000_000.5
    sr_middle = ntp_middle32(ntp_from_unix(t))
    stats = ReceiveStats(48000)
    block = stats.report_block(9, now_s=10.0)
    assert (block.lsr, block.dlsr) == (0, 0)  # no SR yet
    stats.on_sender_report(sr_middle, arrival_s=10.0)  # our clock: monotonic, any epoch
    block = stats.report_block(9, now_s=10.25)
    assert block.lsr == sr_middle and block.dlsr == int(0.25 * 65536)
    assert rtt_seconds(block, ntp_middle32(ntp_from_unix(t + 0.3))) == pytest.approx(0.05, abs=2 / 65536)


def test_bad_clock_rate() -> None:
    with pytest.raises(ValueError, match="clock rate"):
        ReceiveStats(0)


@settings(max_examples=150, deadline=None)
@given(
    start=st.integers(0, 0xFFFF),
    count=st.integers(1, 400),
    seed=st.integers(0, 2**32 - 1),
    loss=st.floats(0.0, 0.5),
    duplicate=st.floats(0.0, 0.2),
)
def test_counts_hold_under_loss_duplication_and_local_reordering(
    start: int, count: int, seed: int, loss: float, duplicate: float
) -> None:
    """Whatever the network does (within 20 packets of reordering), received = distinct packets delivered and
    expected = the span from the lowest to the highest delivered."""
    rng = random.Random(seed)
    delivered = [n for n in range(count) if rng.random() >= loss] or [0]
    delivered += [n for n in delivered if rng.random() < duplicate]
    keyed = sorted(delivered, key=lambda n: n + rng.uniform(0, 20))  # each packet late by < 20 slots
    stats = ReceiveStats(8000)
    for n in keyed:
        stats.on_packet((start + n) & 0xFFFF, (n * 160) & 0xFFFFFFFF, n * PTIME, 160)
    distinct = set(delivered)
    assert stats.packets_received == len(distinct)
    assert stats.expected == max(distinct) - min(distinct) + 1
    assert stats.cumulative_lost == stats.expected - len(distinct)
    assert stats.duplicates == len(keyed) - len(distinct)
