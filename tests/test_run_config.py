"""Run files (`rtcload run --config run.toml`): precedence, validation with lines and examples, secrets
masked in --print-config, and the proof that examples/ci.toml runs the same run as its flags.

The last test runs two short real runs (~15 s each) against the embedded emulator, one after the other.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def rtcload(*argv: str, env: dict[str, str] | None = None, cwd: Path | None = None, timeout: float = 120):
    base = {k: v for k, v in os.environ.items() if not k.startswith("RTCLOAD_")}
    return subprocess.run(
        [sys.executable, "-m", "rtcload", *argv],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**base, **(env or {})},
        cwd=cwd,
    )


def config_lines(stdout: str) -> dict[str, tuple[str, str]]:
    """--print-config's lines: flag -> (value, source)."""
    out = {}
    for line in stdout.splitlines()[1:]:
        flag, rest = line.split(None, 1)
        value, _sep, source = rest.rpartition("  [")
        out[flag] = (value.strip(), source.rstrip("]"))
    return out


def test_precedence_is_flag_then_environment_then_file_then_default(tmp_path):
    run_file = tmp_path / "run.toml"
    run_file.write_text(
        'users = 3\nduration = "15s"\n\n[rtc]\ncodec = "pcma"\nholding = "fixed:2"\n'
        '[gates]\nslo = ["call_success_ratio >= 0.9"]\n'
    )
    done = rtcload(
        "run", "--config", str(run_file), "--users", "7", "--print-config", "--", "--rtc-dtmf", "99#",
        env={"RTCLOAD_CODEC": "pcmu"},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    shown = config_lines(done.stdout)
    assert shown["--users"] == ("7", "flag")  # the flag beats the file
    assert shown["--rtc-codec"] == ("pcmu", "env RTCLOAD_CODEC")  # the environment beats the file
    assert shown["--duration"] == ("15s", "file")
    assert shown["--rtc-holding"] == ("fixed:2", "file")
    assert shown["--slo"] == ('["call_success_ratio >= 0.9"]', "file")
    assert shown["--spawn-rate"] == ("5.0", "default")
    assert shown["--rtc-dtmf"] == ("99#", "flag")  # given after `--`, for Locust
    assert not (tmp_path / "rtcload-results").exists()  # --print-config runs nothing


def test_print_config_masks_every_secret(tmp_path):
    run_file = tmp_path / "run.toml"
    run_file.write_text(
        '[rtc]\nopen-password = "file-pw-123"\n[ice]\nice-server = ["turn:alice:ice-pw-456@127.0.0.1:3478"]\n'
    )
    done = rtcload(
        "run",
        "--config",
        str(run_file),
        "--print-config",
        env={"RTCLOAD_ICE_SERVERS": "turn:bob:env-pw-789@127.0.0.1:1"},
    )
    assert done.returncode == 0, done.stderr
    for secret in ("file-pw-123", "ice-pw-456", "env-pw-789", "alice", "bob"):
        assert secret not in done.stdout + done.stderr
    shown = config_lines(done.stdout)
    assert shown["--rtc-open-password"] == ("***", "file")
    assert shown["--rtc-ice-servers"] == ("***", "env RTCLOAD_ICE_SERVERS")


@pytest.mark.parametrize(
    "text, expected",
    [
        ("users = 4\nuserz = 3\n", ["run.toml:2:", "unknown key 'userz' at the top level", "did you mean 'users'?"]),
        ('\n\nusers = "ten"\n', ["run.toml:3:", "--users", "a correct example:", "users = 10"]),
        ('[gates]\nwarmup = "soon"\n', ["run.toml:2:", "is not a duration", '[gates]\n    warmup = "30s"']),
        ('[rtc]\nholdin = "fixed:3"\n', ["run.toml:2:", "did you mean 'holding'?"]),
        ('[rtc]\ncall-duration = "fixed:3"\n', ["run.toml:2:", "--rtc-call-duration is now --rtc-holding"]),
        ('slo = ["mos p50 >= 4"]\n', ["run.toml:1:", "slo belongs in [gates]", "slo = ["]),
        ('[rtc]\ntrickle = "yes"\n', ["run.toml:2:", "true or false", "trickle = true"]),
        ('[open]\narrival = "weird"\n', ["run.toml:2:", "invalid choice", 'arrival = "poisson"']),
        ('[emulatr]\nimpair-up = "3g"\n', ["unknown table [emulatr]", "did you mean 'emulator'?"]),
        ("users = [\n", ["not valid TOML"]),
    ],
)
def test_a_bad_run_file_is_a_usage_error_naming_the_line_with_a_correct_example(tmp_path, text, expected):
    (tmp_path / "run.toml").write_text(text)
    done = rtcload("run", "--config", "run.toml", "--print-config", cwd=tmp_path)
    assert done.returncode == 2, done.stdout + done.stderr
    for part in expected:
        assert part in done.stderr, (part, done.stderr)
    assert done.stderr.count("Traceback") == 0


def test_the_examples_are_valid_run_files():
    for name in ("ci", "capacity", "soak"):
        done = rtcload("run", "--config", str(ROOT / "examples" / f"{name}.toml"), "--print-config", cwd=ROOT)
        assert done.returncode == 0, (name, done.stderr)
        assert "[file]" in done.stdout


# examples/ci.toml, spelled as flags
CI_FLAGS = [
    "--scenario", "smoke", "--users", "4", "--spawn-rate", "4", "--duration", "15s",
    "--rtc-holding", "uniform:3,5", "--rtc-think-time", "uniform:0.5,1.5", "--rtc-stats-interval", "1",
    "--rtc-codec", "opus", "--warmup", "0s",
    "--slo", "call_success_ratio >= 0.9", "--slo", "call_setup p95 < 5s", "--slo", "one_way_calls == 0",
]  # fmt: skip


def test_the_ci_run_file_gives_the_same_run_as_its_flags(tmp_path):
    by_file = rtcload(
        "run", "--config", str(ROOT / "examples" / "ci.toml"), "--results", str(tmp_path / "file"), timeout=240
    )
    by_flags = rtcload("run", *CI_FLAGS, "--results", str(tmp_path / "flags"), timeout=240)
    assert by_file.returncode in (0, 1), by_file.stderr[-2000:]
    assert by_flags.returncode in (0, 1), by_flags.stderr[-2000:]
    file_summary = json.loads((tmp_path / "file" / "summary.json").read_text())
    flag_summary = json.loads((tmp_path / "flags" / "summary.json").read_text())
    file_values = dict(file_summary["options"]["values"])
    flag_values = dict(flag_summary["options"]["values"])
    assert file_values.pop("--results") != flag_values.pop("--results")
    assert file_values == flag_values  # every option of the run, in force with the same value
    assert file_summary["options"]["file"].endswith("ci.toml") and flag_summary["options"]["file"] is None
    sources = file_summary["options"]["sources"]
    assert sources["--users"] == "file" and sources["--results"] == "flag"
    assert flag_summary["options"]["sources"]["--users"] == "flag"
    # the same structure of the summary: gates, SLOs, calls and metrics keys (not their timing values)
    for key in ("gates", "slo"):
        assert [g["name"] for g in file_summary[key]] == [g["name"] for g in flag_summary[key]], key
    assert [s["name"] for s in file_summary["slo"]] == ["call_success_ratio >= 0.9", "call_setup p95 < 5s",
                                                         "one_way_calls == 0"]  # fmt: skip
    assert file_summary["calls"].keys() == flag_summary["calls"].keys()
    assert file_summary["warmup_s"] == flag_summary["warmup_s"] == 0.0
    assert file_summary["scenario"] == flag_summary["scenario"] == "smoke"
    assert file_summary["calls"]["answered"] > 0 and flag_summary["calls"]["answered"] > 0
