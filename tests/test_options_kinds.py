"""One parser per kind of option value, and one reader of the environment (issue 25).

Table tests of each parser in rtcload.options.kinds; the switches that used to disagree on what
"on" means (settings' RTCLOAD_TRICKLE, the media layer's RTCLOAD_ENGINE_NATIVE) read the same words;
the duration spellings of SLO files, CPS steps, soak faults and `rtcload call --duration` agree; and
a walk over the code base fails when a module reads os.environ/os.getenv around the shared parsers.
"""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from rtcload.distributions import Distribution
from rtcload.gates.slo import SLOError
from rtcload.gates.slo import parse_duration as slo_duration
from rtcload.loadgen.settings import settings_from_options
from rtcload.loadgen.soak import parse_fault_schedule
from rtcload.media.engine.native import native_available, native_enabled
from rtcload.media.heap import ENV_FREEZE
from rtcload.media.switches import switched_off
from rtcload.netem.impairment import SpecError, parse_impairment
from rtcload.options import env, kinds
from rtcload.traffic import parse_rate_plan, parse_seconds

ROOT = Path(__file__).resolve().parent.parent
# The only modules of rtcload allowed to touch os.environ / os.getenv.
ENV_READERS = {"rtcload/options/env.py"}


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("30s", 30.0),
        ("5m", 300.0),
        ("250ms", 0.25),
        ("1h", 3600.0),
        ("30", 30.0),
        (" 1.5 s ", 1.5),
        (".5", 0.5),
        ("2M", 120.0),
        ("0", 0.0),
        (12, 12.0),
        (0.25, 0.25),
    ],
)
def test_duration_table(text, seconds):
    assert kinds.parse_duration(text, "--x") == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["soon", "", "-5s", "5 d", "1e3", "s", "nan", float("inf"), -1, True])
def test_duration_refuses_and_names_the_option(text):
    with pytest.raises(kinds.OptionError, match="--step-duration"):
        kinds.parse_duration(text, "--step-duration")


@pytest.mark.parametrize("word", ["1", "true", "yes", "on", "y", "TRUE", " Yes ", "Y", True])
def test_bool_true_words(word):
    assert kinds.parse_bool(word, "RTCLOAD_X") is True


@pytest.mark.parametrize("word", ["0", "false", "no", "off", "n", "OFF", " No", "N", False])
def test_bool_false_words(word):
    assert kinds.parse_bool(word, "RTCLOAD_X") is False


@pytest.mark.parametrize("word", ["maybe", "", "2", "enable", "tru"])
def test_bool_anything_else_is_an_error_naming_the_variable_and_the_words(word):
    with pytest.raises(kinds.OptionError) as caught:
        kinds.parse_bool(word, "RTCLOAD_TRICKLE")
    message = str(caught.value)
    assert "RTCLOAD_TRICKLE" in message and "yes" in message and "off" in message and "/n " in message + " "


@pytest.mark.parametrize(("text", "value"), [("10", 10), ("0", 0), (" 7 ", 7), ("10.0", 10), (3, 3)])
def test_count_table(text, value):
    assert kinds.parse_count(text, "--users") == value


@pytest.mark.parametrize(("text", "minimum"), [("-1", 0), ("1.5", 0), ("ten", 0), ("0", 1), ("inf", 0)])
def test_count_refuses(text, minimum):
    with pytest.raises(kinds.OptionError, match="--users"):
        kinds.parse_count(text, "--users", minimum)


@pytest.mark.parametrize(
    ("text", "per_second"), [("5", 5.0), ("5/s", 5.0), ("300/m", 5.0), ("0.5", 0.5), ("7200/h", 2.0)]
)
def test_rate_table(text, per_second):
    assert kinds.parse_rate(text, "--cps") == pytest.approx(per_second)


@pytest.mark.parametrize("text", ["-1", "fast", "5/d", "nan"])
def test_rate_refuses(text):
    with pytest.raises(kinds.OptionError, match="--cps"):
        kinds.parse_rate(text, "--cps")


def test_number_bounds():
    assert kinds.parse_number("0.3", "--rtc-hold-share", 0, 1) == pytest.approx(0.3)
    with pytest.raises(kinds.OptionError, match="between 0 and 1"):
        kinds.parse_number("1.5", "--rtc-hold-share", 0, 1)
    with pytest.raises(kinds.OptionError, match="not a number"):
        kinds.parse_number("half", "--rtc-hold-share", 0, 1)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("fixed:10", Distribution("fixed", 10.0)),
        ("uniform:5,15", Distribution("uniform", 5.0, 15.0)),
        ("3", Distribution("fixed", 3.0)),
    ],
)
def test_distribution_table(text, expected):
    assert kinds.parse_distribution(text, "--rtc-holding") == expected


