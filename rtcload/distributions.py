"""Sampled durations and delays ("fixed:10", "uniform:5,15", "normal:30,5", "exp:60", "lognormal:30,0.5").

Used for call durations, think times and the emulator's ring/answer delays, so one spelling works
everywhere. Samples are never negative.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

KINDS = ("fixed", "uniform", "normal", "exp", "lognormal")


@dataclass(frozen=True)
class Distribution:
    kind: str
    a: float
    b: float = 0.0

    def sample(self, rng: random.Random | None = None) -> float:
        r = rng or random
        if self.kind == "fixed":
            value = self.a
        elif self.kind == "uniform":
            value = r.uniform(self.a, self.b)
        elif self.kind == "normal":
            value = r.gauss(self.a, self.b)
        elif self.kind == "exp":
            value = r.expovariate(1.0 / self.a) if self.a > 0 else 0.0
        else:  # lognormal: a = median, b = sigma of the log
            value = r.lognormvariate(math.log(self.a), self.b)
        return max(0.0, value)

    @property
    def mean(self) -> float:
        if self.kind == "uniform":
            return (self.a + self.b) / 2
        if self.kind == "lognormal":
            return self.a * math.exp(self.b**2 / 2)
        return self.a

    def __str__(self) -> str:
        if self.kind in ("fixed", "exp"):
            return f"{self.kind}:{self.a:g}"
        return f"{self.kind}:{self.a:g},{self.b:g}"


def parse_distribution(text: str | float | int) -> Distribution:
    """Parse a distribution spec; a bare number means fixed."""
    if isinstance(text, int | float):
        return Distribution("fixed", float(text))
    spec = text.strip()
    kind, _, args = spec.partition(":")
    if not args:
        try:
            return Distribution("fixed", float(kind))
        except ValueError:
            raise ValueError(f"bad distribution {text!r}: use one of {', '.join(k + ':...' for k in KINDS)}") from None
    kind = kind.lower()
    if kind not in KINDS:
        raise ValueError(f"bad distribution kind {kind!r} in {text!r}: use one of {', '.join(KINDS)}")
    try:
        numbers = [float(x) for x in args.split(",")]
    except ValueError:
        raise ValueError(f"bad distribution {text!r}: arguments must be numbers") from None
    want = 1 if kind in ("fixed", "exp") else 2
    if len(numbers) != want:
        raise ValueError(f"bad distribution {text!r}: {kind} takes {want} argument(s)")
    if any(n < 0 for n in numbers) or (kind == "uniform" and numbers[1] < numbers[0]):
        raise ValueError(f"bad distribution {text!r}: arguments must be >= 0 (and uniform a <= b)")
    if kind == "lognormal" and numbers[0] <= 0:
        raise ValueError(f"bad distribution {text!r}: lognormal median must be > 0")
    return Distribution(kind, numbers[0], numbers[1] if want == 2 else 0.0)
