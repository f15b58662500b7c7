"""One name per idea: the options renamed in issue 25 and the old spellings that still work for a release.

Each command builds these options from the table here (`add_renamed`, `choice`), so the new name, its
old spelling and the deprecation warning are defined once. An old spelling is hidden from `--help`,
parses into the new option, and prints one line to stderr naming the new spelling:

    rtcload: --lean-media is deprecated, use --media-path lean (it goes in the next release)
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Renamed:
    old: str  # the old spelling: a flag (`--lean-media`) or a flag and value (`--media static`)
    new: str  # what to write instead (`--media-path lean`)
    commands: tuple[str, ...]
    why: str  # the clash or the duplicate it resolves


RENAMED: tuple[Renamed, ...] = (
    Renamed("--rtc-lean", "--rtc-media-path lean", ("run", "locust"), "one name for the lean baseline"),
    Renamed("--emulator-lean", "--emulator-media-path lean", ("run",), "one name for the lean baseline"),
    Renamed("--lean-media", "--media-path lean", ("emulator",), "one name for the lean baseline"),
    Renamed("--emulator-media static", "--emulator-media none", ("run", "capacity"), "signaling only is `none`"),
    Renamed("--media static", "--media none", ("emulator",), "signaling only is `none` (as --rtc-media none)"),
    Renamed("--no-media", "--media none", ("call",), "signaling only is `none` (as --rtc-media none)"),
    Renamed("--rtc-call-duration", "--rtc-holding", ("run", "locust"), "call length is `holding` (SIPp -d)"),
    Renamed("--hold", "--holding", ("capacity",), "call length is `holding`; --rtc-hold-share is call hold"),
    Renamed("--cps", "--by cps", ("capacity",), "--cps is a rate (run); capacity's switch was a yes/no"),
    Renamed("--users", "--users-file", ("emulator",), "--users is a count (run); the emulator's is a CSV file"),
    Renamed("--emulator-users", "--emulator-users-file", ("run",), "a users CSV file is `users-file`"),
    Renamed("--json", "--json-file", ("compare",), "--json prints JSON (call); compare's wrote a file"),
)
# old variables still read for a release (the old flags are in RENAMED): new -> old
RENAMED_ENV: dict[str, str] = {"RTCLOAD_HOLDING": "RTCLOAD_CALL_DURATION"}
_warned: set[str] = set()


def warn(old: str, new: str) -> None:
    """The one-line deprecation warning (once per spelling and process)."""
    if old not in _warned:
        _warned.add(old)
        print(f"rtcload: {old} is deprecated, use {new} (it goes in the next release)", file=sys.stderr)


def renamed(old: str) -> Renamed:
    return next(r for r in RENAMED if r.old == old)


class Deprecated(argparse.Action):
    """An old flag: warns, then stores `const` (a switch) or its value into the new option's dest."""

    def __init__(self, option_strings: Sequence[str], dest: str, new: str = "", convert: Any = None, **kw: Any):
        self.new, self.convert = new, convert
        super().__init__(option_strings, dest, **kw)

    def __call__(self, parser: Any, namespace: Any, values: Any, option_string: str | None = None) -> None:
        warn(option_string or self.option_strings[0], self.new)
        value = self.const if self.nargs == 0 else values
        setattr(namespace, self.dest, self.convert(value) if self.convert else value)


def add_renamed(
    parser: Any, old: str, dest: str, const: Any = None, convert: Callable[[str], Any] | None = None
) -> None:
    """Register the old spelling `old` (in RENAMED) as a hidden option feeding `dest`: a switch storing
    `const` when `const` is given, else an option taking a value (through `convert`)."""
    entry = renamed(old)
    kw: dict[str, Any] = {"dest": dest, "help": argparse.SUPPRESS, "new": entry.new, "convert": convert}
    kw["default"] = argparse.SUPPRESS  # never overwrite the new option's default (Locust reads defaults per action)
    if const is not None:
        kw.update(nargs=0, const=const)
    parser.add_argument(old, action=Deprecated, **kw)


def choice(flag: str, choices: Sequence[str], old_values: dict[str, str] | None = None) -> Callable[[str], str]:
    """An argparse `type=` for a choice whose old values (`static`) still work with a warning."""
    old_values = old_values or {}

    def convert(text: str) -> str:
        if text in old_values:
            warn(f"{flag} {text}", f"{flag} {old_values[text]}")
            return old_values[text]
        if text not in choices:
            raise argparse.ArgumentTypeError(f"{flag} {text!r}: choose one of {', '.join(choices)}")
        return text

    convert.__name__ = "choice"
    convert.choices = tuple(choices)  # type: ignore[attr-defined]  # for the registry's docs
    return convert
