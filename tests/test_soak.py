"""A bounded soak in CI: long calls with real media while sockets drop and the platform restarts;
nothing is left behind on the emulator and the generator's resources do not grow."""

from __future__ import annotations

import json

from rtcload.emulator import Emulator
from rtcload.emulator.aiortc_answerer import AiortcAnswerer
from tests.conftest import fast_config
from tests.test_loadgen import SCENARIOS, locust, stats_rows

TOKEN = "Soak-Control-Token-000000000001"


async def test_bounded_soak_with_faults_leaves_nothing_behind(tmp_path):
    report_path = tmp_path / "resources.json"
    async with Emulator(fast_config(control_token=TOKEN, grace_s=20), AiortcAnswerer(loopback_only=True)) as emu:
        code, out = await locust(
            "-f", str(SCENARIOS / "soak_reconnect.py"), "--host", emu.url, "--headless", "-u", "4", "-r", "4",
            "-t", "40s", "--csv", str(tmp_path / "soak"), "--only-summary", "--stop-timeout", "30",
            "--rtc-holding", "uniform:8,12", "--rtc-think-time", "fixed:0.5", "--rtc-stats-interval", "2",
            "--rtc-faults", "every=5s,action=drop,share=0.5; every=17s,action=restart,keep_sessions=1",
            "--rtc-control-token", TOKEN, "--rtc-resource-report", str(report_path), "--rtc-resource-interval", "2",
        )  # fmt: skip
        assert code in (0, 1), out[-3000:]
        assert await emu.wait_for(lambda: emu.snapshot()["live_legs"] == 0, 30), emu.snapshot()
        counters = emu.counters
        assert counters["fault_drops"] >= 3 and counters["restarts"] >= 1
        assert counters["reattached"] >= 1 and counters["sessions_resumed"] >= 1
    report = json.loads(report_path.read_text())
    assert report["samples"] >= 10 and report["leaks"] == {}, report
    assert all("error" not in f for f in report["faults_applied"]), report["faults_applied"]
    rows = stats_rows(tmp_path / "soak")
    assert ("GENERATOR", "resources") not in rows
    answered = rows[("CALL", "answer")]
    assert int(answered["Request Count"]) >= 4
