"""The declarative registry of rtcload's options, read from registry.toml: one row per option and meaning.

Every command's parser is built from these rows (`build.add_options`, and the --rtc-* tables of the
scenarios through `load_table`), so a name, its kind, default, variable and help are written once, here.
The table is checked as it is read: unknown fields, kinds or commands, a name given twice to one command,
and an empty help are errors that name the row. It imports nothing of rtcload outside `options`.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, fields
from functools import cache
from pathlib import Path
from typing import Any

TABLE = Path(__file__).with_name("registry.toml")
KINDS = ("duration", "bool", "count", "number", "rate", "distribution", "path", "choice", "secret", "text")
PARSED_KINDS = ("duration", "bool", "count", "number", "rate", "distribution", "path")  # kinds.parse_<kind>
UNITS = ("", "s", "1/s")
COMMANDS = ("rtcload", "run", "emulator", "emulator token", "capacity", "call", "compare", "locust")
ACTIONS = ("", "store_true", "count", "append")
TYPES = ("", "int", "float", "str", "kind")
# the --rtc-* tables of the scenarios (group of a `locust` row): settings, open model, soak, warm-up plugin
LOAD_GROUPS = ("load", "open model", "soak", "warm-up")
_ENV = re.compile(r"RTCLOAD_[A-Z0-9_]+")


class RegistryError(ValueError):
    """registry.toml is malformed, or code and table disagree (the message names the option)."""


@dataclass(frozen=True)
class Spec:
    """One option as the registry declares it (the fields of a registry.toml row)."""

    name: str  # the flag (`--rtc-trickle`), or the variable of an option read only from the environment
    kind: str  # one of KINDS: the parser of rtcload.options.kinds that reads its values
    help: str
    commands: tuple[str, ...]
    unit: str = ""  # "s", "1/s" or ""
    default: Any = None
    env: str = ""  # its RTCLOAD_* variable, if it has one
    group: str | tuple[tuple[str, str], ...] = ""  # its --help section ("" = the command's own), or one per command
    choices: tuple[str, ...] = ()
    old_values: tuple[tuple[str, str], ...] = ()  # old spelling of a value -> the new one (with a warning)
    aliases: tuple[str, ...] = ()
    action: str = ""  # "" (store a value), store_true, count or append
    type: str = ""  # "" (keep the text), int, float, str, or kind (parsed by the kind's parser when read)
    metavar: str = ""
    dest: str = ""
    hidden: bool = False  # parsed but not listed by --help (kept for old scripts)

    def group_on(self, command: str) -> str:
        """The --help section this option is listed in on `command`."""
        return self.group if isinstance(self.group, str) else dict(self.group).get(command, "")

    @property
    def is_flag(self) -> bool:
        return self.name.startswith("-")

    @property
    def load_kind(self) -> str:
        """The kind column of the scenarios' --rtc-* tables: bool, secret, int, float or str."""
        if self.action == "store_true":
            return "bool"
        if self.kind == "secret":
            return "secret"
        return self.type if self.type in ("int", "float") else "str"


_FIELDS = {f.name for f in fields(Spec)}


def _spec(row: dict[str, Any], at: str) -> Spec:
    unknown = set(row) - _FIELDS
    if unknown:
        raise RegistryError(f"{at}: unknown field(s) {sorted(unknown)}; fields are {sorted(_FIELDS)}")
    missing = {"name", "kind", "help", "commands"} - set(row)
    if missing:
        raise RegistryError(f"{at}: missing {sorted(missing)}")
    values = dict(row)
    for key in ("commands", "choices", "aliases"):
        values[key] = tuple(values.get(key, ()))
    values["old_values"] = tuple(sorted(dict(values.get("old_values", {})).items()))
    if isinstance(values.get("group"), dict):
        values["group"] = tuple(values["group"].items())
    spec = Spec(**values)
    checks = (
        (spec.kind in KINDS, f"kind {spec.kind!r}: one of {', '.join(KINDS)}"),
        (set(spec.commands) <= set(COMMANDS) and spec.commands, f"commands {list(spec.commands)}: of {COMMANDS}"),
        (spec.action in ACTIONS, f"action {spec.action!r}: one of {ACTIONS}"),
        (spec.type in TYPES, f"type {spec.type!r}: one of {TYPES}"),
        (spec.type != "kind" or spec.kind in PARSED_KINDS, f"type kind: a {spec.kind} has no parser of its own"),
        (spec.unit in UNITS, f"unit {spec.unit!r}: one of {UNITS}"),
        (bool(spec.help.strip()), "an empty help: say what the option does"),
        (not spec.env or _ENV.fullmatch(spec.env), f"env {spec.env!r}: RTCLOAD_ and capitals"),
        (spec.is_flag or spec.name == spec.env, "a row without a flag is named by its variable (name = env)"),
        (
            isinstance(spec.group, str) or {c for c, _t in spec.group} <= set(spec.commands),
            "a group per command names a command the row does not list",
        ),
    )
    for ok, what in checks:
        if not ok:
            raise RegistryError(f"{at} ({spec.name}): {what}")
    return spec


def parse_table(text: str, source: str = "registry.toml") -> tuple[Spec, ...]:
    """The rows of a registry table; a name given twice to one command is an error naming both."""
    try:
        rows = tomllib.loads(text).get("option", [])
    except tomllib.TOMLDecodeError as exc:
        raise RegistryError(f"{source}: {exc}") from None
    specs = tuple(_spec(row, f"{source} row {n + 1}") for n, row in enumerate(rows))
    seen: dict[tuple[str, str], int] = {}
    for n, spec in enumerate(specs):
        for command in spec.commands:
            for name in (spec.name, *spec.aliases):
                if (command, name) in seen:
                    raise RegistryError(f"{source}: {name} is given twice to {command} (rows {seen[command, name]} "
                                        f"and {n + 1}): one name, one meaning")  # fmt: skip
                seen[command, name] = n + 1
    return specs


@cache
def specs() -> tuple[Spec, ...]:
    """Every row of rtcload/options/registry.toml, in its order."""
    return parse_table(TABLE.read_text(encoding="utf-8"), str(TABLE.name))


def of(command: str) -> tuple[Spec, ...]:
    """The options of one command, in the table's order."""
    return tuple(s for s in specs() if command in s.commands)


def spec(command: str, name: str) -> Spec | None:
    return next((s for s in of(command) if name == s.name or name in s.aliases), None)


def load_table(group: str) -> tuple[tuple[str, str, Any, str, str], ...]:
    """A scenario's --rtc-* options as (flag, env, default, help, kind) rows (settings.LOAD_OPTIONS' shape)."""
    if group not in LOAD_GROUPS:
        raise RegistryError(f"no --rtc-* group {group!r}: one of {LOAD_GROUPS}")
    return tuple(
        (s.name, s.env, s.default if s.default is not None else "", s.help, s.load_kind)
        for s in of("locust")
        if s.group == group
    )


def check_defaults(rows: tuple[tuple[str, str, Any, str, str], ...], code: dict[str, Any]) -> None:
    """Code constants that a --rtc-* table's defaults must equal (the registry states them once)."""
    declared = {flag: default for flag, _env, default, _help, _kind in rows}
    for flag, value in code.items():
        if declared.get(flag) != value:
            raise RegistryError(
                f"{flag}: the code's default is {value!r}, registry.toml says {declared.get(flag)!r}; "
                "update rtcload/options/registry.toml (and run scripts/options_doc.py)"
            )
