"""Per-source receive statistics (RFC 3550 A.1, A.3, A.8), sans-I/O: the numbers an RR carries.

The engine computes these itself from headers only, so jitter and loss are the network's, in the
units the RFC defines, with no dependence on a stack's getStats. Differences from A.1 on purpose:
- no probation: the first packet starts the stream (a load tester must count every call from packet 1);
- duplicates are detected in a 256-packet window and not counted as received, so cumulative loss never
  goes negative on a network that duplicates;
- a packet older than the first one lowers the base, so reordering at the start is not counted as loss;
- a jump of >= MAX_DROPOUT confirmed by the next packet re-bases the sequence (a sender restart) but keeps
  the totals: the counters of a call never go backwards.
"""

from __future__ import annotations

from rtcload.media.engine.rtcp import ReportBlock

MAX_DROPOUT = 3000  # forward jump still treated as loss (60 s of 20 ms packets)
MAX_MISORDER = 100  # backward distance still treated as a late packet
DUPLICATE_WINDOW = 256  # how many recent sequence numbers are remembered for duplicate detection
_WINDOW_MASK = (1 << DUPLICATE_WINDOW) - 1
_SEQ_MOD = 1 << 16
_TS_MOD = 1 << 32
_TS_HALF = 1 << 31


class ReportBlocks:
    """The RR/SR report block and LSR/DLSR bookkeeping over a source's counters, shared by `ReceiveStats`
    and the native engine's view of its C counters (native.py), so both report the same way."""

    __slots__ = ()
    _expected_prior: int
    _received_prior: int
    _last_sr_middle32: int
    _last_sr_arrival_s: float
    expected: int
    packets_received: int
    highest_extended_seq: int
    jitter_rtp_units: float

    def on_sender_report(self, ntp_middle32: int, arrival_s: float) -> None:
        """Remember the far end's last SR (its NTP middle 32 bits and when it arrived) for LSR/DLSR."""
        self._last_sr_middle32 = ntp_middle32 & 0xFFFFFFFF
        self._last_sr_arrival_s = arrival_s

    def report_block(self, ssrc_of_source: int, now_s: float) -> ReportBlock:
        """The reception report for this source now; fraction lost covers the interval since the previous call."""
        expected = self.expected
        received = self.packets_received
        expected_interval = expected - self._expected_prior
        lost_interval = expected_interval - (received - self._received_prior)
        self._expected_prior = expected
        self._received_prior = received
        fraction = (lost_interval << 8) // expected_interval if expected_interval > 0 and lost_interval > 0 else 0
        dlsr = max(0, int((now_s - self._last_sr_arrival_s) * 65536.0)) if self._last_sr_middle32 else 0
        return ReportBlock(
            ssrc=ssrc_of_source,
            fraction_lost=min(fraction, 255),
            cumulative_lost=max(-0x800000, min(0x7FFFFF, expected - received)),
            highest_seq=max(self.highest_extended_seq, 0) & 0xFFFFFFFF,
            jitter=int(self.jitter_rtp_units),
            lsr=self._last_sr_middle32,
            dlsr=dlsr,
        )


