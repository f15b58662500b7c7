"""Reading a run file (TOML): keys with the line they are on, did-you-mean, and masking of secrets.

tomllib gives values but not where they are, so a bad value's line is found by a small scan of the
text (the `[table]` headers and `key =` lines); an error then names `file:line`, says what is wrong
and shows a correct example. The command that owns the options (rtcload run) says which keys exist.
"""

from __future__ import annotations

import difflib
import re
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rtcload.options.kinds import OptionError

_TABLE = re.compile(r"^\s*\[\s*([A-Za-z0-9_.\-\"' ]+?)\s*\]\s*(#.*)?$")
_KEY = re.compile(r"^\s*([\"']?)([A-Za-z0-9_\-]+)\1\s*=")
SECRET_WORDS = ("password", "token", "secret", "ice-server")
MASK = "***"


class RunFileError(OptionError):
    """A run file that cannot be used: the message names the file, the line and a correct example."""


@dataclass(frozen=True)
class Entry:
    table: str  # "" for the top level
    key: str  # as written (dashes or underscores)
    value: Any
    line: int  # 1-based; 0 when the scan did not find it (a key in an inline table)


def key_lines(text: str) -> dict[tuple[str, str], int]:
    """(table, key) -> line of `key =` under `[table]`, by a scan of the text (first occurrence)."""
    table, out = "", {}
    for number, line in enumerate(text.splitlines(), 1):
        header = _TABLE.match(line)
        if header:
            table = header.group(1).strip().strip("\"'")
            continue
        key = _KEY.match(line)
        if key:
            out.setdefault((table, key.group(2)), number)
    return out


def read(path: str | Path) -> list[Entry]:
    """Every key of the file with its value and line; nested tables are one level deep ([gates], [rtc])."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise RunFileError(f"{path}: cannot read the run file: {exc.strerror or exc}") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise RunFileError(f"{path}: not valid TOML: {exc}") from None
    lines = key_lines(text)
    entries = []
    for key, value in data.items():
        if isinstance(value, dict):
            for inner, inner_value in value.items():
                entries.append(Entry(key, inner, inner_value, lines.get((key, inner), 0)))
        else:
            entries.append(Entry("", key, value, lines.get(("", key), 0)))
    return entries


def where(path: str | Path, entry: Entry) -> str:
    return f"{path}:{entry.line}" if entry.line else str(path)


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """`; did you mean 'users'?` when a choice is close, else ''."""
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}?" if close else ""


def is_secret(name: str) -> bool:
    """Options whose value is a secret (passwords, tokens, JWT secrets, ICE credentials): never printed."""
    lowered = name.lower().replace("_", "-")
    return any(word in lowered for word in SECRET_WORDS)


def masked(name: str, value: Any) -> Any:
    if not is_secret(name) or value in (None, "", [], False):
        return value
    return [MASK for _ in value] if isinstance(value, list) else MASK
