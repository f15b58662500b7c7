"""The registry of rtcload's options: every flag and RTCLOAD_* variable, its kind, unit, default and commands.

It is read from the definitions (the argparse parsers of each command, the shared tables of --rtc-*
options, the variables read only from the environment); `scripts/options_doc.py` builds it, writes
docs/options.md from it and checks in CI that the file is current. The renamed options and their old
spellings are defined once in `names.RENAMED` and built into every command's parser from there.
It imports nothing of rtcload outside `options`: it walks argparse parsers it is given.
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Iterable
from dataclasses import dataclass, replace

from rtcload.options import names
from rtcload.options.names import RENAMED

KINDS = ("duration", "bool", "count", "number", "rate", "distribution", "path", "choice", "secret", "text")
_ENV_IN_HELP = re.compile(r"\b(?:env|environment variable|or env)\s+(RTCLOAD_[A-Z0-9_]+)")
_ENV_ANY = re.compile(r"\b(RTCLOAD_[A-Z0-9_]+)\b")
_SHOWN_ENV = re.compile(r"\s*\((?:default [^;]*; )?env RTCLOAD_[A-Z0-9_]+\)$")


@dataclass(frozen=True)
class Option:
    name: str  # the flag (`--rtc-trickle`), or the variable for an option read only from the environment
    kind: str  # one of KINDS: which parser of rtcload.options.kinds reads it
    unit: str  # "s" for durations and distributions of time, "1/s" for rates, "" otherwise
    default: str
    env: str | None  # its RTCLOAD_* variable, if it has one
    help: str
    commands: tuple[str, ...]  # run, capacity, call, compare, emulator, emulator token, locust, env
    group: str = ""
    choices: tuple[str, ...] = ()


def _kind(action: argparse.Action) -> str:
    """The kind of an option as its parser declares it (a definition table may say more: `kind_of`)."""
    if isinstance(action, argparse._StoreTrueAction | argparse._StoreFalseAction):
        return "bool"
    if isinstance(action, argparse._CountAction) or action.type is int:
        return "count"
    if action.type is float:
        return "number"
    declared = getattr(action.type, "__name__", "")
    if declared in KINDS:
        return declared  # kinds.argparse_type(parse_x, ...) names its converter after the kind
    if getattr(action, "is_secret", False):
        return "secret"
    if action.choices:
        return "choice"
    return "text"


def _unit(kind: str, help_text: str) -> str:
    if kind == "duration" or (kind == "distribution" and re.search(r"\(s\)|seconds|time|duration|holding", help_text)):
        return "s"
    if kind == "rate":
        return "1/s"
    return ""


def _default(action: argparse.Action) -> str:
    default = action.default
    if default is None or default is argparse.SUPPRESS or default == [] or default is False:
        return ""
    return str(default)


def options_of(
    parser: argparse.ArgumentParser,
    command: str,
    env_of: dict[str, str] | None = None,
    kind_of: dict[str, str] | None = None,
) -> list[Option]:
    """Every option a parser takes (not -h), as registry rows of `command`; `env_of`/`kind_of` give what a
    definition table knows and the parser does not (Locust's env_var, settings' secret kind)."""
    env_of, kind_of = env_of or {}, kind_of or {}
    groups = {id(a): g.title or "" for g in parser._action_groups for a in g._group_actions}
    rows = []
    for action in parser._actions:
        if not action.option_strings or isinstance(action, argparse._HelpAction | argparse._SubParsersAction):
            continue
        if isinstance(action, names.Deprecated):  # an old spelling: listed under "Old spellings"
            continue
        name = max(action.option_strings, key=len)
        help_text = " ".join(str(action.help or "").replace("%%", "%").split())
        env = env_of.get(name) or getattr(action, "env_var", None)
        if env is None:
            found = _ENV_IN_HELP.search(help_text)
            env = found.group(1) if found else None
        help_text = _SHOWN_ENV.sub("", help_text)  # `rtcload run` repeats default and variable in the help
        kind = kind_of.get(name) or _kind(action)
        declared = getattr(action.type, "choices", ())  # names.choice: a choice with old values
        choices = tuple(str(c) for c in (action.choices or declared))
        unit = _unit(kind, help_text)
        group = groups.get(id(action), "")
        rows.append(Option(name, kind, unit, _default(action), env, help_text, (command,), group, choices))
    return rows


def subparsers_of(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    """The subcommands of a parser, by name ("emulator token" for a nested one)."""
    out: dict[str, argparse.ArgumentParser] = {}
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, child in action.choices.items():
                out[name] = child
                out.update({f"{name} {sub}": grandchild for sub, grandchild in subparsers_of(child).items()})
    return out


def merge(rows: Iterable[Option]) -> list[Option]:
    """One row per (name, kind, help): the same option on several commands lists all of them."""
    merged: dict[tuple[str, str, str], Option] = {}
    for row in rows:
        key = (row.name, row.kind, row.help)
        if key in merged:
            seen = merged[key]
            commands = tuple(dict.fromkeys((*seen.commands, *row.commands)))
            merged[key] = replace(seen, commands=commands, default=seen.default or row.default, env=seen.env or row.env)
        else:
            merged[key] = row
    return sorted(merged.values(), key=lambda o: (o.name.lstrip("-").lower(), o.commands))


def clashes(rows: Iterable[Option]) -> dict[str, list[Option]]:
    """Names that mean different things on different commands: another kind, or other choices."""
    by_name: dict[str, list[Option]] = {}
    for row in rows:
        by_name.setdefault(row.name, []).append(row)
    out = {}
    for name, same in by_name.items():
        kinds = {(o.kind, o.choices) for o in same}
        if len(kinds) > 1:
            out[name] = same
    return out


def environment_names(text: str) -> set[str]:
    """RTCLOAD_* names in a text (source code): what the registry must know."""
    return set(_ENV_ANY.findall(text)) - {"RTCLOAD_"}


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render_markdown(rows: list[Option]) -> str:
    """docs/options.md: one table of every option, then the names that still clash."""
    lines = [
        "# Options",
        "",
        "<!-- generated by scripts/options_doc.py from the option registry (rtcload/options/registry.py);",
        "     do not edit: run `python3 scripts/options_doc.py` and commit. CI fails when it is stale. -->",
        "",
        "Every flag and `RTCLOAD_*` variable of rtcload, read from the definitions of each command. Values are",
        "read by one parser per kind (`rtcload/options/kinds.py`): a **duration** is `30s`, `5m`, `250ms` or `1h`",
        "(a bare number means seconds), a **bool** is `1/true/yes/on/y` or `0/false/no/off/n`, a **distribution**",
        "is `fixed:10`, `uniform:5,15`, `normal:30,5`, `exp:60` or `lognormal:30,0.5` (seconds). `locust` marks the",
        "options of the scenarios themselves (given after `rtcload run --`, or to `locust` directly); a row named",
        "`RTCLOAD_*` is a variable with no flag. Defaults of secrets are never shown.",
        "",
        f"{len(rows)} options, {len({r.env for r in rows if r.env})} environment variables.",
        "",
        "| option | kind | unit | default | env | commands | help |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        if row.kind == "secret":
            row = replace(row, default="")
        kind = row.kind + (f" ({', '.join(row.choices)})" if row.choices else "")
        lines.append(
            f"| `{row.name}` | {_cell(kind)} | {row.unit} | {_cell(f'`{row.default}`' if row.default else '')} | "
            f"{f'`{row.env}`' if row.env else ''} | {', '.join(row.commands)} | {_cell(row.help)} |"
        )
    lines += [
        "",
        "## Old spellings (work for one more release, with a one-line deprecation warning)",
        "",
        "| old | new | commands | why |",
        "|---|---|---|---|",
    ]
    lines += [f"| `{r.old}` | `{r.new}` | {', '.join(r.commands)} | {_cell(r.why)} |" for r in RENAMED]
    found = clashes(rows)
    if found:
        lines += [
            "",
            "## Names that still mean different things",
            "",
            "Each gets one meaning in a later round (old spellings kept for a release with a deprecation warning).",
            "",
        ]
        for name, same in sorted(found.items()):
            meanings = "; ".join(f"{', '.join(o.commands)}: {o.kind}" + (f" {list(o.choices)}" if o.choices else "")
                                 for o in same)  # fmt: skip
            lines.append(f"- `{name}`: {_cell(meanings)}")
    return "\n".join(lines) + "\n"
