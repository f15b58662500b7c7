"""The registry of rtcload's options as docs/options.md shows it, and the check that parsers and registry agree.

The options are declared once, in registry.toml (read by `table`); every command's parser is built
from it (`build`). `scripts/options_doc.py` builds every parser, checks with `parity` that each flag a
parser takes is a row of the registry and each row is in its command's parser (a flag added with a bare
`add_argument` fails CI, named), and writes docs/options.md from the registry (`doc_rows`). The renamed
options and their old spellings are defined once in `names.RENAMED`.
It imports nothing of rtcload outside `options`: it walks argparse parsers it is given.
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace

from rtcload.options import names, table
from rtcload.options.names import RENAMED
from rtcload.options.table import KINDS

__all__ = ["KINDS", "Option", "clashes", "doc_rows", "environment_names", "parity", "render_markdown"]
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


def subparsers_of(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    """The subcommands of a parser, by name ("emulator token" for a nested one)."""
    out: dict[str, argparse.ArgumentParser] = {}
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, child in action.choices.items():
                out[name] = child
                out.update({f"{name} {sub}": grandchild for sub, grandchild in subparsers_of(child).items()})
    return out


def flags_of(parser: argparse.ArgumentParser) -> dict[str, argparse.Action]:
    """The options a parser takes, by their longest spelling (not -h, not an old spelling)."""
    return {
        max(a.option_strings, key=len): a
        for a in parser._actions
        if a.option_strings and not isinstance(a, argparse._HelpAction | names.Deprecated)
    }


def parity(parsers: Mapping[str, argparse.ArgumentParser]) -> list[str]:
    """What is wrong between the registry and the parsers built from it, one line per option (empty: none):
    a flag a parser takes that the registry does not give that command, or a row missing from its parser."""
    problems = []
    for command, parser in parsers.items():
        taken = flags_of(parser)
        declared = {s.name for s in table.of(command) if s.is_flag}
        for name in sorted(set(taken) - declared):
            problems.append(
                f"{command}: {name} is not in the registry: add it to rtcload/options/registry.toml "
                "and build it with rtcload.options.build.add_options, not a bare add_argument"
            )
        for name in sorted(declared - set(taken)):
            problems.append(f"{command}: {name} is in rtcload/options/registry.toml but its parser does not take it")
        for name in sorted(declared & set(taken)):
            spec = table.spec(command, name)
            hidden = taken[name].help == argparse.SUPPRESS
            if spec is not None and hidden != spec.hidden:
                problems.append(f"{command}: {name} is {'' if hidden else 'not '}hidden, the registry says otherwise")
    return problems


def _text(help_text: str) -> str:
    return _SHOWN_ENV.sub("", " ".join(help_text.replace("%%", "%").split()))


def _shown_default(value: object) -> str:
    if value is None or value is False or value == []:
        return ""
    return str(value)


def doc_rows(parsers: Mapping[str, argparse.ArgumentParser]) -> list[Option]:
    """One row per registry entry. A help with a {placeholder} is shown as its command's parser fills it."""
    rows = []
    for spec in table.specs():
        help_text = _text(spec.help)
        if "{" in spec.help:
            built = [flags_of(parsers[c]).get(spec.name) for c in spec.commands if c in parsers]
            help_text = next((_text(str(a.help)) for a in built if a is not None), help_text)
        rows.append(
            Option(spec.name, spec.kind, spec.unit, _shown_default(spec.default), spec.env or None, help_text,
                   spec.commands, spec.group_on(spec.commands[0]), spec.choices)
        )  # fmt: skip
    return sorted(rows, key=lambda o: (o.name.lstrip("-").lower(), o.commands))


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
        "<!-- generated by scripts/options_doc.py from the option registry (rtcload/options/registry.toml);",
        "     do not edit: run `python3 scripts/options_doc.py` and commit. CI fails when it is stale. -->",
        "",
        "Every flag and `RTCLOAD_*` variable of rtcload, as the registry declares it; every command's parser is",
        "built from the same registry, and CI fails on a flag that is not in it. Values are",
        "read by one parser per kind (`rtcload/options/kinds.py`): a **duration** is `30s`, `5m`, `250ms` or `1h`",
        "(a bare number means seconds), a **bool** is `1/true/yes/on/y` or `0/false/no/off/n`, a **distribution**",
        "is `fixed:10`, `uniform:5,15`, `normal:30,5`, `exp:60` or `lognormal:30,0.5` (seconds). `locust` marks the",
        "options of the scenarios themselves (given after `rtcload run --`, or to `locust` directly); a row named",
        "`RTCLOAD_*` is a variable with no flag. Defaults of secrets are never shown.",
        "",
        "To add an option, add a row to `rtcload/options/registry.toml` (its fields are described at the top of",
        "the file): the parsers of the commands it names take it from there. Then run",
        "`python3 scripts/options_doc.py`. A flag given to a parser with a bare `add_argument` fails CI, named.",
        "A `locust` row's `group` (load, open model, soak, warm-up) says which scenario's Locust listener adds",
        "it (`build.add_locust_options`), with its variable as default, in the web UI unless a secret.",
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
