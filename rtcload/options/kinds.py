"""One parser per kind of option value, shared by every flag, environment variable and file.

Each parser takes the text and the name of what is being parsed (a flag, an RTCLOAD_* variable, a
file key) and raises `OptionError` (a ValueError) naming it and showing what is accepted, so a bad
value is a clear one-line error wherever it was given.
"""

from __future__ import annotations

import argparse
import math
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rtcload.distributions import Distribution
from rtcload.distributions import parse_distribution as _distribution

TRUE_WORDS = ("1", "true", "yes", "on", "y")
FALSE_WORDS = ("0", "false", "no", "off", "n")
DURATION_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
_DURATION = re.compile(r"\s*([0-9]*\.?[0-9]+)\s*(ms|s|m|h)?\s*", re.IGNORECASE)


class OptionError(ValueError):
    """A value that does not parse as its kind; the message names the option and the accepted form."""


def parse_bool(text: str | bool, name: str) -> bool:
    """`1/true/yes/on/y` is on, `0/false/no/off/n` is off (any case); anything else is an error."""
    if isinstance(text, bool):
        return text
    word = str(text).strip().lower()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    raise OptionError(
        f"{name}={text!r} is not a boolean: use one of {'/'.join(TRUE_WORDS)} (on) or {'/'.join(FALSE_WORDS)} (off)"
    )


def parse_duration(text: str | float | int, name: str = "duration") -> float:
    """`30s`, `5m`, `250ms`, `1h` -> seconds; a bare number means seconds. Never negative."""
    if isinstance(text, bool):
        raise OptionError(f"{name}={text!r} is not a duration: use e.g. 30s, 5m, 250ms, 1h or seconds")
    if isinstance(text, int | float):
        if not math.isfinite(text) or text < 0:
            raise OptionError(f"{name}={text!r} is not a duration: it must be a finite number of seconds >= 0")
        return float(text)
    match = _DURATION.fullmatch(text)
    if not match:
        raise OptionError(f"{name}={text!r} is not a duration: use e.g. 30s, 5m, 250ms, 1h or seconds")
    unit = (match[2] or "s").lower()
    return float(match[1]) * DURATION_UNITS[unit]


def parse_count(text: str | int, name: str, minimum: int = 0) -> int:
    """A whole number >= `minimum` (`10`, also `10.0`, as older spellings wrote it)."""
    try:
        value = float(str(text).strip())
    except ValueError:
        raise OptionError(f"{name}={text!r} is not a count: use a whole number >= {minimum}") from None
    if not math.isfinite(value) or value != int(value) or value < minimum:
        raise OptionError(f"{name}={text!r} is not a count: use a whole number >= {minimum}")
    return int(value)


def parse_number(
    text: str | float | int, name: str, minimum: float | None = None, maximum: float | None = None
) -> float:
    """A finite real number, optionally bounded (shares are parse_number(x, name, 0, 1))."""
    try:
        value = float(str(text).strip())
    except ValueError:
        raise OptionError(f"{name}={text!r} is not a number") from None
    low = -math.inf if minimum is None else minimum
    high = math.inf if maximum is None else maximum
    if not math.isfinite(value) or not low <= value <= high:
        bounds = (
            f"between {minimum:g} and {maximum:g}"
            if minimum is not None and maximum is not None
            else (f">= {minimum:g}" if minimum is not None else f"<= {maximum:g}" if maximum is not None else "finite")
        )
        raise OptionError(f"{name}={text!r} must be a number {bounds}")
    return value


def parse_rate(text: str | float | int, name: str) -> float:
    """Events per second: `5`, `5/s`, `300/m`, `0.5/s`; never negative."""
    spelled = str(text).strip().lower()
    per = 1.0
    for suffix, seconds in (("/s", 1.0), ("/m", 60.0), ("/h", 3600.0)):
        if spelled.endswith(suffix):
            spelled, per = spelled[: -len(suffix)], seconds
            break
    try:
        value = float(spelled)
    except ValueError:
        raise OptionError(f"{name}={text!r} is not a rate: use e.g. 5, 5/s, 300/m") from None
    if not math.isfinite(value) or value < 0:
        raise OptionError(f"{name}={text!r} is not a rate: it must be >= 0, e.g. 5, 5/s, 300/m")
    return value / per


def parse_distribution(text: str | float | int, name: str) -> Distribution:
    """A sampled duration in seconds (`fixed:10`, `uniform:5,15`, `exp:60`; a bare number is fixed)."""
    try:
        return _distribution(text)
    except ValueError as exc:
        raise OptionError(f"{name}: {exc}") from None


def parse_path(text: str | Path | None, name: str, must_exist: bool = False) -> Path | None:
    """A file system path; empty means none. `must_exist` refuses a path that is not there."""
    if text is None or not str(text).strip():
        return None
    path = Path(str(text).strip()).expanduser()
    if must_exist and not path.exists():
        raise OptionError(f"{name}={str(text)!r}: no such file or directory")
    return path


def argparse_type(parse: Callable[[str, str], Any], name: str) -> Callable[[str], Any]:
    """`parse` as an argparse `type=`: argparse prints our message (naming `name`) instead of "invalid value"."""

    def convert(text: str) -> Any:
        try:
            return parse(text, name)
        except OptionError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    convert.__name__ = parse.__name__.removeprefix("parse_")
    return convert
