"""The option registry (issue 25): every command's parser is built from it (a flag added outside it fails,
named), docs/options.md is generated from it and current, it knows every RTCLOAD_* variable the code
reads and lists exactly the flags each command's --help shows, and no name means two things.

What needs Locust's parser runs scripts/options_doc.py in its own process (importing Locust patches
this process with gevent otherwise); the commands' own parsers are built here.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from rtcload.cli import build_parser
from rtcload.options import table
from rtcload.options.build import add_options
from rtcload.options.registry import Option, clashes, environment_names, parity, subparsers_of
from rtcload.options.table import RegistryError, parse_table

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "scripts" / "options_doc.py"


def _script(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p)}
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True, timeout=120, env=env)


@pytest.fixture(scope="module")
def registry() -> list[Option]:
    done = _script("--json")
    assert done.returncode == 0, done.stderr[-2000:]
    return [Option(**{**row, "commands": tuple(row["commands"]), "choices": tuple(row["choices"])})
            for row in json.loads(done.stdout)]  # fmt: skip


def test_options_doc_is_current(tmp_path):
    done = _script("--check")
    assert done.returncode == 0, done.stderr
    stale = tmp_path / "options.md"
    lines = (ROOT / "docs" / "options.md").read_text(encoding="utf-8").splitlines(keepends=True)
    stale.write_text("".join(line for line in lines if "`--rtc-trickle`" not in line), encoding="utf-8")
    done = _script("--check", "--doc", str(stale))
    assert done.returncode == 1 and "stale" in done.stderr  # a flag missing from the doc fails CI


def test_every_variable_the_code_reads_is_registered(registry):
    in_code: set[str] = set()
    for path in (ROOT / "rtcload").rglob("*.py"):
        in_code |= environment_names(path.read_text(encoding="utf-8"))
    known = {o.env for o in registry if o.env} | {o.name for o in registry}
    assert in_code - known == set(), "add them to the registry (rtcload/options/registry.toml)"
    assert len({o.env for o in registry if o.env}) >= 60


@pytest.mark.parametrize("command", ["run", "capacity", "call", "compare", "emulator"])
def test_every_flag_of_a_commands_help_is_registered(registry, command):
    done = subprocess.run(
        [sys.executable, "-m", "rtcload", command, "--help"], capture_output=True, text=True, timeout=60,
        env={**os.environ, "PYTHONPATH": str(ROOT)}, check=True,
    )  # fmt: skip
    # argparse puts each option at the start of a line, indented two spaces ("  -v, --verbose", "  --cps CPS")
    shown = set(re.findall(r"^  (?:-\w[^,\n]*, )?(--[a-z][a-z0-9-]*)", done.stdout, re.M)) - {"--help"}
    assert len(shown) > 3, done.stdout
    registered = {o.name for o in registry if command in o.commands and o.name.startswith("-")}
    hidden = {s.name for s in table.of(command) if s.hidden}
    assert shown == registered - hidden, (sorted(shown - registered), sorted(registered - hidden - shown))


def test_every_kind_is_a_parser_kind(registry):
    from rtcload.options.registry import KINDS

    assert {o.kind for o in registry} <= set(KINDS)
    assert {o.kind for o in registry if o.name in ("--duration", "--warmup", "--step-duration")} == {"duration"}


def test_every_name_means_one_thing_on_every_command(registry):
    """The clashes of the first round are gone: --cps is a rate (capacity steps `--by cps`), --users a count
    (the emulator's CSV is --users-file), --media-path one choice set, --json a switch (compare writes
    --json-file); their old spellings are tests/test_options_vocabulary.py's."""
    found = clashes(registry)
    assert not found, {name: [(o.commands, o.kind, o.choices) for o in rows] for name, rows in found.items()}


def _commands() -> dict:
    top = build_parser()
    return {"rtcload": top, **subparsers_of(top)}


def test_every_commands_parser_is_the_registrys():
    assert parity(_commands()) == []
    assert len(table.of("run")) >= 90 and len(table.of("locust")) >= 55  # the --rtc-* ones come from it too


def test_a_flag_added_outside_the_registry_fails_naming_it():
    parsers = _commands()
    parsers["compare"].add_argument("--zzz", help="a flag nobody registered")
    assert parity(parsers) == [
        "compare: --zzz is not in the registry: add it to rtcload/options/registry.toml "
        "and build it with rtcload.options.build.add_options, not a bare add_argument"
    ]
    bare = argparse.ArgumentParser()  # `compare` without --min-samples: a row its parser misses
    for action in parsers["compare"]._actions:
        if action.option_strings and "--min-samples" not in action.option_strings and action.dest != "help":
            bare._add_action(action)
    assert "compare: --min-samples is in rtcload/options/registry.toml but its parser does not take it" in parity(
        {"compare": bare}
    )


