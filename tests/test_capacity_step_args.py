"""`rtcload capacity` runs each step as an `rtcload run`: its options are the run parser's (built from the
option registry) with the step's values, not a hand-built partial Namespace that the run code had to read
with getattr and defaults of its own (issue 25)."""

from __future__ import annotations

from pathlib import Path

import pytest

from rtcload.cli import build_parser
from rtcload.loadgen.capacity_command import _step_args, run_args
from rtcload.loadgen.run_command import emulator_extra, locust_command


def _capacity(*argv: str):
    return build_parser().parse_args(["capacity", *argv])


def _run_keys() -> set[str]:
    return set(vars(build_parser().parse_args(["run"]))) - {"command", "verbose", "_run"}


def test_a_users_step_is_a_whole_run_namespace():
    step = _step_args(_capacity("--step-duration", "30s", "--think", "fixed:1", "--", "--rtc-codec", "pcmu"), 7)
    assert set(vars(step)) == _run_keys()
    assert (step.users, step.spawn_rate, step.duration, step.scenario) == (7, 7.0, "30s", "regression")
    assert step.emulator_media_path == "engine" and step.no_gate == [] and step.cps is None  # registry defaults
    cmd = locust_command(step, "ws://127.0.0.1:9/", Path("/tmp/x"))
    assert cmd[cmd.index("-u") + 1] == "7" and cmd[cmd.index("--rtc-think-time") + 1] == "fixed:1"
    assert cmd[cmd.index("--rtc-holding") + 1] == "uniform:7.5,10" and "pcmu" in cmd
    assert emulator_extra(step) == []


def test_a_cps_step_is_a_whole_run_namespace_of_the_open_model():
    step = _step_args(_capacity("--by", "cps", "--step-duration", "20s", "--media-path", "lean"), 12)
    assert set(vars(step)) == _run_keys()
    assert step.scenario == "open_calls" and step.cps == "12" and step.users > 12  # the pool prepare() sized
    cmd = locust_command(step, "ws://127.0.0.1:9/", Path("/tmp/x"))
    assert cmd[cmd.index("--rtc-cps") + 1] == "12" and cmd[cmd.index("--rtc-media-path") + 1] == "lean"
    assert cmd[cmd.index("--rtc-holding") + 1] == "uniform:1,2"


def test_a_step_value_that_is_no_run_option_is_refused():
    with pytest.raises(ValueError, match=r"not options of rtcload run: \['hold'\]"):
        run_args(hold="fixed:1")
