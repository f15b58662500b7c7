"""`rtcload capacity` against an emulator with a concurrency limit (`max_calls`) finds that limit.

Calls beyond the limit are accepted and then ended by the platform with NORMAL_CIRCUIT_CONGESTION
(503), the way an overloaded platform sheds calls.
"""

from __future__ import annotations

import json

import pytest

from rtcload.emulator import Emulator
from tests.conftest import fast_config
from tests.test_gates_slo import run_cli

LIMIT = 6
STEP = 3


@pytest.mark.timeout(300)
async def test_capacity_search_finds_the_concurrency_limit_within_one_step(tmp_path, capsys):
    async with Emulator(fast_config(max_calls=LIMIT)) as emu:
        code = await run_cli(
            "capacity", "--target", emu.url, "--start", str(STEP), "--step", str(STEP), "--max", "15",
            "--step-duration", "6s", "--holding", "uniform:1.5,2", "--warmup", "1s", "--results", str(tmp_path),
            "--slo", "call_success_ratio >= 0.99", "--slo", "call_setup p95 < 1s", "--", "--rtc-media", "none",
        )  # fmt: skip
        rejected = emu.counters["calls_over_capacity"]
    captured = capsys.readouterr()
    out = captured.out
    assert code == 0, out + captured.err
    report = json.loads((tmp_path / "capacity.json").read_text())
    assert report["verdict"] == "target", report["message"]
    assert LIMIT - STEP < report["knee_users"] <= LIMIT, out
    assert report["first_failing_users"] > report["knee_users"]
    assert [f["expr"] for f in report["first_broken"]] == ["call_success_ratio >= 0.99"]
    assert rejected > 0
    tried = [s["users"] for s in report["steps"]]
    assert STEP in tried and 2 * STEP in tried and len(tried) <= 5
    assert all(s["generator"]["saturated"] is False for s in report["steps"])
    html = (tmp_path / "capacity.html").read_text()
    assert html.count('<svg class="chart"') == 2 and "knee at" in html
