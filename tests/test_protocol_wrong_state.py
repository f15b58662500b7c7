"""A peer frame that arrives in the wrong state gets one answer (issue 25), like h11's protocol errors.

The real emulator sends real Verto frames over its socket to a real client (the load generator's
own VirtualEndpoint): a late ringing and a second answer to an answered call, early media after the
answer. Each is acknowledged but not applied (the call's state and timings stay true), logged naming
the user and the call, emitted as a typed event, and counted as rtcload_errors_total{code="protocol_state"}.
The emulator's legs move through their own transition table.
"""

from __future__ import annotations

import asyncio
import logging

import pytest

from rtcload.emulator.session import LEG_TRANSITIONS, IllegalLegTransition, Leg, LegState
from rtcload.loadgen.endpoint import VirtualEndpoint
from rtcload.loadgen.observe import record
from rtcload.loadgen.settings import settings_from_options
from rtcload.metrics.exporter import GeneratorMetrics
from rtcload.protocol import messages
from rtcload.protocol.call_state import CallState
from rtcload.protocol.sdp import static_sdp
from rtcload.signaling import EventKind, PasswordCredentials
from rtcload.signaling.events import SignalingEvent


@pytest.mark.timeout(60)
async def test_frames_in_the_wrong_state_are_counted_not_applied(emulator, monkeypatch, caplog):
    monkeypatch.setenv("RTCLOAD_MEDIA", "none")
    settings = settings_from_options(None, emulator.url)
    endpoint = VirtualEndpoint(settings, PasswordCredentials("alice", "alice-pass"), "alice")
    wrong: list[SignalingEvent] = []
    three = asyncio.Event()

    def on_event(event: SignalingEvent) -> None:
        if event.kind is EventKind.FRAME_IN_WRONG_STATE:
            wrong.append(event)
            if len(wrong) >= 3:
                three.set()

    endpoint.client.events.subscribe(on_event)
    caplog.set_level(logging.WARNING, logger="rtcload.signaling")
    try:
        assert all(s.ok for s in await endpoint.register())
        call = await endpoint.client.call("echo", answer_timeout_s=10)
        assert call.state is CallState.ACTIVE
        answered, ringing = call.timings.answered, call.timings.ringing
        leg = emulator.legs[call.id]
        for frame in (
            messages.ringing(leg.call_id, leg.parties, leg.ids),
            messages.server_answer(leg.call_id, static_sdp(), leg.ids),
            messages.early_media(leg.call_id, static_sdp(), leg.ids),
        ):
            assert await emulator.calls.replies.send_to(leg, frame)
        await asyncio.wait_for(three.wait(), 10)
        assert [(e.call_id, e.detail["method"], e.detail["state"]) for e in wrong] == [
            (call.id, "telnyx_rtc.ringing", "active"),
            (call.id, "telnyx_rtc.answer", "active"),
            (call.id, "telnyx_rtc.media", "active"),
        ]
        # not applied: the call is still up, its timings are those of the real ringing and answer
        assert call.state is CallState.ACTIVE and not call.ended
        assert call.timings.answered == answered and call.timings.ringing == ringing
        assert call.timings.early_media is None
        lines = [r.getMessage() for r in caplog.records if "protocol_state" in r.getMessage()]
        assert len(lines) == 3 and all("[alice]" in line and call.id in line for line in lines), lines
        # the load generator's path: a failed `errors` sample with a bounded code, into Prometheus
        samples = [s for s in endpoint.drain_events() if s.code == "protocol_state"]
        assert len(samples) == 3 and all(s.key == "errors" and not s.ok for s in samples)
        assert all(call.id not in (s.error or "") for s in samples)  # no call id in the text either
        metrics = GeneratorMetrics()
        for sample in samples:
            record(metrics, sample)
        assert metrics.registry.get_sample_value("rtcload_errors_total", {"code": "protocol_state"}) == 3
        await call.hangup()
        assert leg.state is LegState.ENDED
    finally:
        await endpoint.client.close(hangup_calls=True)


async def test_a_repeated_ringing_is_not_an_error(emulator, make_client):
    """A second 180 while ringing is nothing new: not counted (only a state it cannot apply in is).

    Frames on one socket are handled in order, so a frame about an unknown call sent after it is the
    sentinel: once its protocol error is seen, the repeated ringing was handled."""
    alice = await make_client("alice")
    rung, sentinel = asyncio.Event(), asyncio.Event()

    def on_event(event: SignalingEvent) -> None:
        if event.kind is EventKind.RINGING:
            rung.set()
        elif event.kind is EventKind.PROTOCOL_ERROR and event.call_id == "sentinel-call":
            sentinel.set()

    alice.events.subscribe(on_event)
    call = await alice.dial("noanswer")
    await asyncio.wait_for(rung.wait(), 10)
    leg = emulator.legs[call.id]
    assert await emulator.calls.replies.send_to(leg, messages.ringing(leg.call_id, leg.parties, leg.ids))
    assert await emulator.calls.replies.send_to(leg, messages.ringing("sentinel-call", leg.parties, leg.ids))
    await asyncio.wait_for(sentinel.wait(), 10)
    assert call.state in (CallState.RINGING, CallState.HANGUP, CallState.DESTROY)
    assert not alice.events.events(EventKind.FRAME_IN_WRONG_STATE)


def _leg(state: LegState) -> Leg:
    return Leg("call-1", None, "outbound", None, {}, state=state)  # type: ignore[arg-type]


def test_leg_transition_table():
    leg = _leg(LegState.RINGING)
    leg.move(LegState.EARLY, "early media")
    leg.move(LegState.ACTIVE, "answered")
    leg.move(LegState.HELD, "hold")
    leg.move(LegState.HELD, "hold again")  # idempotent, as the client's machine
    leg.move(LegState.ACTIVE, "unhold")
    leg.move(LegState.ENDED, "bye")
    for target in LegState:
        with pytest.raises(IllegalLegTransition, match="leg call-1: illegal transition ended"):
            leg.move(target, "late")
    with pytest.raises(IllegalLegTransition):
        _leg(LegState.RINGING).move(LegState.HELD, "hold before answer")
    assert set(LEG_TRANSITIONS) == set(LegState)
