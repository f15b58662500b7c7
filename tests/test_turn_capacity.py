"""The turn_capacity scenario: a real Locust run whose every call is relayed through a real coturn."""

from __future__ import annotations

import csv
import os

import pytest

from rtcload.emulator import Emulator
from rtcload.emulator.aiortc_answerer import AiortcAnswerer
from rtcload.media.coturn import Coturn, turnserver_available
from tests.conftest import fast_config
from tests.test_loadgen import SCENARIOS, locust

pytestmark = pytest.mark.skipif(not turnserver_available(), reason="coturn (turnserver) not installed")


async def test_turn_capacity_relays_every_call(tmp_path, monkeypatch):
    monkeypatch.setenv("RTCLOAD_STEP_USERS", "2")
    monkeypatch.setenv("RTCLOAD_STEP_SECONDS", "6")
    monkeypatch.setenv("RTCLOAD_MAX_USERS", "4")
    async with (
        Coturn(user="loadu", password="Turn-Pass-9") as turn,
        Emulator(fast_config(), AiortcAnswerer(loopback_only=True)) as emu,
    ):
        ice = f"turn:loadu:Turn-Pass-9@127.0.0.1:{turn.port}?transport=udp"
        code, out = await locust(
            "-f", str(SCENARIOS / "turn_capacity.py"), "--host", emu.url, "--headless", "--only-summary",
            "--rtc-ice-servers", ice, "--rtc-holding", "fixed:2", "--rtc-think-time", "fixed:0.3",
            "--rtc-stats-interval", "1", "--rtc-call-records", str(tmp_path / "calls"),
        )  # fmt: skip
        assert code in (0, 1), out[-3000:]
        assert "Turn-Pass-9" not in out  # the TURN credential never reaches the logs
    (part,) = tmp_path.glob("calls.*.csv")
    with open(part, newline="") as handle:
        answered = [r for r in csv.DictReader(handle) if r["outcome"] == "answered"]
    assert len(answered) >= 4
    assert all(r["ice_local"] == "relay" for r in answered), [r["ice_local"] for r in answered]
    assert all(r["turn_allocation_s"] and float(r["turn_allocation_s"]) < 5 for r in answered)
    assert all(r["first_rtp_s"] for r in answered)  # media flowed through the relay
    assert os.environ["RTCLOAD_MAX_USERS"] == "4"
