"""`rtcload run --config run.toml` and `--print-config`: every option of a run in one file, for CI.

A run file holds the same options as the command line, by the same names without `--`: general ones at
the top level, the others in the table of their `--help` group ([emulator], [ice], [gates], [outputs],
[open]); the --rtc-* load options go in [rtc] without their prefix (`call-duration` is
--rtc-holding), Locust's own options in `locust-args`. Precedence is flag > environment > file >
default: a file value is used only when the flag was not given and its RTCLOAD_* variable is not set.
Every value goes through the same argparse action (and kind parser) as the flag, so the file and the
command line cannot disagree on what a value means. Secrets are masked wherever the configuration is
shown or recorded (the summary's `options`).
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from rtcload.loadgen.scenario_options import ALL_LOAD_OPTIONS as LOAD_OPTIONS
from rtcload.options import env as process_env
from rtcload.options import kinds, names, runfile, table
from rtcload.options.runfile import RunFileError

# table -> the start of its argparse group's title (run_command.add_arguments)
TABLES = {
    "emulator": "embedded emulator",
    "ice": "ICE / TURN",
    "gates": "gates",
    "outputs": "outputs",
    "open": "open-model load",
    "rtc": "load options",
}
NOT_IN_FILE = ("--config", "--print-config")
LOCUST_KEY = "locust-args"
# kinds of options argparse keeps as text, from the registry: the file's values go through the same parser
# as a flag's (a rate is left out: --cps also takes a ramp START:END:DURATION)
_BY_KIND = {"duration": kinds.parse_duration, "distribution": kinds.parse_distribution}
_BY_LOAD_KIND = {"float": kinds.parse_number, "int": kinds.parse_count}
KIND_OF = {s.name: _BY_KIND[s.kind] for s in table.of("run") if s.kind in _BY_KIND}
KIND_OF.update(
    {
        s.name: _BY_LOAD_KIND[s.load_kind]
        for s in table.of("run")
        if "locust" in s.commands and s.load_kind in _BY_LOAD_KIND
    }
)
ENV_OF = {s.name: s.env for s in table.of("run") if s.env}
RTC_DEFAULTS = {flag: default for flag, _e, default, _h, _k in LOAD_OPTIONS}


class _Raising(argparse.ArgumentParser):
    def error(self, message: str) -> Any:  # argparse would print usage and exit 2
        raise RunFileError(message)


AddArguments = Callable[[argparse.ArgumentParser], None]


def run_parser(add: AddArguments, suppress: bool = True) -> argparse.ArgumentParser:
    """`rtcload run`'s parser (`add` is run_command.add_arguments); with `suppress`, only what is given
    lands in the namespace."""
    parser = _Raising(prog="rtcload run", add_help=False)
    add(parser)
    if suppress:
        for action in parser._actions:
            action.default = argparse.SUPPRESS
    return parser


@dataclass(frozen=True)
class Spec:
    flag: str
    action: argparse.Action
    table: str  # "" for the top level


def specs(parser: argparse.ArgumentParser) -> dict[str, Spec]:
    """Every option of the run, by flag, with the file table it belongs in."""
    out = {}
    for group in parser._action_groups:
        title = group.title or ""
        table = next((name for name, start in TABLES.items() if title.startswith(start)), "")
        for action in group._group_actions:
            hidden = action.help == argparse.SUPPRESS  # an old spelling (names.RENAMED): not a file key
            if action.option_strings and action.option_strings[0] not in NOT_IN_FILE and not hidden:
                flag = max(action.option_strings, key=len)
                out[flag] = Spec(flag, action, table)
    return out


def file_key(spec: Spec) -> str:
    name = spec.flag.removeprefix("--")
    return name.removeprefix("rtc-") if spec.table == "rtc" else name


def example(spec: Spec) -> str:
    """A correct line for this key, shown with every error about it."""
    action, key = spec.action, file_key(spec)
    if isinstance(action, argparse._StoreTrueAction):
        value = "true"
    elif spec.flag == "--slo":
        value = '["registration p95 < 500ms", "call_success_ratio >= 0.99"]'
    elif isinstance(action, argparse._AppendAction):
        value = f'["{action.choices[0] if action.choices else "stun:127.0.0.1:3478"}"]'
    elif action.choices:
        value = f'"{next(iter(action.choices))}"'
    elif action.type is int or KIND_OF.get(spec.flag) is kinds.parse_count:
        value = "10"
    elif action.type is float or KIND_OF.get(spec.flag) is kinds.parse_number:
        value = "0.5"
    elif KIND_OF.get(spec.flag) is kinds.parse_duration:
        value = '"30s"'
    elif KIND_OF.get(spec.flag) is kinds.parse_distribution:
        value = '"uniform:3,5"'
    else:
        default = RTC_DEFAULTS.get(spec.flag, "")
        value = json.dumps(str(default) if default not in ("", None) else "text")
    return f"[{spec.table}]\n    {key} = {value}" if spec.table else f"{key} = {value}"


def _tokens(spec: Spec, value: Any) -> list[str]:
    """The command-line words that give this value (a file value is parsed exactly like a flag)."""
    action = spec.action
    if isinstance(action, argparse._StoreTrueAction):
        if not isinstance(value, bool):
            raise RunFileError("a switch takes true or false")
        return [spec.flag] if value else []
    if isinstance(action, argparse._AppendAction):
        items = value if isinstance(value, list) else [value]
        if not all(isinstance(item, str) for item in items):
            raise RunFileError("takes a list of strings")
        return [word for item in items for word in (spec.flag, item)]
    if isinstance(value, bool | list | dict):
        raise RunFileError("takes one value (a string or a number)")
    text = str(value)
    parse = KIND_OF.get(spec.flag)
    if parse is not None:
        parse(text, spec.flag)  # OptionError names the option and the accepted form
    return [spec.flag, text]


@dataclass
class FileValues:
    values: dict[str, Any] = field(default_factory=dict)  # flag -> parsed value
    tokens: dict[str, list[str]] = field(default_factory=dict)  # flag -> command-line words
    locust_args: list[str] = field(default_factory=list)


def read_run_file(path: str, add: AddArguments) -> FileValues:
    """Validate the whole file: unknown keys, wrong tables and bad values are RunFileErrors naming the line."""
    parser = run_parser(add)
    by_flag = specs(parser)
    by_key = {(spec.table, file_key(spec)): spec for spec in by_flag.values()}
    out = FileValues()
    for entry in runfile.read(path):
        at = runfile.where(path, entry)
        key = entry.key.replace("_", "-")
        if entry.table and entry.table not in TABLES:
            raise RunFileError(
                f"{at}: unknown table [{entry.table}]{runfile.did_you_mean(entry.table, TABLES)}; "
                f"tables are {', '.join(f'[{t}]' for t in TABLES)}"
            )
        if not entry.table and key == LOCUST_KEY:
            if not isinstance(entry.value, list) or not all(isinstance(v, str) for v in entry.value):
                raise RunFileError(
                    f'{at}: {LOCUST_KEY} takes a list of strings, e.g.\n    {LOCUST_KEY} = ["--loglevel", "WARNING"]'
                )
            out.locust_args = list(entry.value)
            continue
        spec = by_key.get((entry.table, key))
        if spec is None:
            raise RunFileError(_unknown(at, entry.table, key, by_key))
        try:
            words = _tokens(spec, entry.value)
            parsed = vars(parser.parse_args(words)) if words else {}
        except (RunFileError, kinds.OptionError) as exc:
            raise RunFileError(
                f"{at}: {key} = {entry.value!r}: {exc}\n  a correct example:\n    {example(spec)}"
            ) from None
        out.tokens[spec.flag] = words
        out.values[spec.flag] = parsed.get(spec.action.dest, False)
    return out


def _unknown(at: str, table: str, key: str, by_key: dict[tuple[str, str], Spec]) -> str:
    place = f"in [{table}]" if table else "at the top level"
    elsewhere = [t for (t, k) in by_key if k == key]
    if elsewhere:
        right = f"[{elsewhere[0]}]" if elsewhere[0] else "the top level"
        return f"{at}: {key} belongs in {right}, not {place}:\n    {example(by_key[(elsewhere[0], key)])}"
    old = next((r for r in names.RENAMED if r.old.split()[0] in (f"--{key}", f"--rtc-{key}")), None)
    if old is not None:
        return f"{at}: {key} is an old spelling: {old.old} is now {old.new} ({old.why})"
    same_table = [k for (t, k) in by_key if t == table]
    return f"{at}: unknown key {key!r} {place}{runfile.did_you_mean(key, same_table)}"


def _given(args: argparse.Namespace, add: AddArguments) -> set[str]:
    """Flags given on the command line (including --rtc-* after `--`)."""
    argv = getattr(args, "_argv", None)
    parser = run_parser(add)
    if argv is None:  # built by another command (capacity): what differs from the defaults was given
        defaults = run_parser(add, suppress=False)
        return {
            flag
            for flag, spec in specs(parser).items()
            if hasattr(args, spec.action.dest)
            and getattr(args, spec.action.dest) != defaults.get_default(spec.action.dest)
        }
    words = list(argv)
    words = words[words.index("run") + 1 :] if "run" in words else words
    given = {flag for flag, spec in specs(parser).items() if spec.action.dest in vars(parser.parse_args(words))}
    passthrough = [w.split("=", 1)[0] for w in (getattr(args, "locust_args", None) or [])]
    return given | {w for w in passthrough if w.startswith("--rtc-")}


@dataclass
class Effective:
    """Where each option of this run came from: flag, env, file or default."""

    sources: dict[str, str]
    file: str | None
    add: AddArguments
    demo_defaults: Callable[[argparse.Namespace], dict[str, str]]  # of the run as configured


def apply(
    args: argparse.Namespace, add: AddArguments, demo_defaults: Callable[[argparse.Namespace], dict[str, str]]
) -> Effective:
    """Fill `args` from the run file where neither a flag nor an environment variable gave the option;
    `demo_defaults` are the --rtc-* defaults of an embedded run (shown as such)."""
    given = _given(args, add)
    path = getattr(args, "config", None)
    from_file = read_run_file(path, add) if path else FileValues()
    sources: dict[str, str] = {}
    for flag, spec in specs(run_parser(add)).items():
        env = ENV_OF.get(flag)
        if flag in given:
            sources[flag] = "flag"
        elif env and process_env.given(env) is not None:
            sources[flag] = f"env {env}"
        elif flag in from_file.values:
            if from_file.values[flag] is not False or not flag.startswith("--rtc-"):  # a --rtc-* switch is forwarded
                setattr(args, spec.action.dest, from_file.values[flag])  # when present: false = leave it out
            sources[flag] = "file"
        else:
            sources[flag] = "default"
    if from_file.locust_args:
        args.locust_args = [*from_file.locust_args, *(a for a in (args.locust_args or []) if a != "--")]
    return Effective(sources, path, add, demo_defaults)


def effective_values(args: argparse.Namespace, effective: Effective) -> dict[str, Any]:
    """flag -> the value in force (secrets masked); --rtc-* options not given show their default or variable."""
    out: dict[str, Any] = {}
    after_dashes = _after_dashes(args)
    demo = effective.demo_defaults(args)
    for flag, spec in specs(run_parser(effective.add)).items():
        source = effective.sources.get(flag, "default")
        if hasattr(args, spec.action.dest):
            value = getattr(args, spec.action.dest)
        elif flag in after_dashes:
            value = after_dashes[flag]
        elif source.startswith("env "):
            value = process_env.text(source.removeprefix("env "))
        elif flag in demo and not getattr(args, "target", None):
            value = demo[flag]
            effective.sources[flag] = "default (embedded demo)"
        else:
            value = RTC_DEFAULTS.get(flag)
        out[flag] = runfile.masked(flag, value)
    passthrough = [a for a in (getattr(args, "locust_args", None) or []) if a != "--"]
    out[LOCUST_KEY] = passthrough
    return out


def _after_dashes(args: argparse.Namespace) -> dict[str, Any]:
    """--rtc-* options given after `--` (Locust parses them): flag -> value (True for a switch)."""
    words = [w for w in (getattr(args, "locust_args", None) or []) if w != "--"]
    out: dict[str, Any] = {}
    for i, word in enumerate(words):
        flag, eq, value = word.partition("=")
        if not flag.startswith("--rtc-"):
            continue
        if eq:
            out[flag] = value
        elif i + 1 < len(words) and not words[i + 1].startswith("--"):
            out[flag] = words[i + 1]
        else:
            out[flag] = True
    return out


def recorded(args: argparse.Namespace, effective: Effective) -> dict[str, Any]:
    """For summary.json: the effective options and their sources (secrets masked)."""
    return {"values": effective_values(args, effective), "sources": effective.sources, "file": effective.file}


def render(args: argparse.Namespace, effective: Effective) -> str:
    values = effective_values(args, effective)
    width = max(len(flag) for flag in values)
    lines = [
        "effective configuration of rtcload run (precedence: flag > environment > file > default)"
        + (f"; run file {effective.file}" if effective.file else ""),
    ]
    for flag, value in values.items():
        shown = json.dumps(value) if not isinstance(value, str) else value
        source = effective.sources.get(flag, "flag" if value else "default")
        lines.append(f"  {flag:<{width}}  {shown if shown != '' else '-'}  [{source}]")
    return "\n".join(lines)
