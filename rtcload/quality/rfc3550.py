"""RFC 3550 estimators (quality.md 5.1): jitter (A.8), fraction lost (A.3) and RTT from LSR/DLSR (6.4.1).

rtcload owns its receivers, so it can compute these itself instead of trusting a stack's getStats units.
"""

from __future__ import annotations

from dataclasses import dataclass


def rtt_from_report(arrival: int, lsr: int, dlsr: int) -> float | None:
    """RTT in seconds from the middle-32-bit NTP values (1/65536 s units); None while LSR = 0 (no SR echoed)."""
    if lsr == 0:
        return None
    return ((arrival - lsr - dlsr) & 0xFFFFFFFF) / 65536.0


def fraction_lost(expected_interval: int, received_interval: int) -> int:
    """8-bit fixed-point loss fraction over the interval, 0 when the interval lost nothing (or had duplicates)."""
    lost = expected_interval - received_interval
    if expected_interval == 0 or lost <= 0:
        return 0
    return (lost << 8) // expected_interval


@dataclass
class JitterEstimator:
    """Interarrival jitter in RTP timestamp units: float form J += (|D| - J)/16 and the integer 16*J form."""

    jitter: float = 0.0
    jitter16: int = 0
    _last_transit: int | None = None

    def update(self, arrival_ts: int, rtp_ts: int) -> float:
        """Feed one packet (arrival time already in RTP timestamp units), in arrival order; returns J."""
        transit = arrival_ts - rtp_ts
        if self._last_transit is not None:
            d = abs(transit - self._last_transit)
            self.jitter += (d - self.jitter) / 16.0
            self.jitter16 += d - ((self.jitter16 + 8) >> 4)
        self._last_transit = transit
        return self.jitter

    @property
    def jitter_int(self) -> int:
        """The integer form's reported value, as A.8 puts it in an RR."""
        return self.jitter16 >> 4


def burst_r_from_losses(lost: list[bool] | tuple[bool, ...]) -> float:
    """BurstR = mean loss-burst length * (1 - p) from a per-packet loss trace; 1.0 when nothing (or all) was lost."""
    n = len(lost)
    # count() runs in C: the stats sampler calls this for every call every interval, nearly always loss-free
    n_lost = lost.count(True)
    if n == 0 or n_lost == 0 or n_lost == n:
        return 1.0
    bursts = sum(1 for i, x in enumerate(lost) if x and (i == 0 or not lost[i - 1]))
    p = n_lost / n
    return (n_lost / bursts) * (1.0 - p)
