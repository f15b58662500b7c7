"""Outbound and inbound calls, every failure cause, hangup both ways, hold, DTMF, trickle."""

from __future__ import annotations

import uuid

import pytest

from rtcload.emulator.session import LegState
from rtcload.protocol.call_state import CallState
from rtcload.signaling import CallFailed, EndedBy, EventKind, InboundPolicy, ServerError


async def test_outbound_echo_answered_then_local_hangup(emulator, make_client):
    alice = await make_client("alice")
    call = await alice.call("echo", answer_timeout_s=10)
    assert call.state is CallState.ACTIVE
    t = call.timings
    assert t.post_dial_delay is not None and 0 < t.post_dial_delay < t.answer_delay  # ringing came first
    await call.hangup()
    assert call.cause == "NORMAL_CLEARING" and call.cause_code == 16 and call.ended_by is EndedBy.LOCAL
    assert call.timings.hangup_delay is not None
    leg = emulator.legs[call.id]
    assert leg.state is LegState.ENDED and leg.cause == "NORMAL_CLEARING" and leg.ended_by == "client"


async def test_early_media_then_answer(make_client):
    alice = await make_client("alice")
    call = await alice.call("early", answer_timeout_s=10)
    assert call.timings.early_media is not None
    assert call.timings.early_media < call.timings.answered
    states = [e.kind for e in alice.events.events(call_id=call.id)]
    assert EventKind.EARLY_MEDIA in states and EventKind.ANSWERED in states


@pytest.mark.parametrize(
    ("destination", "cause", "code", "sip"),
    [
        ("busy", "USER_BUSY", 17, 486),
        ("reject", "CALL_REJECTED", 21, 603),
        ("noanswer;timeout=0.3", "NO_ANSWER", 19, 480),
        ("+19999999999", "UNALLOCATED_NUMBER", 1, 404),
    ],
)
async def test_outbound_failure_causes(make_client, destination, cause, code, sip):
    alice = await make_client("alice")
    with pytest.raises(CallFailed) as info:
        await alice.call(destination, answer_timeout_s=10)
    assert info.value.call_id is not None
    ended = alice.events.last(EventKind.CALL_ENDED)
    assert ended is not None and ended.detail["cause"] == cause and ended.detail["cause_code"] == code
    remote = alice.events.last(EventKind.REMOTE_BYE)
    assert remote is not None and remote.call_id == info.value.call_id
    assert remote.detail["sip_code"] == sip
    assert cause in str(info.value) and info.value.call_id in str(info.value)


async def test_remote_hangup_after_answer(make_client):
    alice = await make_client("alice")
    call = await alice.call("echo;hangup=0.3", answer_timeout_s=10)
    assert await call.wait_ended(10)
    assert call.ended_by is EndedBy.REMOTE and call.cause == "NORMAL_CLEARING"
    assert call.sip_code == 200


async def test_platform_hangup_with_a_chosen_cause(emulator, make_client):
    alice = await make_client("alice")
    call = await alice.call("echo", answer_timeout_s=10)
    assert await emulator.hangup(call.id, "NORMAL_TEMPORARY_FAILURE")
    assert await call.wait_ended(10)
    assert (call.cause, call.cause_code, call.sip_code) == ("NORMAL_TEMPORARY_FAILURE", 41, 503)


async def test_caller_id_and_custom_headers_reach_the_platform(emulator, make_client):
    alice = await make_client("alice")
    headers = [{"name": "X-Test-Run", "value": "42"}]
    call = await alice.call("echo", custom_headers=headers, caller_id_name="Load", caller_id_number="+15550009999")
    leg = emulator.legs[call.id]
    assert leg.custom_headers == headers
    assert leg.parties["caller_id_name"] == "Load" and leg.parties["caller_id_number"] == "+15550009999"


async def test_hold_and_unhold(emulator, make_client):
    alice = await make_client("alice")
    call = await alice.call("echo", answer_timeout_s=10)
    await call.hold()
    assert call.state is CallState.HELD and emulator.legs[call.id].state is LegState.HELD
    await call.unhold()
    assert call.state is CallState.ACTIVE and emulator.legs[call.id].state is LegState.ACTIVE


async def test_dtmf_digits_seen_by_the_emulator_one_info_per_digit(emulator, make_client):
    alice = await make_client("alice")
    call = await alice.call("echo", answer_timeout_s=10)
    await call.dtmf("1234*#")
    assert emulator.dtmf(call.id) == "1234*#"
    assert emulator.counters["requests_telnyx_rtc.info"] == 6


async def test_call_operations_on_an_unknown_call_get_call_does_not_exist(make_client):
    alice = await make_client("alice")
    call = await alice.call("echo", answer_timeout_s=10)
    call.dialog.call_id = str(uuid.uuid4())  # pretend to be a call the platform never saw
    with pytest.raises(ServerError) as info:
        await alice.hold(call, True)
    assert info.value.code == -32002


