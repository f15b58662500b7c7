"""Build a command's argparse options from the registry (registry.toml), so no command names an option itself.

`add_options(parser, "call")` adds every option the table gives `call`, in the table's order, each in
its --help group, with its kind's conversion, default, choices and old values. What only code knows is
passed in and checked, never restated: `fmt` fills a `{placeholder}` of a help text (the list of
scenarios), and `same` states a code constant the table must equal (a default, a choice set), so the
two cannot drift apart silently. The scenarios' --rtc-* options (`commands = ["locust"]`) are put on
Locust's parser by `add_locust_options`, one group of the table per call, from each scenario's
`init_command_line_parser` listener: the one builder of every Locust option and its old spellings.
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from rtcload.options import env, kinds, names, table
from rtcload.options.table import LOAD_GROUPS, PARSED_KINDS, RegistryError, Spec, of

_PARSE = {kind: getattr(kinds, f"parse_{kind}") for kind in PARSED_KINDS}
_PLACEHOLDER = re.compile(r"\{[a-z_]+\}")
_TYPES: dict[str, Any] = {"int": int, "float": float, "str": str}
# the --help section of each --rtc-* group on Locust's parser (title, description)
LOCUST_TITLES: dict[str, tuple[str, str]] = {
    "load": ("rtcload", "WebRTC call load options"),
    "open model": ("rtcload open-model load (--rtc-cps)", ""),
    "soak": ("rtcload soak (soak_reconnect)", ""),
    "warm-up": ("rtcload warm-up (gates/warmup.py)", ""),
}


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
    (`--media static`) are the rows' old_values."""
    _old_spellings(command, rows, lambda spec: _group(parser, spec.group_on(command), made))


def _old_spellings(command: str, rows: Mapping[str, Spec], place: Callable[[Spec], Any]) -> None:
    for entry in names.RENAMED:
        if command not in entry.commands or " " in entry.old:
            continue
        new, _, value = entry.new.partition(" ")
        spec = rows.get(new)
        if spec is None:
            continue
        dest = spec.dest or new.lstrip("-").replace("-", "_")
        names.add_renamed(place(spec), entry.old, dest=dest, const=value or None)


def add_old_spellings(target: Any, command: str, flags: Iterable[str]) -> None:
    """The old spellings (names.RENAMED) of these options of `command`, added to `target` (a parser or a
    group): for `rtcload run`, whose --rtc-* options are listed from the scenarios' tables."""
    rows = {s.name: s for s in (table.spec(command, flag) for flag in flags) if s is not None}
    _old_spellings(command, rows, lambda _spec: target)


def locust_argument(spec: Spec) -> tuple[tuple[str, ...], dict[str, Any]]:
    """One --rtc-* row as a Locust custom argument. Its default is its RTCLOAD_* variable when set (read by
    rtcload.options.env, so a switch is parsed by kinds.parse_bool, and the web UI shows the value the run
    uses), else the renamed variable's (names.RENAMED_ENV, with a warning), else the registry's."""
    shown = "" if spec.hidden else f" (env {spec.env})" if spec.env else ""
    kw: dict[str, Any] = {"help": _help(spec, {}) if spec.hidden else spec.help.replace("%", "%%") + shown}
    if spec.action == "store_true":
        kw.update(action="store_true", default=env.flag(spec.env, bool(spec.default)) if spec.env else False)
        return (spec.name,), kw
    default = "" if spec.default is None else spec.default
    kw["default"] = env.renamed_text(spec.env, default) if spec.env else default
    if spec.type == "kind":
        kw["type"] = kinds.argparse_type(_PARSE[spec.kind], spec.name)
    else:
        kw["type"] = _TYPES.get(spec.type, str)
    return (spec.name,), kw


def add_locust_options(parser: Any, group: str) -> list[argparse.Action]:
    """Every --rtc-* option of one group of the registry (`load`, `open model`, `soak`, `warm-up`) on
    Locust's parser (or a plain argparse one), in its --help section, with the old spellings names.RENAMED
    gives `locust`. On Locust's parser each is a web UI field (`include_in_web_ui`) unless it is a secret:
    a secret's value (it may come from its variable) never reaches the browser."""
    if group not in LOAD_GROUPS:
        raise RegistryError(f"no --rtc-* group {group!r}: one of {LOAD_GROUPS}")
    rows = [s for s in of("locust") if s.is_flag and s.group == group]
    title, description = LOCUST_TITLES[group]
    section = next((g for g in parser._action_groups if g.title == title), None)
    section = section or parser.add_argument_group(title, description or None)
    web_ui = hasattr(parser, "args_included_in_web_ui")  # a LocustArgumentParser
    actions = []
    for spec in rows:
        flags, kw = locust_argument(spec)
        action = section.add_argument(*flags, **kw)
        if web_ui:  # what LocustArgumentParser.add_argument sets (an argument group does not take the keywords)
            action.include_in_web_ui = spec.kind != "secret" and not spec.hidden
            action.is_secret = spec.kind == "secret"
            action.is_required = action.is_multiple = False
        actions.append(action)
    _old_spellings("locust", {s.name: s for s in rows}, lambda _spec: section)
    return actions
