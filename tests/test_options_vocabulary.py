"""One name per idea (issue 25): every old spelling still parses into its new option with a one-line
deprecation warning naming the new spelling; every command's --help lists every option it accepts, in
a group; `run --help` lists every --rtc-* option any scenario registers on Locust's parser, and a
scenario that registers one outside the shared tables (settings.LOAD_OPTIONS, scenario_options) fails.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from rtcload.options import names

ROOT = Path(__file__).resolve().parent.parent
ENV = {**{k: v for k, v in os.environ.items() if not k.startswith("RTCLOAD_")}, "PYTHONPATH": str(ROOT)}

# (old spelling on its command, the same with the new spelling), one per names.RENAMED entry
OLD_AND_NEW: dict[str, tuple[list[str], list[str]]] = {
    "--rtc-lean": (["run", "--rtc-lean"], ["run", "--rtc-media-path", "lean"]),
    "--emulator-lean": (["run", "--emulator-lean"], ["run", "--emulator-media-path", "lean"]),
    "--lean-media": (["emulator", "--lean-media"], ["emulator", "--media-path", "lean"]),
    "--emulator-media static": (["run", "--emulator-media", "static"], ["run", "--emulator-media", "none"]),
    "--media static": (["emulator", "--media", "static"], ["emulator", "--media", "none"]),
    "--no-media": (["call", "--no-media"], ["call", "--media", "none"]),
    "--rtc-call-duration": (["run", "--rtc-call-duration", "fixed:2"], ["run", "--rtc-holding", "fixed:2"]),
    "--hold": (["capacity", "--hold", "fixed:1"], ["capacity", "--holding", "fixed:1"]),
    "--cps": (["capacity", "--cps"], ["capacity", "--by", "cps"]),
    "--users": (["emulator", "--users", "u.csv"], ["emulator", "--users-file", "u.csv"]),
    "--emulator-users": (["run", "--emulator-users", "u.csv"], ["run", "--emulator-users-file", "u.csv"]),
    "--json": (["compare", "a.json", "b", "--json", "v.json"], ["compare", "a.json", "b", "--json-file", "v.json"]),
}  # fmt: skip


def test_every_old_spelling_is_covered():
    assert set(OLD_AND_NEW) == {r.old for r in names.RENAMED}


@pytest.mark.parametrize("old", sorted(OLD_AND_NEW))
def test_an_old_spelling_works_with_one_line_naming_the_new_one(old, capsys):
    from rtcload.cli import build_parser

    names._warned.clear()
    old_argv, new_argv = OLD_AND_NEW[old]
    by_old = vars(build_parser().parse_args(old_argv))
    warning = capsys.readouterr().err
    by_new = vars(build_parser().parse_args(new_argv))
    assert capsys.readouterr().err == ""  # the new spelling says nothing
    assert by_old == by_new
    new = names.renamed(old).new
    assert warning.splitlines() == [f"rtcload: {old} is deprecated, use {new} (it goes in the next release)"]


def test_old_locust_spellings_and_variables_still_work(monkeypatch, capsys):
    """On Locust's side (build.add_locust_options): --rtc-call-duration and --rtc-lean, RTCLOAD_CALL_DURATION."""
    from rtcload.loadgen import settings
    from rtcload.options.build import add_locust_options

    names._warned.clear()
    parser = argparse.ArgumentParser()
    add_locust_options(parser, "load")
    options = parser.parse_args(["--rtc-call-duration", "fixed:7", "--rtc-lean"])
    loaded = settings.settings_from_options(options, "ws://127.0.0.1:1/")
    assert loaded.call_duration.mean == 7 and loaded.media_path == "lean"
    assert "use --rtc-holding" in capsys.readouterr().err
    monkeypatch.setenv("RTCLOAD_CALL_DURATION", "fixed:9")
    loaded = settings.settings_from_options(argparse.Namespace(), "ws://127.0.0.1:1/")
    assert loaded.call_duration.mean == 9
    assert "RTCLOAD_CALL_DURATION is deprecated, use RTCLOAD_HOLDING" in capsys.readouterr().err
    monkeypatch.setenv("RTCLOAD_HOLDING", "fixed:3")  # the new variable wins
    assert settings.settings_from_options(argparse.Namespace(), "ws://127.0.0.1:1/").call_duration.mean == 3


