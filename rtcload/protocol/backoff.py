"""Reconnect backoff policies (pure: randomness is injected)."""

from __future__ import annotations

import random
from dataclasses import dataclass


@dataclass(frozen=True)
class BackoffPolicy:
    """`base * 2^(attempt-1)` with +-jitter, capped; the SDK's default is 1 s, +-25 %, 30 s, 10 attempts.

    `kind="fixed"` draws uniformly in [fixed_min_s, fixed_max_s] instead (the SDK's 2-6 s gateway retry).
    """

    kind: str = "exponential"
    base_s: float = 1.0
    jitter: float = 0.25
    cap_s: float = 30.0
    max_attempts: int = 10
    fixed_min_s: float = 2.0
    fixed_max_s: float = 6.0

    def __post_init__(self) -> None:
        if self.kind not in ("exponential", "fixed"):
            raise ValueError(f"unknown backoff kind {self.kind!r} (exponential|fixed)")
        if self.max_attempts < 1 or self.base_s <= 0 or not 0 <= self.jitter < 1:
            raise ValueError("backoff needs max_attempts >= 1, base_s > 0 and 0 <= jitter < 1")

    def delay(self, attempt: int, rng: random.Random | None = None) -> float:
        """Delay before reconnect attempt number `attempt` (1-based)."""
        if attempt < 1:
            raise ValueError("attempts are numbered from 1")
        draw = (rng or random).random()
        if self.kind == "fixed":
            return self.fixed_min_s + draw * (self.fixed_max_s - self.fixed_min_s)
        nominal = min(self.base_s * 2 ** (attempt - 1), self.cap_s)
        return min(nominal * (1 + self.jitter * (2 * draw - 1)), self.cap_s)

    def exhausted(self, attempt: int) -> bool:
        return attempt > self.max_attempts
