"""`rtcload capacity --cps`: the knee in call attempts per second against an emulator with 10 trunks.

Open-model steps (Poisson arrivals, 1 s calls) against `max_calls=10`: Erlang-B says blocking stays
under 1 % up to ~4.4 E offered (about 4 CPS here) and reaches ~20 % at 10 CPS, so the search must find
a knee in that range, name call_success_ratio as the first SLO broken and blame the target, not the
generator (whose scheduler kept every step's rate)."""

from __future__ import annotations

import json

import pytest

from rtcload.emulator import Emulator
from tests.conftest import fast_config
from tests.test_gates_slo import run_cli


@pytest.mark.timeout(300)
async def test_capacity_search_in_cps_finds_the_knee_and_blames_the_target(tmp_path, capsys):
    async with Emulator(fast_config(max_calls=10)) as emu:
        code = await run_cli(
            "capacity", "--by", "cps", "--arrival", "poisson", "--target", emu.url, "--start", "2", "--step", "4",
            "--max", "14", "--resolution", "2", "--step-duration", "10s", "--holding", "fixed:1",
            "--results", str(tmp_path), "--slo", "call_success_ratio >= 0.99", "--", "--rtc-media", "none",
        )  # fmt: skip
        rejected = emu.counters["calls_over_capacity"]
    captured = capsys.readouterr()
    report = json.loads((tmp_path / "capacity.json").read_text())
    if report["verdict"] == "generator_saturated":  # a loaded machine: then the run must say the generator's
        assert "generator" in report["message"] and code == 1
        pytest.skip(report["message"])
    assert code == 0, captured.out + captured.err
    assert report["axis"] == "CPS" and report["verdict"] == "target", report["message"]
    assert 2 <= report["knee_cps"] < 10, captured.out
    assert [f["expr"] for f in report["first_broken"]] == ["call_success_ratio >= 0.99"]
    assert rejected > 0
    for step in report["steps"]:  # every step offered its rate (a Poisson count within 4 sigma): the generator kept up
        expected = step["users"] * step["generator"]["window_s"]
        assert abs(step["generator"]["placed"] - expected) <= 4 * expected**0.5 + 1, step["generator"]
    assert "CPS" in captured.out and "knee at" in report["message"] and "CPS" in report["message"]
    assert "call attempts per second" in (tmp_path / "capacity.html").read_text()