def test_distribution_refuses_naming_the_option():
    with pytest.raises(kinds.OptionError, match="--rtc-holding: bad distribution kind 'gauss'"):
        kinds.parse_distribution("gauss:1,2", "--rtc-holding")


def test_path(tmp_path):
    assert kinds.parse_path("", "--rtc-ledger") is None
    assert kinds.parse_path(str(tmp_path), "--rtc-ledger", must_exist=True) == tmp_path
    with pytest.raises(kinds.OptionError, match=r"--rtc-ca-file.*no such file"):
        kinds.parse_path(str(tmp_path / "missing.pem"), "--rtc-ca-file", must_exist=True)


def test_argparse_type_prints_our_message():
    import argparse

    parser = argparse.ArgumentParser()
    parser.add_argument("--duration", type=kinds.argparse_type(kinds.parse_duration, "--duration"))
    assert parser.parse_args(["--duration", "2m"]).duration == 120.0
    with pytest.raises(SystemExit):
        parser.parse_args(["--duration", "soon"])


# --- the duplicate parsers are gone: every duration spelling agrees -------------------------------


@pytest.mark.parametrize("text", ["30s", "5m", "250ms", "1h", "30", "1.5s"])
def test_every_duration_reader_agrees(text):
    expected = kinds.parse_duration(text, "x")
    assert slo_duration(text) == expected
    assert parse_seconds(text) == expected
    assert parse_fault_schedule(f"every={text},action=drop")[0].every_s == expected
    plan = parse_rate_plan(steps="1,2", step_duration=text)
    assert plan.steps[0][1] == expected


def test_duration_errors_keep_their_kind():
    with pytest.raises(SLOError, match="soon"):
        slo_duration("soon")
    with pytest.raises(ValueError, match="every"):
        parse_fault_schedule("every=soon,action=drop")


def test_fault_schedule_keep_sessions_is_a_boolean_word():
    """`keep_sessions=no` used to be the truthy string "no"."""
    assert parse_fault_schedule("every=5s,action=drop,keep_sessions=no")[0].params["keep_sessions"] is False
    assert parse_fault_schedule("every=5s,action=drop,keep_sessions=y")[0].params["keep_sessions"] is True
    with pytest.raises(ValueError, match="keep_sessions"):
        parse_fault_schedule("every=5s,action=drop,keep_sessions=perhaps")


def test_impairment_flags_share_the_words():
    assert parse_impairment("reorder=y,delay=10ms").reorder is True
    assert parse_impairment("reorder=n,delay=10ms").reorder is False
    with pytest.raises(SpecError, match="reorder"):
        parse_impairment("reorder=maybe")


# --- the environment switches that used to disagree -----------------------------------------------


def test_settings_boolean_variables_take_y(monkeypatch):
    """RTCLOAD_TRICKLE=y used to read as off (settings knew only 1/true/yes/on)."""
    monkeypatch.setenv("RTCLOAD_TRICKLE", "y")
    monkeypatch.setenv("RTCLOAD_CALL_REPORTS", "n")
    settings = settings_from_options(None, "ws://127.0.0.1:9/")
    assert settings.trickle is True and settings.call_reports is False
    monkeypatch.setenv("RTCLOAD_TRICKLE", "off")
    assert settings_from_options(None, "ws://127.0.0.1:9/").trickle is False


def test_settings_boolean_variable_bad_word_is_an_error(monkeypatch):
    monkeypatch.setenv("RTCLOAD_TRICKLE", "maybe")
    with pytest.raises(ValueError, match=r"RTCLOAD_TRICKLE.*not a boolean"):
        settings_from_options(None, "ws://127.0.0.1:9/")


def test_media_switches_take_n(monkeypatch):
    """RTCLOAD_ENGINE_NATIVE=n used to leave the native path on (switches knew only 0/false/no/off)."""
    monkeypatch.setenv(ENV_FREEZE, "n")
    assert switched_off(ENV_FREEZE)
    monkeypatch.setenv(ENV_FREEZE, "yes")
    assert not switched_off(ENV_FREEZE)
    monkeypatch.delenv(ENV_FREEZE)
    assert not switched_off(ENV_FREEZE)
    monkeypatch.setenv("RTCLOAD_ENGINE_NATIVE", "n")
    assert native_enabled() is False
    monkeypatch.setenv("RTCLOAD_ENGINE_NATIVE", "y")
    assert native_enabled() is native_available()
    monkeypatch.setenv("RTCLOAD_ENGINE_NATIVE", "maybe")
    if native_available():
        with pytest.raises(kinds.OptionError, match="RTCLOAD_ENGINE_NATIVE"):
            native_enabled()