class ReceiveStats(ReportBlocks):
    """Reception state of one remote SSRC; feed `on_packet` in arrival order."""

    __slots__ = (
        "_bad_seq",
        "_base_ext",
        "_clock_rate",
        "_expected_carry",
        "_expected_prior",
        "_jitter",
        "_last_sr_arrival_s",
        "_last_sr_middle32",
        "_last_transit",
        "_max_ext",
        "_pending_bytes",
        "_received_prior",
        "_window",
        "bytes_received",
        "duplicates",
        "first_arrival_s",
        "last_arrival_s",
        "packets_received",
    )

    def __init__(self, clock_rate: int) -> None:
        if clock_rate <= 0:
            raise ValueError(f"clock rate must be positive, got {clock_rate}")
        self._clock_rate = clock_rate
        self.packets_received = 0
        self.bytes_received = 0  # payload octets, as an SR counts them
        self.duplicates = 0
        self.first_arrival_s: float | None = None
        self.last_arrival_s: float | None = None
        self._max_ext = -1  # extended highest sequence number; -1 = nothing yet
        self._base_ext = 0
        self._expected_carry = 0  # expected packets of sequence runs before a restart
        self._window = 0  # bit i set = extended sequence (max_ext - i) was received
        self._bad_seq = -1
        self._pending_bytes = 0
        self._expected_prior = 0
        self._received_prior = 0
        self._jitter = 0.0
        self._last_transit: float | None = None
        self._last_sr_middle32 = 0
        self._last_sr_arrival_s = 0.0

    def on_packet(
        self, sequence: int, rtp_timestamp: int, arrival_s: float, payload_size: int, jitter: bool = True
    ) -> None:
        """Account one received packet: sequence (16-bit), RTP timestamp (32-bit), arrival (seconds, any epoch).

        `jitter=False` counts the packet (sequence, loss, bytes) but leaves the jitter estimate alone: RFC 4733
        telephone-events repeat their start timestamp every 20 ms, which is not network jitter (libwebrtc
        likewise estimates jitter on the audio payload type only).
        """
        if self._max_ext < 0:
            self._start(sequence, arrival_s)
        else:
            max_ext = self._max_ext
            delta = (sequence - max_ext) & 0xFFFF
            if delta == 0:
                self.duplicates += 1
                return
            if delta < MAX_DROPOUT:  # in order, possibly after a gap (and possibly across the 16-bit wrap)
                self._window = ((self._window << delta) | 1) & _WINDOW_MASK
                self._max_ext = max_ext + delta
                self._bad_seq = -1
            elif delta > _SEQ_MOD - MAX_MISORDER:  # late (reordered) or a duplicate of an older packet
                back = _SEQ_MOD - delta
                if back < DUPLICATE_WINDOW:
                    bit = 1 << back
                    if self._window & bit:
                        self.duplicates += 1
                        return
                    self._window |= bit
                ext = max_ext - back
                if ext < self._base_ext:  # older than the first packet seen: the stream started earlier
                    self._base_ext = ext
            elif sequence == self._bad_seq:  # second packet after a big jump: the sender restarted
                self._restart(sequence)
            else:  # one packet of a big jump: wait for the next to tell a restart from a stray packet
                self._bad_seq = (sequence + 1) & 0xFFFF
                self._pending_bytes = payload_size
                return
        self.packets_received += 1
        self.bytes_received += payload_size
        self.last_arrival_s = arrival_s
        if not jitter:
            return
        # RFC 3550 A.8, with the timestamp difference taken modulo 2^32 so a timestamp wrap is not a spike
        transit = arrival_s * self._clock_rate - rtp_timestamp
        last = self._last_transit
        self._last_transit = transit
        if last is not None:
            d = transit - last
            if d > _TS_HALF:
                d -= _TS_MOD
            elif d < -_TS_HALF:
                d += _TS_MOD
            if d < 0:
                d = -d
            self._jitter += (d - self._jitter) * 0.0625

    def _start(self, sequence: int, arrival_s: float) -> None:
        self._max_ext = sequence
        self._base_ext = sequence
        self._window = 1
        self.first_arrival_s = arrival_s

    def _restart(self, sequence: int) -> None:
        """Re-base on a new sequence run; the jump packet before this one counts too."""
        self._expected_carry += self._max_ext - self._base_ext + 1
        self._max_ext = sequence if sequence > 0 else _SEQ_MOD  # keep the pending packet (sequence - 1) >= 0
        self._base_ext = self._max_ext - 1
        self._window = 0b11
        self._bad_seq = -1
        self.packets_received += 1  # the pending jump packet
        self.bytes_received += self._pending_bytes
        self._pending_bytes = 0
        self._last_transit = None  # timing of the new run is unrelated to the old one

    @property
    def highest_extended_seq(self) -> int:
        """Extended highest sequence number received (cycles * 65536 + seq); -1 before the first packet."""
        return self._max_ext

    @property
    def expected(self) -> int:
        """Packets expected: highest - base + 1 over every sequence run (A.3)."""
        if self._max_ext < 0:
            return 0
        return self._expected_carry + self._max_ext - self._base_ext + 1

    @property
    def cumulative_lost(self) -> int:
        return self.expected - self.packets_received

    @property
    def jitter_rtp_units(self) -> float:
        """RFC 3550 interarrival jitter in RTP timestamp units."""
        return self._jitter

    @property
    def jitter_s(self) -> float:
        return self._jitter / self._clock_rate
