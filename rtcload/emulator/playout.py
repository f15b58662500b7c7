"""The emulator's echo and relay playout delay: forwarded audio leaves at its kernel arrival + this delay.

Why: forwarding from the receive callback put every stall of the emulator's event loop (a young collection,
a call setup or teardown, a slow callback, CPU contention) on the wire as a gap and a burst, which the
generator then measured as the platform's jitter. A fixed delay, sent by the engine's send thread on its own
clock, keeps the arrivals' spacing (as a platform's jitter buffer of fixed delay does); only a stall longer
than the delay still shows, and the emulator's media clock reports it. 0 forwards at once, as before.
"""

from __future__ import annotations

DEFAULT_ECHO_PLAYOUT_S = 0.06  # above the emulator's worst loop stall under churn (docs/benchmarks.md)
MAX_PLAYOUT_S = 1.0
KNOB = "playout"


def parse_playout(text: str, what: str = "playout") -> float:
    """`60ms`, `0.06s`, `0.06` (seconds) or `0` (immediate) -> seconds; ValueError naming `what` otherwise."""
    raw = text.strip().lower()
    scale = 1.0
    if raw.endswith("ms"):
        raw, scale = raw[:-2], 0.001
    elif raw.endswith("s"):
        raw = raw[:-1]
    try:
        value = float(raw) * scale
    except ValueError:
        raise ValueError(f"bad {what} {text!r} (expected e.g. 60ms, 0.06s or 0)") from None
    if not 0.0 <= value <= MAX_PLAYOUT_S:
        raise ValueError(f"bad {what} {text!r} (0 to {MAX_PLAYOUT_S:g} s)")
    return value


def with_playout(mode: str, knobs: dict[str, str]) -> str:
    """An echo route's media mode carrying its `playout` knob (`echo;playout=0.08`), as the answerer reads it."""
    if KNOB not in knobs:
        return mode
    return f"{mode};{KNOB}={parse_playout(knobs[KNOB]):g}"


def split_mode(mode: str) -> tuple[str, float | None]:
    """`echo;playout=0.08` -> ("echo", 0.08); a mode without the knob -> (mode, None)."""
    base, sep, rest = mode.partition(";")
    if not sep:
        return mode, None
    key, _, value = rest.partition("=")
    return base, parse_playout(value) if key == KNOB else None