def _commands() -> dict[str, argparse.ArgumentParser]:
    from rtcload.cli import build_parser
    from rtcload.options.registry import subparsers_of

    return subparsers_of(build_parser())


@pytest.mark.parametrize("command", ["run", "capacity", "call", "compare", "emulator", "emulator token"])
def test_help_lists_every_option_the_command_accepts_and_hides_old_spellings(command):
    parser = _commands()[command]
    done = subprocess.run(
        [sys.executable, "-m", "rtcload", *command.split(), "--help"],
        capture_output=True, text=True, timeout=60, env=ENV, check=True,
    )  # fmt: skip
    shown = set(re.findall(r"^  (?:-\w[^,\n]*, )?(--[a-z][a-z0-9-]*)", done.stdout, re.M))
    accepted, hidden = set(), set()
    for group in parser._action_groups:
        for action in group._group_actions:
            if not action.option_strings:
                continue
            flag = max(action.option_strings, key=len)
            (hidden if action.help == argparse.SUPPRESS else accepted).add(flag)
    assert accepted - shown == set(), "accepted but not in --help"
    old = {r.old.split()[0] for r in names.RENAMED if command in r.commands} - {"--emulator-media", "--media"}
    assert old <= hidden, "an old spelling must be accepted and hidden"
    assert not (old & shown)


# Locust's parser as a run builds it: every scenario file and the warm-up plugin loaded, their
# init_command_line_parser listeners fired; prints the visible --rtc-* flags.
LOCUST_PARSER = """
import argparse, importlib.util, sys
from locust import events
from locust.argument_parser import LocustArgumentParser
for index, path in enumerate(sys.argv[1:]):
    spec = importlib.util.spec_from_file_location(f"scenario_{index}", path)
    spec.loader.exec_module(importlib.util.module_from_spec(spec))
parser = LocustArgumentParser(add_help=False)
events.init_command_line_parser.fire(parser=parser)
for action in parser._actions:
    if action.help != argparse.SUPPRESS:
        print(*[flag for flag in action.option_strings if flag.startswith("--rtc-")])
"""


def test_run_help_lists_every_rtc_option_that_any_scenario_registers_on_locust():
    """Locust's own parser with every scenario loaded is the truth; a scenario that registers an --rtc-*
    option outside settings.LOAD_OPTIONS / scenario_options is missing from `run --help` and fails here."""
    from rtcload.loadgen.scenarios import SCENARIOS

    scenario_dir = ROOT / "rtcload" / "loadgen" / "scenarios"
    files = [*(str(scenario_dir / f"{name}.py") for name in SCENARIOS), str(ROOT / "rtcload/gates/warmup.py")]
    locust = subprocess.run(
        [sys.executable, "-c", LOCUST_PARSER, *files], capture_output=True, text=True, timeout=120, env=ENV
    )
    assert locust.returncode == 0, locust.stderr[-2000:]
    on_locust = set(locust.stdout.split())
    run = subprocess.run(
        [sys.executable, "-m", "rtcload", "run", "--help"], capture_output=True, text=True, timeout=60, env=ENV
    )
    group = run.stdout.split("load options (--rtc-*")[1]
    in_run = set(re.findall(r"^\s+(--rtc-[a-z0-9-]+)", group, re.M))
    assert len(on_locust) >= 50, sorted(on_locust)
    assert on_locust - in_run == set(), "registered on Locust's parser but not listed (and forwarded) by rtcload run"
    assert in_run - on_locust == set(), "listed by rtcload run but no scenario reads it"
