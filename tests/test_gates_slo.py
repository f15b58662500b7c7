"""SLO gates on real runs: `rtcload run --slo ...` against the in-process emulator, exit codes, messages, JUnit."""

from __future__ import annotations

import asyncio
import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from rtcload.cli import main
from rtcload.emulator import Emulator
from rtcload.gates.slo import SLOError, evaluate, load_slo_file, parse_slo
from tests.conftest import fast_config

# Signaling-only, short calls: enough samples in a few seconds without media.
FAST_LOAD = ["--rtc-media", "none", "--rtc-holding", "fixed:0.5", "--rtc-think-time", "fixed:0.2"]


async def run_cli(*argv: str) -> int:
    """`rtcload ...` in a thread, so the in-process emulator keeps serving on this event loop."""
    return await asyncio.wait_for(asyncio.to_thread(main, list(argv)), 150)


async def rtcload_run(emu: Emulator, results: Path, *slo_args: str, users: int = 4, duration: str = "5s") -> int:
    return await run_cli(
        "run", "--target", emu.url, "--scenario", "regression", "--users", str(users), "--spawn-rate", str(users),
        "--duration", duration, "--results", str(results), *slo_args, "--", *FAST_LOAD,
    )  # fmt: skip


def assert_junit(path: Path, tests: int, failures: int, suite_name: str = "rtcload.slo.regression") -> ET.Element:
    """The elements and attributes of the common JUnit schema (Jenkins/Surefire, what CI systems read).

    The default gates have their own suite (`rtcload.gates`, all held in these runs); `tests`/`failures`
    are the SLO suite's."""
    root = ET.parse(path).getroot()
    assert root.tag == "testsuites"
    suites = {s.get("name"): s for s in root.findall("testsuite")}
    gates = suites["rtcload.gates"]
    assert int(gates.get("failures", "-1")) == 0 and int(gates.get("tests", "0")) == 4
    suite = suites[suite_name]
    for attr in ("name", "tests", "failures", "errors", "time"):
        assert attr in suite.attrib, attr
    cases = suite.findall("testcase")
    assert int(suite.get("tests", "-1")) == len(cases) == tests
    failed = [c for c in cases if c.find("failure") is not None]
    assert int(suite.get("failures", "-1")) == len(failed) == failures
    for case in cases:
        assert case.get("name") and case.get("classname") and case.get("time") is not None
        assert set(case.attrib) <= {"name", "classname", "time", "file", "line"}
        for child in case:
            assert child.tag in ("failure", "error", "skipped", "system-out", "system-err")
    for case in failed:
        failure = case.find("failure")
        assert failure is not None and failure.get("message") and failure.get("type")
    float(suite.get("time", "x"))
    return suite


async def test_slos_that_hold_pass_with_exit_zero(tmp_path, capsys):
    async with Emulator(fast_config()) as emu:
        code = await rtcload_run(
            emu, tmp_path, "--slo", "call_success_ratio >= 0.99", "--slo", "call_setup p95 < 2s",
            "--slo", "registration_failures == 0", "--slo", "post_dial_delay mean < 500ms",
        )  # fmt: skip
    out = capsys.readouterr()
    assert code == 0, out.out + out.err
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["schema"] == "rtcload.summary/1" and summary["passed"] is True
    assert [r["passed"] for r in summary["slo"]] == [True] * 4
    assert summary["calls"]["attempted"] >= 8
    assert "SLOs: 4/4 passed" in out.out
    assert_junit(tmp_path / "junit.xml", tests=4, failures=0)


async def test_a_broken_slo_fails_the_run_with_a_clear_message(tmp_path, capsys):
    # the emulator answers after 50 ms, so call setup cannot be under 10 ms
    async with Emulator(fast_config()) as emu:
        code = await rtcload_run(emu, tmp_path, "--slo", "call_setup p50 < 10ms", "--slo", "call_success_ratio >= 0.99")
    out = capsys.readouterr()
    assert code == 1, out.out + out.err
    assert "rtcload run: SLO FAILED: 1 SLO(s) failed: call_setup p50 < 10ms: observed" in out.err
    assert len(out.err.strip().splitlines()) == 1  # one line says why
    line = next(x for x in out.out.splitlines() if "FAIL  call_setup p50 < 10ms" in x)
    assert "observed" in line and "limit < 10.0 ms: violated by" in line
    summary = json.loads((tmp_path / "summary.json").read_text())
    observed = summary["metrics"]["call_setup"]["p50"]
    assert observed >= 0.05 and summary["passed"] is False
    suite = assert_junit(tmp_path / "junit.xml", tests=2, failures=1)
    failure = suite.find("testcase[@name='call_setup p50 < 10ms']/failure")
    assert failure is not None and "violated" in failure.get("message", "")


def test_rules_read_units_and_reject_nonsense():
    assert parse_slo("registration p95 < 500ms").threshold == pytest.approx(0.5)
    assert parse_slo("packet_loss mean <= 1%").threshold == pytest.approx(0.01)
    assert parse_slo("mos p50 >= 4.0").threshold == 4.0
    assert parse_slo("one_way_calls == 0").stat is None
    for bad in ("mos p50 >= 4 ms", "latency p95 < 1s", "registration < 1s", "call_success_ratio p50 > 1", "x"):
        with pytest.raises(SLOError):
            parse_slo(bad)
    # a time without a unit is refused with an example, never read as seconds
    with pytest.raises(SLOError, match=r"needs a unit.*'post_dial_delay p95 < 300ms'"):
        parse_slo("post_dial_delay p95 < 300")
    # a bare ratio is a fraction; a percentage needs its %
    assert parse_slo("call_success_ratio >= 0.99").threshold == pytest.approx(0.99)
    with pytest.raises(SLOError, match="packet_loss mean < 2%"):
        parse_slo("packet_loss mean < 2")


async def test_a_bare_number_on_a_time_is_a_usage_error_with_exit_2(capsys):
    code = await run_cli("run", "--slo", "post_dial_delay p95 < 300")
    err = capsys.readouterr().err
    assert code == 2 and "needs a unit" in err and "e.g. 'post_dial_delay p95 < 300ms'" in err


def test_slo_file_merges_global_and_scenario_rules(tmp_path):
    path = tmp_path / "slo.toml"
    path.write_text(
        'warmup = "5s"\nslo = ["call_success_ratio >= 0.99", {expr = "mos p50 >= 4.0", name = "good audio"}]\n'
        '[scenarios.regression]\nwarmup = "2s"\nslo = ["post_dial_delay p95 < 300ms"]\n'
    )
    regression = load_slo_file(path, "regression")
    assert [s.label for s in regression.slos] == [
        "call_success_ratio >= 0.99",
        "good audio",
        "post_dial_delay p95 < 300ms",
    ]
    assert regression.warmup_s == 2.0
    smoke = load_slo_file(path, "smoke")
    assert len(smoke.slos) == 2 and smoke.warmup_s == 5.0
    # a metric without samples is a failure, not a silent pass
    verdict = evaluate([parse_slo("mos p50 >= 4.0")], {"metrics": {}, "calls": {}, "failures": []})[0]
    assert not verdict.passed and "no data" in verdict.message
