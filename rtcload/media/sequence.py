"""Which RTP packets arrived, in sequence order: the loss pattern behind the E-model's BurstR.

getStats gives only loss counts; bursty loss (Gilbert-Elliott) hurts more than random loss at the
same rate, so the receiver records a received/lost flag per expected packet and each stats
interval turns its flags into a burst ratio.
"""

from __future__ import annotations

from collections.abc import Callable

from rtcload.quality.rfc3550 import burst_r_from_losses

MAX_GAP = 3000  # a jump larger than this is a stream restart, not loss (60 s of 20 ms packets)


class LossRunTracker:
    def __init__(self, max_flags: int = 20_000) -> None:
        self._highest: int | None = None  # extended sequence number
        self._flags: list[bool] = []  # True = lost, in sequence order since the last drain
        self._max_flags = max_flags
        self._external: Callable[[], list[bool]] | None = None

    @property
    def max_flags(self) -> int:
        return self._max_flags

    def follow(self, drain: Callable[[], list[bool]]) -> None:
        """From now on the flags come from `drain` (the native engine tracks the same runs in C)."""
        self._external = drain

    def on_packet(self, sequence_number: int) -> None:
        if self._highest is None:
            self._highest = sequence_number
            self._flags.append(False)
            return
        cycle_base = self._highest & ~0xFFFF
        candidate = cycle_base | sequence_number
        # choose the 16-bit wrap interpretation closest to the highest seen
        if candidate - self._highest > 0x8000:
            candidate -= 0x10000
        elif self._highest - candidate > 0x8000:
            candidate += 0x10000
        gap = candidate - self._highest
        if gap <= 0:
            return  # duplicate or late packet; already counted as lost when skipped
        if gap > MAX_GAP:
            self._highest = candidate
            self._flags.append(False)
            return
        self._flags.extend([True] * (gap - 1))
        self._flags.append(False)
        self._highest = candidate
        if len(self._flags) > self._max_flags:
            del self._flags[: len(self._flags) - self._max_flags]

    def drain(self) -> list[bool]:
        if self._external is not None:
            return self._flags + self._external() if self._flags else self._external()
        flags, self._flags = self._flags, []
        return flags

    def drain_burst_r(self) -> float | None:
        """BurstR of the packets since the last drain; None when nothing arrived."""
        flags = self.drain()
        return burst_r_from_losses(flags) if flags else None
