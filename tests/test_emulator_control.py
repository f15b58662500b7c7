"""Runtime control of the emulator from another connection: drops, restarts (sessions kept or lost),
fault changes, mass hangup; refused without the right token."""

from __future__ import annotations

import asyncio

import pytest

from rtcload.emulator import Emulator
from rtcload.emulator.control import ControlError, send_control
from rtcload.signaling import EndedBy, EventKind, LoginFailed
from tests.conftest import fast_config

TOKEN = "Control-Token-For-Tests-0001"


@pytest.fixture
async def emulator():
    async with Emulator(fast_config(control_token=TOKEN)) as emu:
        yield emu


def wait_event(client, kind: EventKind) -> asyncio.Event:
    seen = asyncio.Event()
    client.events.subscribe(lambda e: seen.set() if e.kind is kind else None)
    return seen


async def test_control_needs_the_token(emulator):
    with pytest.raises(ControlError) as info:
        await send_control(emulator.url, "wrong-token", "snapshot")
    assert "-32001" in str(info.value) and "wrong-token" not in str(info.value)
    assert emulator.counters["control_refused"] == 1
    async with Emulator(fast_config()) as closed:  # no token configured: control is off
        with pytest.raises(ControlError):
            await send_control(closed.url, TOKEN, "snapshot")


async def test_drop_every_socket_and_calls_come_back(emulator, make_client):
    alice = await make_client("alice")
    call = await alice.call("echo", answer_timeout_s=10)
    reattached = wait_event(alice, EventKind.CALL_REATTACHED)
    result = await send_control(emulator.url, TOKEN, "drop", share=1.0)
    assert result == {"dropped": 1}
    await asyncio.wait_for(reattached.wait(), 15)
    assert not call.ended and alice.reconnect_count == 1


@pytest.mark.parametrize("keep", [True, False])
async def test_restart_with_sessions_kept_or_lost(emulator, make_client, keep):
    alice = await make_client("alice")
    call = await alice.call("echo", answer_timeout_s=10)
    back = wait_event(alice, EventKind.RECONNECTED)
    assert (await send_control(emulator.url, TOKEN, "restart", keep_sessions=keep))["restarting"]
    await asyncio.wait_for(back.wait(), 15)
    if keep:
        assert await call.wait_until(lambda c: c.reattach_count == 1, 15) and not call.ended
    else:
        assert await call.wait_ended(15)
        assert call.ended_by is EndedBy.NOT_REATTACHED and call.cause_code == 48501
    assert emulator.counters["restarts"] == 1


async def test_restart_with_downtime_keeps_the_port(make_client):
    async with Emulator(fast_config(control_token=TOKEN)) as emu:
        url = emu.url
        alice = await make_client("alice", url=url)
        back = wait_event(alice, EventKind.RECONNECTED)
        await emu.restart(keep_sessions=True, down_s=0.5)
        await asyncio.wait_for(back.wait(), 20)
        assert emu.url == url and alice.ready


async def test_faults_and_hangup_all_by_control(emulator, make_client):
    alice = await make_client("alice")
    call = await alice.call("echo", answer_timeout_s=10)
    assert await send_control(emulator.url, TOKEN, "hangup_all") == {"hung_up": 1}
    assert await call.wait_ended(10) and call.ended_by is EndedBy.REMOTE
    await send_control(emulator.url, TOKEN, "faults", set={"login_reject_ratio": 1.0})
    with pytest.raises(LoginFailed):
        await make_client("bob")
    await send_control(emulator.url, TOKEN, "clear_faults")
    assert (await make_client("bob")).ready
    with pytest.raises(ControlError):
        await send_control(emulator.url, TOKEN, "faults", set={"no_such_fault": 1})


async def test_media_impairment_is_set_at_run_time_by_control():
    from rtcload.emulator.aiortc_answerer import AiortcAnswerer
    from rtcload.netem.impairment import Impairment
    from rtcload.netem.sdp_relay import ImpairedAnswerer

    answerer = ImpairedAnswerer(AiortcAnswerer(loopback_only=True), Impairment(), Impairment())
    async with Emulator(fast_config(control_token=TOKEN), answerer) as emu:
        result = await send_control(emu.url, TOKEN, "impair", up="delay=40ms,loss=2%", down="4g")
        assert result == {"impair": {"up": "delay=40ms,loss=2%", "down": "4g"}}
        assert answerer.profile_up.delay_s == 0.04 and answerer.profile_up.loss == 0.02
        assert answerer.profile_down.delay_s > 0
        with pytest.raises(ControlError):
            await send_control(emu.url, TOKEN, "impair", up="delay=banana")
    async with Emulator(fast_config(control_token=TOKEN)) as plain:  # no relay in the path: a clear refusal
        with pytest.raises(ControlError) as info:
            await send_control(plain.url, TOKEN, "impair", up="4g")
        assert "--impair" in str(info.value)


def test_emulator_cli_rejects_a_bad_impairment_spec():
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "-m", "rtcload", "emulator", "--port", "0", "--impair-up", "loss=lots"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2 and "rtcload emulator:" in done.stderr
