"""Sans-I/O network impairment model: decides, per packet, drop or the times to send its copies.

One `Impairer` per direction holds the state (Gilbert-Elliott state, token bucket, last departure)
and seeded `random.Random` streams, so a run replays identically for a seed. Each packet class
(RTP, RTCP, STUN, DTLS, other; see `packet_class`) draws from its own stream: the media drop pattern
then depends only on the seed and the media packet index, not on how ICE/RTCP traffic interleaves.

Order of effects for a packet arriving at t (seconds since the relay started):
blackout window → random loss → Gilbert-Elliott loss → rate limit (FIFO token bucket, tail drop
when the queue delay would exceed `queue_s`) → delay + normal jitter (clamped at 0; without
`reorder` a packet never leaves before its predecessor) → duplication (copy sent at the same time).
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass, field, replace
from enum import StrEnum

from rtcload.options.kinds import OptionError, parse_bool

__all__ = [
    "PROFILES",
    "Drop",
    "GilbertElliott",
    "Impairer",
    "Impairment",
    "SpecError",
    "packet_class",
    "parse_impairment",
    "profile",
]


class SpecError(ValueError):
    """A custom impairment spec that cannot be parsed (message names the offending part)."""


class Drop(StrEnum):
    BLACKOUT = "blackout"
    LOSS = "loss"
    BURST = "burst"
    RATE = "rate"


@dataclass(frozen=True)
class GilbertElliott:
    """Two-state bursty loss: p = P(good→bad), r = P(bad→good) per packet; loss probability per state."""

    p: float
    r: float
    loss_bad: float = 1.0
    loss_good: float = 0.0

    def __post_init__(self) -> None:
        for name in ("p", "r", "loss_bad", "loss_good"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise SpecError(f"gilbert {name}={value} outside [0, 1]")
        if self.r == 0.0 and self.p > 0.0:
            raise SpecError("gilbert r=0 would never leave the bad state")

    @property
    def stationary_loss(self) -> float:
        """Long-run loss probability: π_bad·loss_bad + π_good·loss_good."""
        if self.p == 0.0:
            return self.loss_good
        bad = self.p / (self.p + self.r)
        return bad * self.loss_bad + (1.0 - bad) * self.loss_good


@dataclass(frozen=True)
class Impairment:
    """One direction's impairment. Times in seconds, probabilities 0..1, rate in bytes/s."""

    delay_s: float = 0.0
    jitter_s: float = 0.0  # standard deviation of a normal added to delay_s
    reorder: bool = False  # let jitter reorder packets (netem's default); False keeps FIFO
    loss: float = 0.0
    burst: GilbertElliott | None = None
    duplicate: float = 0.0
    rate_bytes_s: float | None = None
    bucket_bytes: int = 1500  # token bucket depth
    queue_s: float = 0.5  # max queueing delay before tail drop (rate limit only)
    blackouts: tuple[tuple[float, float], ...] = ()
    seed: int | None = None

    def __post_init__(self) -> None:
        if self.delay_s < 0 or self.jitter_s < 0:
            raise SpecError("delay and jitter must be >= 0")
        for name in ("loss", "duplicate"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise SpecError(f"{name}={value} outside [0, 1]")
        if self.rate_bytes_s is not None and self.rate_bytes_s <= 0:
            raise SpecError("rate must be > 0")
        if self.bucket_bytes <= 0 or self.queue_s < 0:
            raise SpecError("bucket must be > 0 and queue >= 0")
        for start, end in self.blackouts:
            if not 0 <= start < end:
                raise SpecError(f"blackout {start}-{end}: need 0 <= start < end")

    @property
    def is_clean(self) -> bool:
        return self == Impairment(seed=self.seed)

    def with_seed(self, seed: int | None) -> Impairment:
        return replace(self, seed=seed)


# ---------------------------------------------------------------- packet classes (RFC 7983 demux)


def packet_class(data: bytes) -> str:
    """'stun', 'dtls', 'rtp', 'rtcp' or 'other' from the first bytes (RFC 7983, RFC 5761)."""
    if not data:
        return "other"
    first = data[0]
    if first <= 3:
        return "stun"
    if 20 <= first <= 63:
        return "dtls"
    if 128 <= first <= 191 and len(data) >= 2:
        return "rtcp" if 192 <= data[1] <= 223 else "rtp"
    return "other"


# ---------------------------------------------------------------- the stateful decision


@dataclass
class _Stream:
    rng: random.Random
    bad: bool = False  # Gilbert-Elliott state


@dataclass
class Impairer:
    """Per-direction state; `decide(t, size, kind)` → [] (dropped) or the send times of each copy."""

    impairment: Impairment
    direction: str = "up"
    last_drop: Drop | None = None
    _streams: dict[str, _Stream] = field(default_factory=dict)
    _tokens: float = 0.0
    _tokens_at: float | None = None
    _last_departure: float = float("-inf")

    def _stream(self, kind: str) -> _Stream:
        stream = self._streams.get(kind)
        if stream is None:
            # str seeds hash deterministically (random.seed version 2), independent of PYTHONHASHSEED
            seed = None if self.impairment.seed is None else f"{self.impairment.seed}:{self.direction}:{kind}"
            stream = self._streams[kind] = _Stream(random.Random(seed))
        return stream

    def reconfigure(self, impairment: Impairment) -> None:
        """Change the impairment mid-run; queue and ordering state carry over, a new seed reseeds."""
        if impairment.seed != self.impairment.seed:
            self._streams.clear()
        if impairment.rate_bytes_s != self.impairment.rate_bytes_s:
            self._tokens_at = None
        self.impairment = impairment

    def in_blackout(self, t: float) -> bool:
        return any(start <= t < end for start, end in self.impairment.blackouts)

    def decide(self, t: float, size: int, kind: str = "other") -> list[float]:
        imp = self.impairment
        stream = self._stream(kind)
        rng = stream.rng
        self.last_drop = None
        if self.in_blackout(t):
            return self._drop(Drop.BLACKOUT)
        if imp.loss > 0.0 and rng.random() < imp.loss:
            return self._drop(Drop.LOSS)
        if imp.burst is not None:
            ge = imp.burst
            stream.bad = (rng.random() >= ge.r) if stream.bad else (rng.random() < ge.p)
            if rng.random() < (ge.loss_bad if stream.bad else ge.loss_good):
                return self._drop(Drop.BURST)
        start = t
        if imp.rate_bytes_s is not None:
            departure = self._rate_departure(t, size)
            if departure is None:
                return self._drop(Drop.RATE)
            start = departure
        delay = imp.delay_s
        if imp.jitter_s > 0.0:
            delay = max(0.0, rng.gauss(imp.delay_s, imp.jitter_s))
        send_at = start + delay
        if not imp.reorder:
            send_at = max(send_at, self._last_departure)
        self._last_departure = max(self._last_departure, send_at)
        if imp.duplicate > 0.0 and rng.random() < imp.duplicate:
            return [send_at, send_at]
        return [send_at]

    def _drop(self, reason: Drop) -> list[float]:
        self.last_drop = reason
        return []

    def _rate_departure(self, t: float, size: int) -> float | None:
        """FIFO token bucket in virtual time: when this packet may leave, or None (queue full)."""
        imp = self.impairment
        assert imp.rate_bytes_s is not None
        rate = imp.rate_bytes_s
        if self._tokens_at is None:
            self._tokens, self._tokens_at = float(imp.bucket_bytes), t
        start = max(t, self._tokens_at)
        tokens = min(float(imp.bucket_bytes), self._tokens + (start - self._tokens_at) * rate)
        departure = start if tokens >= size else start + (size - tokens) / rate
        if departure - t > imp.queue_s:
            return None
        self._tokens = max(0.0, tokens - size)
        self._tokens_at = departure
        return departure


# ---------------------------------------------------------------- named profiles (one-way values)

PROFILES: dict[str, Impairment] = {
    "clean": Impairment(),
    "lan": Impairment(delay_s=0.0005, jitter_s=0.0002),
    "wifi": Impairment(delay_s=0.005, jitter_s=0.004, loss=0.005),
    "4g": Impairment(delay_s=0.035, jitter_s=0.010, loss=0.01),
    "congested": Impairment(delay_s=0.080, jitter_s=0.025, loss=0.02, rate_bytes_s=32_000, queue_s=0.3),
    "satellite": Impairment(delay_s=0.300, jitter_s=0.015, loss=0.005),
    "lossy-burst": Impairment(delay_s=0.020, jitter_s=0.005, burst=GilbertElliott(p=0.02, r=0.25, loss_bad=0.9)),
}


def profile(name: str) -> Impairment:
    try:
        return PROFILES[name]
    except KeyError:
        raise SpecError(f"unknown profile {name!r}; known: {', '.join(sorted(PROFILES))}") from None


# ---------------------------------------------------------------- custom spec parser

_TIME_UNITS = {"us": 1e-6, "ms": 1e-3, "s": 1.0}
_RATE_UNITS = {"bit": 1, "kbit": 1e3, "mbit": 1e6, "gbit": 1e9, "bps": 1, "kbps": 1e3, "mbps": 1e6}
_NUMBER = r"(\d+(?:\.\d*)?|\.\d+)"


def _time(text: str, key: str) -> float:
    match = re.fullmatch(_NUMBER + r"(us|ms|s)", text.strip())
    if match is None:
        raise SpecError(f"{key}={text!r}: expected a time like 50ms, 1.5s or 200us")
    return float(match.group(1)) * _TIME_UNITS[match.group(2)]


def _probability(text: str, key: str) -> float:
    """'2%' → 0.02; '0.02' → 0.02 (a bare number is a fraction)."""
    match = re.fullmatch(_NUMBER + r"(%?)", text.strip())
    if match is None:
        raise SpecError(f"{key}={text!r}: expected a percentage like 2% or a fraction like 0.02")
    value = float(match.group(1)) / (100.0 if match.group(2) else 1.0)
    if value > 1.0:
        raise SpecError(f"{key}={text!r}: more than 100 %")
    return value


def _rate(text: str, key: str) -> float:
    match = re.fullmatch(_NUMBER + r"([kmg]?bit|[km]?bps)", text.strip().lower())
    if match is None:
        raise SpecError(f"{key}={text!r}: expected a rate like 64kbit, 2mbit or 500kbps (bits/s)")
    return float(match.group(1)) * _RATE_UNITS[match.group(2)] / 8.0


def _burst(text: str, key: str) -> GilbertElliott:
    parts = text.split(":")
    if parts[0] != "gilbert" or not 3 <= len(parts) <= 5:
        raise SpecError(f"{key}={text!r}: expected gilbert:<p>:<r>[:<loss_bad>[:<loss_good>]]")
    values = [_probability(part, key) for part in parts[1:]]
    return GilbertElliott(*values)


def _blackout(text: str, key: str) -> tuple[float, float]:
    start, sep, end = text.partition("-")
    if not sep:
        raise SpecError(f"{key}={text!r}: expected <start>-<end> like 10s-12s")
    return _time(start, key), _time(end, key)


def _flag(text: str, key: str) -> bool:
    if not text.strip():  # a bare key (`reorder`) turns it on
        return True
    try:
        return parse_bool(text, key)
    except OptionError as exc:
        raise SpecError(str(exc)) from None


def parse_impairment(spec: str) -> Impairment:
    """A profile name, or comma-separated key=value pairs optionally starting from `profile=<name>`.

    Keys: delay, jitter (times), reorder (flag), loss, dup (percent or fraction),
    burst=gilbert:p:r[:loss_bad[:loss_good]], rate (64kbit, 2mbit), bucket (bytes), queue (time),
    blackout=<start>-<end> (repeatable), seed (int). Example:
    `delay=50ms,jitter=10ms,loss=2%,burst=gilbert:0.05:0.5,dup=0.1%,rate=64kbit,blackout=10s-12s,seed=7`.
    """
    spec = spec.strip()
    if not spec:
        raise SpecError("empty impairment spec")
    if spec in PROFILES:
        return PROFILES[spec]
    base = Impairment()
    changes: dict[str, object] = {}
    blackouts: list[tuple[float, float]] = []
    for raw in spec.split(","):
        item = raw.strip()
        if not item:
            continue
        key, sep, value = item.partition("=")
        key = key.strip().lower()
        if not sep and key in PROFILES:
            base = PROFILES[key]
            continue
        if not sep and key != "reorder":
            raise SpecError(f"{item!r}: expected key=value or a profile name")
        if key == "profile":
            base = profile(value.strip())
        elif key == "delay":
            changes["delay_s"] = _time(value, key)
        elif key == "jitter":
            changes["jitter_s"] = _time(value, key)
        elif key == "reorder":
            changes["reorder"] = _flag(value, key)
        elif key == "loss":
            changes["loss"] = _probability(value, key)
        elif key in ("dup", "duplicate"):
            changes["duplicate"] = _probability(value, key)
        elif key == "burst":
            changes["burst"] = _burst(value.strip(), key)
        elif key == "rate":
            changes["rate_bytes_s"] = _rate(value, key)
        elif key == "bucket":
            if not value.strip().isdigit():
                raise SpecError(f"bucket={value!r}: expected bytes as an integer")
            changes["bucket_bytes"] = int(value)
        elif key == "queue":
            changes["queue_s"] = _time(value, key)
        elif key == "blackout":
            blackouts.append(_blackout(value, key))
        elif key == "seed":
            try:
                changes["seed"] = int(value)
            except ValueError:
                raise SpecError(f"seed={value!r}: expected an integer") from None
        else:
            raise SpecError(f"unknown key {key!r} in {item!r}")
    if blackouts:
        changes["blackouts"] = tuple(sorted(base.blackouts + tuple(blackouts)))
    return replace(base, **changes)  # type: ignore[arg-type]
