"""The option registry (issue 25): docs/options.md is generated from it and current, it knows every
RTCLOAD_* variable the code reads and every flag each command's --help shows, and it reports the
names that still mean different things on different commands.

The registry is built by scripts/options_doc.py in its own process (it imports Locust, which
patches this process with gevent otherwise).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from rtcload.options.registry import Option, clashes, environment_names

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
    assert in_code - known == set(), "add them to the registry (scripts/options_doc.py ENV_ONLY or a flag)"
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
    registered = {o.name for o in registry if command in o.commands}
    assert shown <= registered, sorted(shown - registered)


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
