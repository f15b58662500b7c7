"""`rtcload capacity` against an emulator that rejects calls beyond a concurrency limit finds that limit.

The emulator has no capacity knob yet, so this test wraps its call handler: an invite that would make
more than LIMIT calls live at once is accepted and then ended by the platform with
NORMAL_CIRCUIT_CONGESTION (503), the way an overloaded platform sheds calls.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from rtcload.emulator import Emulator
from rtcload.protocol.methods import Method
from tests.conftest import fast_config
from tests.test_gates_slo import run_cli

LIMIT = 6
STEP = 3


def limit_concurrent_calls(emu: Emulator, limit: int) -> None:
    """Wrap the emulator's call dispatch: calls over `limit` live legs are shed right after the invite."""
    original = emu.calls.handle

    async def handle(conn: Any, session: Any, request: Any) -> None:
        if request.method != Method.INVITE:
            await original(conn, session, request)
            return
        over = sum(1 for leg in emu.legs.values() if not leg.ended) >= limit
        before = set(emu.legs)
        await original(conn, session, request)
        if over:
            emu.counters["capacity_rejected"] += 1
            for call_id in set(emu.legs) - before:
                await emu.calls.remote_bye(emu.legs[call_id], "NORMAL_CIRCUIT_CONGESTION")

    emu.calls.handle = handle  # type: ignore[method-assign]


@pytest.mark.timeout(300)
async def test_capacity_search_finds_the_concurrency_limit_within_one_step(tmp_path, capsys):
    async with Emulator(fast_config()) as emu:
        limit_concurrent_calls(emu, LIMIT)
        code = await run_cli(
            "capacity", "--target", emu.url, "--start", str(STEP), "--step", str(STEP), "--max", "15",
            "--step-duration", "6s", "--hold", "uniform:1.5,2", "--warmup", "1s", "--results", str(tmp_path),
            "--slo", "call_success_ratio >= 0.99", "--slo", "call_setup p95 < 1s", "--", "--rtc-media", "none",
        )  # fmt: skip
        rejected = emu.counters["capacity_rejected"]
    out = capsys.readouterr().out
    assert code == 0, out
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
