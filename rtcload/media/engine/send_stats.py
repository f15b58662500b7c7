"""What one SSRC has sent, for its RTCP sender reports (RFC 3550 6.4.1), sans-I/O."""

from __future__ import annotations

from rtcload.media.engine.rtcp import ntp_from_unix


class SendStats:
    """Packet/octet counters and the RTP timestamp that corresponds to 'now' in an SR."""

    __slots__ = ("_clock_rate", "_last_send_s", "_last_timestamp", "octets_sent", "packets_sent")

    def __init__(self, clock_rate: int) -> None:
        if clock_rate <= 0:
            raise ValueError(f"clock rate must be positive, got {clock_rate}")
        self._clock_rate = clock_rate
        self.packets_sent = 0
        self.octets_sent = 0  # payload octets only, as the SR defines them
        self._last_timestamp: int | None = None
        self._last_send_s = 0.0

    def on_packet(self, payload_size: int, rtp_timestamp: int, now_s: float) -> None:
        self.packets_sent += 1
        self.octets_sent += payload_size
        self._last_timestamp = rtp_timestamp
        self._last_send_s = now_s

    @property
    def has_sent_since_start(self) -> bool:
        """An SSRC that has sent sends an SR; one that has not sends an RR."""
        return self._last_timestamp is not None

    def sr_fields(self, now_s: float, wallclock_s: float) -> tuple[int, int]:
        """(NTP 64-bit, RTP timestamp) of one instant for an SR.

        `now_s` is on the clock given to `on_packet` (e.g. the engine's monotonic clock), `wallclock_s` is
        Unix time for the NTP field; the RTP timestamp is the last packet's, advanced by the elapsed time.
        """
        if self._last_timestamp is None:
            raise ValueError("no packet sent yet: send an RR, not an SR")
        return sr_fields(self._last_timestamp, self._last_send_s, self._clock_rate, now_s, wallclock_s)


def sr_fields(
    last_timestamp: int, last_send_s: float, clock_rate: int, now_s: float, wallclock_s: float
) -> tuple[int, int]:
    """(NTP 64-bit, RTP timestamp) for an SR sent at `now_s`: the last packet's timestamp advanced by the time since."""
    elapsed = max(0.0, now_s - last_send_s)
    rtp_timestamp = (last_timestamp + int(elapsed * clock_rate)) & 0xFFFFFFFF
    return ntp_from_unix(wallclock_s), rtp_timestamp