def test_ci_fails_on_a_stray_flag_of_a_command_or_of_a_scenario():
    """The check CI runs (.ci/run: options_doc.py --check), with a bare add_argument in a command and in a
    Locust init_command_line_parser listener beside the scenarios' (build.add_locust_options): it exits 1
    and names both."""
    stray = (
        "import sys; sys.argv = ['options_doc.py', '--check']; sys.path.insert(0, 'scripts')\n"
        "from locust import events\n"
        "from rtcload.loadgen import capacity_command\n"
        "add = capacity_command.add_arguments\n"
        "capacity_command.add_arguments = lambda p: (add(p), p.add_argument('--zzz'))\n"
        "events.init_command_line_parser.add_listener(lambda parser, **_: parser.add_argument('--rtc-zzz'))\n"
        "import options_doc; sys.exit(options_doc.main())\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-c", stray], capture_output=True, text=True, timeout=120, cwd=ROOT, env=env)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "capacity: --zzz is not in the registry" in done.stderr
    assert "locust: --rtc-zzz is not in the registry" in done.stderr


@pytest.mark.parametrize(
    ("row", "expected"),
    [
        (
            'name = "--a"\nkind = "text"\nhelp = "h"\ncommands = ["run"]\nkinds = "x"',
            "row 1: unknown field(s) ['kinds']",
        ),
        ('name = "--a"\nkind = "speed"\nhelp = "h"\ncommands = ["run"]', "row 1 (--a): kind 'speed'"),
        ('name = "--a"\nkind = "text"\nhelp = " "\ncommands = ["run"]', "row 1 (--a): an empty help"),
        ('name = "--a"\nkind = "text"\nhelp = "h"\ncommands = ["walk"]', "row 1 (--a): commands ['walk']"),
        ('name = "RTCLOAD_A"\nkind = "text"\nhelp = "h"\ncommands = ["run"]', "named by its variable"),
        ('name = "--a"\nkind = "text"\nhelp = "h"\ncommands = ["run"]\ntype = "kind"', "a text has no parser"),
    ],
)
def test_the_registry_refuses_a_malformed_row_naming_it(row, expected):
    with pytest.raises(RegistryError) as caught:
        parse_table(f"[[option]]\n{row}\n", "t.toml")
    assert expected in str(caught.value)


def test_one_name_is_one_option_per_command():
    row = '[[option]]\nname = "--a"\nkind = "text"\nhelp = "h"\ncommands = ["run"]\n'
    with pytest.raises(RegistryError, match=r"--a is given twice to run \(rows 1 and 2\)"):
        parse_table(row + row)


def test_what_code_knows_is_checked_against_the_registry_not_restated():
    with pytest.raises(RegistryError, match=r"--media-path: the code says choices = \('engine',\)"):
        add_options(argparse.ArgumentParser(), "emulator", same={"--media-path": {"choices": ("engine",)}})
    with pytest.raises(RegistryError, match=r"--scenario: its help needs \{scenarios\}"):
        add_options(argparse.ArgumentParser(), "run")  # the list of scenarios is the code's
    with pytest.raises(RegistryError, match=r"\['--nope'\] are not options of call"):
        add_options(argparse.ArgumentParser(), "call", same={"--nope": {"default": 1}})


def test_each_option_is_built_with_its_rows_default_choices_and_kind():
    parsers = _commands()
    for command, parser in parsers.items():
        actions = {max(a.option_strings, key=len): a for a in parser._actions if a.option_strings}
        for spec in table.of(command):
            if not spec.is_flag or "locust" in spec.commands:
                continue
            action = actions[spec.name]
            if spec.default is not None and spec.name != "--control-token":  # read from the environment
                assert action.default == spec.default, (command, spec.name)
            if spec.choices and not spec.old_values:
                assert tuple(action.choices) == spec.choices, (command, spec.name)
            if spec.type == "kind":
                assert action.type.__name__ == spec.kind, (command, spec.name)  # the kind's own parser
            assert (action.help == argparse.SUPPRESS) == spec.hidden, (command, spec.name)
    call = parsers["call"].parse_args(["--duration", "2m"])
    assert call.duration == 120.0  # a duration parsed as the registry says (kinds.parse_duration)
