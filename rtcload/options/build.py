"""Build a command's argparse options from the registry (registry.toml), so no command names an option itself.

`add_options(parser, "call")` adds every option the table gives `call`, in the table's order, each in
its --help group, with its kind's conversion, default, choices and old values. What only code knows is
passed in and checked, never restated: `fmt` fills a `{placeholder}` of a help text (the list of
scenarios), and `same` states a code constant the table must equal (a default, a choice set), so the
two cannot drift apart silently. The scenarios' --rtc-* options are built by their own tables
(`table.load_table`) and are not added here.
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Mapping, Sequence
from typing import Any

from rtcload.options import kinds, names
from rtcload.options.table import PARSED_KINDS, RegistryError, Spec, of

_PARSE = {kind: getattr(kinds, f"parse_{kind}") for kind in PARSED_KINDS}
_PLACEHOLDER = re.compile(r"\{[a-z_]+\}")
_TYPES: dict[str, Any] = {"int": int, "float": float, "str": str}


def _group(parser: argparse.ArgumentParser, title: str, made: dict[str, Any]) -> Any:
    if not title:
        return parser
    if title not in made:
        found = next((g for g in parser._action_groups if g.title == title), None)
        made[title] = found or parser.add_argument_group(title)
    return made[title]


def _help(spec: Spec, fmt: Mapping[str, str]) -> str:
    if spec.hidden:
        return argparse.SUPPRESS
    text = spec.help
    for key, value in fmt.items():
        text = text.replace("{" + key + "}", value)
    left = _PLACEHOLDER.search(text)
    if left:
        raise RegistryError(f"{spec.name}: its help needs {left[0]}: pass it as fmt[{spec.name!r}]")
    return text


def _check(spec: Spec, same: Mapping[str, Any]) -> None:
    for field, value in same.items():
        declared = getattr(spec, field)
        if field == "choices":
            value = tuple(value)
        if declared != value:
            raise RegistryError(
                f"{spec.name}: the code says {field} = {value!r}, registry.toml says {declared!r}; "
                "update rtcload/options/registry.toml (and run scripts/options_doc.py)"
            )


def argument(spec: Spec, fmt: Mapping[str, str] | None = None) -> tuple[tuple[str, ...], dict[str, Any]]:
    """The option strings and add_argument keywords of one registry row."""
    kw: dict[str, Any] = {"help": _help(spec, fmt or {})}
    if spec.action:
        kw["action"] = spec.action
    if spec.type == "kind":
        kw["type"] = kinds.argparse_type(_PARSE[spec.kind], spec.name)
    elif spec.type:
        kw["type"] = _TYPES[spec.type]
    if spec.old_values:
        kw["type"] = names.choice(spec.name, spec.choices, dict(spec.old_values))
    elif spec.choices:
        kw["choices"] = spec.choices
    if spec.default is not None:
        kw["default"] = list(spec.default) if isinstance(spec.default, list) else spec.default
    if spec.metavar:
        kw["metavar"] = spec.metavar
    if spec.dest:
        kw["dest"] = spec.dest
    return (*spec.aliases, spec.name), kw


def add_options(
    parser: argparse.ArgumentParser,
    command: str,
    fmt: Mapping[str, Mapping[str, str]] | None = None,
    same: Mapping[str, Mapping[str, Any]] | None = None,
    now: Mapping[str, Any] | None = None,
    order: Sequence[str] = (),
) -> dict[str, Any]:
    """Add every option the registry gives `command` (not the scenarios' --rtc-* ones); return its groups
    by title. `fmt[name]` fills that option's help placeholders; `same[name]` is checked against its row;
    `now[name]` is a default known only when the parser is built (read from the environment). `order`
    creates --help groups in that order first (a group the table gives no row stays empty)."""
    fmt, same, now = fmt or {}, same or {}, now or {}
    rows = [s for s in of(command) if s.is_flag and "locust" not in s.commands]
    known = {s.name for s in rows}
    stray = (set(fmt) | set(same) | set(now)) - known
    if stray:
        raise RegistryError(f"{command}: {sorted(stray)} are not options of {command} in registry.toml")
    made: dict[str, Any] = {}
    for title in order:
        _group(parser, title, made)
    for spec in rows:
        _check(spec, same.get(spec.name, {}))
        flags, kw = argument(spec, fmt.get(spec.name))
        if spec.name in now:
            kw["default"] = now[spec.name]
        _group(parser, spec.group_on(command), made).add_argument(*flags, **kw)
    _add_old_spellings(parser, command, {s.name: s for s in rows}, made)
    return made


def _add_old_spellings(parser: argparse.ArgumentParser, command: str, rows: dict[str, Spec], made: dict) -> None:
    """The old flags of names.RENAMED for this command, beside their new option (hidden, with a warning):
    `--no-media` -> `--media none` stores `none`, `--users` -> `--users-file` takes the value. Old values
    (`--media static`) are the rows' old_values; the --rtc-* ones are the scenarios' (settings)."""
    for entry in names.RENAMED:
        if command not in entry.commands or " " in entry.old:
            continue
        new, _, value = entry.new.partition(" ")
        spec = rows.get(new)
        if spec is None:
            continue
        dest = spec.dest or new.lstrip("-").replace("-", "_")
        names.add_renamed(_group(parser, spec.group_on(command), made), entry.old, dest=dest, const=value or None)
