"""`rtcload run`'s command line: the --rtc-* options are in its help, grouped; Locust's own help after `--`."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from rtcload.loadgen.scenario_options import ALL_LOAD_OPTIONS


def rtcload(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "rtcload", *argv], capture_output=True, text=True, timeout=120)


def test_run_help_lists_every_load_option_in_its_group_and_the_exit_codes():
    done = rtcload("run", "--help")
    assert done.returncode == 0, done.stderr
    group = done.stdout.split("load options (--rtc-*")[1]
    for flag, *_rest in ALL_LOAD_OPTIONS:  # every --rtc-* option (README says so): tests/test_options_vocabulary.py
        assert f"  {flag}" in group, flag
    for text in ("--no-gate NAME", "--ice-server URL", "--relay-only", "3 run broken", "128+n"):
        assert text in " ".join(done.stdout.split()), text


def test_run_dash_dash_help_shows_locusts_own_help_and_exits_0(tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "rtcload", "run", "--", "--help"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert "--headless" in done.stdout and "--users" in done.stdout  # Locust's options
    assert "no statistics" not in done.stdout + done.stderr
    assert not (tmp_path / "rtcload-results").exists()  # nothing started, nothing written


def test_rtc_options_before_dash_dash_reach_locust_and_secrets_stay_off_the_command_line():
    from rtcload.cli import build_parser
    from rtcload.loadgen.run_command import locust_command, locust_env

    args = build_parser().parse_args(
        [
            "run",
            "--rtc-media-path",
            "lean",
            "--rtc-codec",
            "pcmu",
            "--rtc-open-password",
            "s3cret",
            "--ice-server",
            "turn:u:pw@h:1",
        ]
    )
    cmd = locust_command(args, "ws://127.0.0.1:9/", Path("/tmp/x"))
    assert cmd[cmd.index("--rtc-media-path") + 1] == "lean" and cmd[cmd.index("--rtc-codec") + 1] == "pcmu"
    assert not any("s3cret" in part or "pw@" in part for part in cmd)
    env = locust_env(args)
    assert env["RTCLOAD_OPEN_PASSWORD"] == "s3cret" and env["RTCLOAD_ICE_SERVERS"] == "turn:u:pw@h:1"


def test_holding_reaches_locust_once_and_wins_over_the_embedded_demo_default():
    """`--holding` is the call length of both models (`--rtc-holding`); the embedded run's demo default
    must not follow it on Locust's command line (the last one wins there)."""
    from rtcload.cli import build_parser
    from rtcload.loadgen import open_options
    from rtcload.loadgen.run_command import locust_command

    for argv in (["run", "--cps", "5", "--holding", "exp:1"], ["run", "--holding", "fixed:2"]):
        args = build_parser().parse_args(argv)
        open_options.prepare(args)
        cmd = locust_command(args, "ws://127.0.0.1:9/", Path("/tmp/x"))
        values = [cmd[i + 1] for i, word in enumerate(cmd) if word == "--rtc-holding"]
        assert values == [argv[-1]], cmd


def test_emulator_echo_playout_reaches_the_embedded_emulator_and_a_bad_one_is_a_usage_error(tmp_path):
    """`--emulator-echo-playout` is `rtcload emulator --echo-playout` for the embedded emulator: the emulator
    of a real run reports the delay it applied (emulator.json `media_clock.echo_playout_ms`, 60 by default);
    a value it would refuse stops `rtcload run` at once with exit 2, naming the flag."""
    results = tmp_path / "results"
    done = rtcload(
        "run", "--users", "1", "--spawn-rate", "1", "--duration", "3s", "--results", str(results), "--no-report",
        "--emulator-echo-playout", "80ms", "--rtc-holding", "fixed:1",
    )  # fmt: skip
    assert done.returncode in (0, 1, 3), done.stdout[-3000:] + done.stderr[-3000:]
    snapshot = json.loads((results / "emulator.json").read_text())
    assert snapshot["media_clock"]["echo_playout_ms"] == 80.0, snapshot["media_clock"]
    bad = rtcload("run", "--emulator-echo-playout", "soon", "--results", str(tmp_path / "bad"))
    assert bad.returncode == 2 and "--emulator-echo-playout" in bad.stderr and "250ms" in bad.stderr, bad.stderr
    assert not (tmp_path / "bad").exists()
    too_long = rtcload("run", "--emulator-echo-playout", "2s", "--results", str(tmp_path / "long"))
    assert too_long.returncode == 2 and "--emulator-echo-playout" in too_long.stderr, too_long.stderr
    assert not (tmp_path / "long").exists()
