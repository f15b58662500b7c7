"""The one reader of the process environment: every RTCLOAD_* variable is read here and parsed by `kinds`.

No other module of rtcload touches `os.environ` (tests/test_options_kinds.py walks the code base for
that), so a variable cannot grow its own spelling of "on", of a duration or of a count.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from rtcload.distributions import Distribution
from rtcload.options import kinds, names


def text(name: str, default: str = "") -> str:
    """The variable as text, `default` when unset (an empty value is kept: it means "given, empty")."""
    return os.environ.get(name, default)


def renamed_text(name: str, default: str = "") -> str:
    """The variable as text; when unset, its old name's (names.RENAMED_ENV, with the one-line warning)."""
    old = names.RENAMED_ENV.get(name)
    if old and given(name) is None and given(old) is not None:
        names.warn(old, name)
        return text(old)
    return text(name, default)


def given(name: str) -> str | None:
    """The variable's text when it is set to something other than blanks, else None."""
    value = os.environ.get(name)
    return value if value is not None and value.strip() else None


def for_child() -> dict[str, str]:
    """A copy of the whole environment, to hand to a child process (not to read a variable from)."""
    return dict(os.environ)


def is_set(name: str) -> bool:
    return name in os.environ


def flag(name: str, default: bool) -> bool:
    """A boolean variable (kinds.parse_bool); unset or blank gives `default`, a bad word is an OptionError."""
    value = given(name)
    return default if value is None else kinds.parse_bool(value, name)


def duration(name: str, default: float) -> float:
    value = given(name)
    return default if value is None else kinds.parse_duration(value, name)


def count(name: str, default: int, minimum: int = 0) -> int:
    value = given(name)
    return default if value is None else kinds.parse_count(value, name, minimum)


def number(name: str, default: float, minimum: float | None = None, maximum: float | None = None) -> float:
    value = given(name)
    return default if value is None else kinds.parse_number(value, name, minimum, maximum)


def distribution(name: str, default: str) -> Distribution:
    return kinds.parse_distribution(given(name) or default, name)


def path(name: str, must_exist: bool = False) -> Path | None:
    return kinds.parse_path(given(name), name, must_exist)


def snapshot() -> dict[str, str]:
    """A copy of the whole environment, for a child process's `env=` (extended, never parsed)."""
    return dict(os.environ)


def set_default(name: str, value: str) -> str:
    """Set `name` for this process and its children unless it is already set; the value in force."""
    return os.environ.setdefault(name, value)


def overlay(values: Mapping[str, str]) -> dict[str, str]:
    """The environment with `values` on top, for a child process."""
    return {**os.environ, **values}
