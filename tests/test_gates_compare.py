"""`rtcload compare` on real runs: an injected answer delay is a regression; a rerun of the same load is not."""

from __future__ import annotations

import json

from rtcload.emulator import Emulator
from tests.conftest import fast_config
from tests.test_gates_slo import rtcload_run, run_cli


async def test_compare_flags_a_slower_answer_and_ignores_run_to_run_noise(tmp_path, capsys):
    runs = {name: tmp_path / name for name in ("base", "same", "slow")}
    async with Emulator(fast_config()) as emu:
        for name in ("base", "same"):
            assert await rtcload_run(emu, runs[name], "--no-report") == 0
        # same load, but the emulator answers 600 ms after ringing (":1" is the destination's weight)
        slow = await run_cli(
            "run", "--target", emu.url, "--scenario", "regression", "--users", "4", "--spawn-rate", "4",
            "--duration", "5s", "--results", str(runs["slow"]), "--no-report", "--",
            "--rtc-media", "none", "--rtc-holding", "fixed:0.5", "--rtc-think-time", "fixed:0.2",
            "--rtc-destinations", "echo;answer=fixed:0.6:1",
        )  # fmt: skip
        assert slow == 0
    capsys.readouterr()

    noise = await run_cli("compare", str(runs["base"] / "summary.json"), str(runs["same"] / "summary.json"))
    out = capsys.readouterr().out
    assert noise == 0, out
    assert "0 regression(s)" in out

    verdicts = tmp_path / "verdicts.json"
    junit = tmp_path / "compare.xml"
    regressed = await run_cli(
        "compare", str(runs["base"] / "summary.json"), str(runs["slow"] / "summary.json"),
        "--json-file", str(verdicts), "--junit", str(junit),
    )  # fmt: skip
    out = capsys.readouterr().out
    assert regressed == 1, out
    checks = {c["key"]: c for c in json.loads(verdicts.read_text())}
    assert checks["call_setup.p50"]["verdict"] == "regressed"
    assert checks["call_setup.p50"]["delta"] > 0.4
    assert checks["post_dial_delay.p50"]["verdict"] != "regressed"  # ringing was not delayed
    assert "REGRESSED    call_setup.p50" in out
    assert junit.exists() and 'failures="0"' not in junit.read_text()


async def test_a_merged_baseline_records_spread_and_widens_the_allowance(tmp_path, capsys):
    runs = [tmp_path / f"r{i}" for i in range(2)]
    async with Emulator(fast_config()) as emu:
        for where in runs:
            assert await rtcload_run(emu, where, "--no-report", duration="4s") == 0
    baseline = tmp_path / "baseline.json"
    assert await run_cli("compare", "--merge", str(baseline), *(str(r / "summary.json") for r in runs)) == 0
    merged = json.loads(baseline.read_text())
    assert merged["baseline"]["runs"] == 2 and "call_setup.p95" in merged["baseline"]["spread"]
    capsys.readouterr()
    verdicts = tmp_path / "verdicts.json"
    assert await run_cli("compare", str(baseline), str(runs[0] / "summary.json"), "--json-file", str(verdicts)) == 0
    checks = json.loads(verdicts.read_text())
    spread = [c for c in checks if c["spread"] > 0 and c["verdict"] != "insufficient"]
    assert spread, checks  # two real runs never agree on every figure
    assert all(c["allowed"] >= 2 * c["spread"] for c in spread)