async def test_trickle_ice_sends_end_of_candidates(emulator, make_client):
    alice = await make_client("alice", trickle_ice=True)
    call = await alice.call("echo", answer_timeout_s=10)
    assert await emulator.wait_for(lambda: emulator.legs[call.id].end_of_candidates, 10)


# ---------------------------------------------------------------- inbound calls (two registered clients)


async def test_inbound_call_answered_bridges_both_legs(emulator, make_client):
    bob = await make_client("bob")
    alice = await make_client("alice")
    headers = [{"name": "X-Agent-Queue", "value": "sales"}]
    outbound = await alice.dial("bob", custom_headers=headers, caller_id_number="+15550001001")
    inbound = await bob.next_incoming(10)
    params = inbound.inbound_params
    for key in ("caller_id_name", "caller_id_number", "callee_id_name", "callee_id_number", "telnyx_call_control_id"):
        assert params[key], key
    for key in ("callID", "telnyx_session_id", "telnyx_leg_id"):
        uuid.UUID(params[key])  # the Android SDK parses these as UUIDs
    assert params["caller_id_number"] == "+15550001001"
    assert inbound.dialog.custom_headers == headers
    assert inbound.state is CallState.RINGING
    assert await outbound.wait_until(lambda c: c.state is CallState.RINGING, 10)
    await inbound.answer()
    await outbound.wait_established(10)
    assert inbound.state is CallState.ACTIVE and inbound.timings.inbound_answer_delay is not None
    # DTMF from the caller reaches the callee as a notification
    await outbound.dtmf("7")
    assert emulator.dtmf(outbound.id) == "7"
    # the callee hangs up; the caller gets a remote bye
    await inbound.hangup()
    assert await outbound.wait_ended(10)
    assert outbound.ended_by is EndedBy.REMOTE and outbound.cause == "NORMAL_CLEARING"


async def test_inbound_call_reached_by_number(make_client):
    bob = await make_client("bob", client_kwargs={"inbound_policy": InboundPolicy.ANSWER})
    alice = await make_client("alice")
    call = await alice.call("+15550001002", answer_timeout_s=10)
    assert call.state is CallState.ACTIVE
    assert len([c for c in bob.calls.values() if c.state is CallState.ACTIVE]) == 1


async def test_inbound_call_rejected_is_user_busy_for_the_caller(make_client):
    await make_client("bob", client_kwargs={"inbound_policy": InboundPolicy.REJECT})
    alice = await make_client("alice")
    with pytest.raises(CallFailed):
        await alice.call("bob", answer_timeout_s=10)
    ended = alice.events.last(EventKind.CALL_ENDED)
    assert ended is not None and ended.detail["cause"] == "USER_BUSY" and ended.detail["cause_code"] == 17


async def test_caller_cancel_reaches_the_ringing_callee_as_originator_cancel(make_client):
    bob = await make_client("bob")
    alice = await make_client("alice")
    outbound = await alice.dial("bob")
    inbound = await bob.next_incoming(10)
    await outbound.hangup()
    assert outbound.cause == "USER_BUSY"  # the SDK's cause for a hangup before answer
    assert await inbound.wait_ended(10)
    assert (inbound.cause, inbound.cause_code, inbound.ended_by) == ("ORIGINATOR_CANCEL", 487, EndedBy.REMOTE)


async def test_unanswered_inbound_call_times_out_with_no_answer(make_client):
    bob = await make_client("bob")
    alice = await make_client("alice")
    outbound = await alice.dial("bob;timeout=0.3")
    inbound = await bob.next_incoming(10)
    assert await outbound.wait_ended(10) and await inbound.wait_ended(10)
    assert outbound.cause == "NO_ANSWER" and inbound.cause == "ORIGINATOR_CANCEL"


async def test_calling_a_user_who_is_not_registered(make_client):
    alice = await make_client("alice")
    with pytest.raises(CallFailed):
        await alice.call("bob", answer_timeout_s=10)  # bob is a known user but not logged in
    ended = alice.events.last(EventKind.CALL_ENDED)
    assert ended is not None and ended.detail["cause"] == "UNALLOCATED_NUMBER"


async def test_calls_beyond_capacity_get_circuit_congestion(emulator, make_client):
    emulator.config.max_calls = 2
    alice = await make_client("alice")
    first = await alice.call("echo", answer_timeout_s=10)
    second = await alice.call("echo", answer_timeout_s=10)
    with pytest.raises(CallFailed) as info:
        await alice.call("echo", answer_timeout_s=10)
    assert info.value.cause == "NORMAL_CIRCUIT_CONGESTION" and info.value.cause_code == 34
    await first.hangup()
    third = await alice.call("echo", answer_timeout_s=10)  # capacity freed by the hangup
    assert third.state is CallState.ACTIVE and second.state is CallState.ACTIVE
    assert emulator.counters["calls_over_capacity"] == 1