def test_env_readers(monkeypatch):
    monkeypatch.setenv("RTCLOAD_TEST_D", "2m")
    monkeypatch.setenv("RTCLOAD_TEST_C", "  ")
    assert env.duration("RTCLOAD_TEST_D", 1.0) == 120.0
    assert env.count("RTCLOAD_TEST_C", 4) == 4  # blank is unset
    assert env.given("RTCLOAD_TEST_C") is None and env.is_set("RTCLOAD_TEST_C")
    monkeypatch.setenv("RTCLOAD_TEST_C", "x")
    with pytest.raises(kinds.OptionError, match="RTCLOAD_TEST_C"):
        env.count("RTCLOAD_TEST_C", 4)


def test_locust_gets_normalised_booleans(monkeypatch):
    """Locust's env parser (configargparse) knows no `y`: `rtcload run` hands it true/false."""
    from rtcload.cli import build_parser
    from rtcload.loadgen.run_command import locust_env

    monkeypatch.setenv("RTCLOAD_TRICKLE", "y")
    monkeypatch.setenv("RTCLOAD_INSECURE", "N")
    args = build_parser().parse_args(["run"])
    env_for_locust = locust_env(args)
    assert env_for_locust["RTCLOAD_TRICKLE"] == "true" and env_for_locust["RTCLOAD_INSECURE"] == "false"
    monkeypatch.setenv("RTCLOAD_TRICKLE", "maybe")
    with pytest.raises(ValueError, match="RTCLOAD_TRICKLE"):
        locust_env(args)


# --- `rtcload call --duration` takes the duration kind --------------------------------------------


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    path = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p)
    return subprocess.run(
        [sys.executable, "-m", "rtcload", *args],
        capture_output=True,
        text=True,
        timeout=90,
        env={**os.environ, "PYTHONPATH": path},
    )


def test_call_duration_takes_units_and_bare_seconds():
    server = subprocess.Popen(
        [sys.executable, "-m", "rtcload", "emulator", "--port", "0", "--media", "none"],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    try:
        assert server.stdout is not None
        url = server.stdout.readline().split("listening on ")[1].split()[0]
        for spelling in ("500ms", "0.5"):
            done = _cli("call", "--target", url, "--media", "none", "--duration", spelling, "--json")
            out = json.loads(done.stdout)
            assert done.returncode == 0 and out["ok"] and out["cause"] == "NORMAL_CLEARING", done.stderr[-2000:]
    finally:
        server.terminate()
        server.wait(10)
    bad = _cli("call", "--target", "ws://127.0.0.1:9/", "--duration", "soon")
    assert bad.returncode == 2 and "--duration='soon' is not a duration" in bad.stderr


# --- no module reads the environment around the shared parsers ------------------------------------


def _environment_reads(source: str) -> list[int]:
    """Lines that touch os.environ / os.getenv / a bare `environ` or `getenv` imported from os."""
    tree = ast.parse(source)
    imported = {
        alias.asname or alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and node.module == "os"
        for alias in node.names
        if alias.name in ("environ", "getenv", "environb", "getenvb")
    }
    lines = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and node.attr in ("environ", "getenv", "environb", "getenvb"):
            if isinstance(node.value, ast.Name) and node.value.id == "os":
                lines.append(node.lineno)
        elif isinstance(node, ast.Name) and node.id in imported:
            lines.append(node.lineno)
    return lines


def environment_readers(root: Path) -> dict[str, list[int]]:
    found = {}
    for path in sorted((root / "rtcload").rglob("*.py")):
        rel = path.relative_to(root).as_posix()
        lines = _environment_reads(path.read_text(encoding="utf-8"))
        if lines and rel not in ENV_READERS:
            found[rel] = lines
    return found


def test_no_module_reads_the_environment_around_the_shared_parsers():
    found = environment_readers(ROOT)
    assert not found, (
        "read RTCLOAD_* variables through rtcload.options.env (parsed by rtcload.options.kinds), not os.environ: "
        + ", ".join(f"{path}:{lines}" for path, lines in found.items())
    )


def test_the_walk_catches_a_new_bypass():
    """The walk must be able to fail: each way of reading the environment is caught."""
    assert _environment_reads("import os\nx = os.environ.get('RTCLOAD_X', '0')\n") == [2]
    assert _environment_reads("import os\nx = os.getenv('RTCLOAD_X')\n") == [2]
    assert _environment_reads("from os import environ\nx = environ['RTCLOAD_X']\n") == [2]
    assert _environment_reads("from os import getenv as g\nx = g('RTCLOAD_X')\n") == [2]
    assert _environment_reads("import os\nx = os.path.join('a')\n") == []
