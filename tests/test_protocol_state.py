"""Call state machine, gateway states, backoff, token helpers and redaction."""

from __future__ import annotations

import base64
import json
import random

import pytest

from rtcload.protocol import (
    BackoffPolicy,
    CallState,
    CallStateMachine,
    GatewayAction,
    GatewayState,
    IllegalTransition,
    action_for,
    cause_by_name,
    cause_label,
    gateway_state_in_result,
    jwt_expiry,
    redact,
    refresh_delay,
    short_frame,
)
from rtcload.protocol.codes import CAUSES_BY_CODE

S = CallState


def test_outbound_and_inbound_paths_are_legal() -> None:
    outbound = CallStateMachine("c1")
    for state in (S.REQUESTING, S.TRYING, S.RINGING, S.EARLY, S.ACTIVE, S.HELD, S.ACTIVE, S.HANGUP, S.DESTROY):
        outbound.to(state, "test")
    assert outbound.was_answered and outbound.ended
    inbound = CallStateMachine("c2")
    for state in (S.RINGING, S.ANSWERING, S.ACTIVE, S.RECOVERING, S.ACTIVE, S.HANGUP):
        inbound.to(state, "test")
    assert inbound.state is S.HANGUP


def test_illegal_transition_names_call_states_and_trigger() -> None:
    machine = CallStateMachine("call-9")
    with pytest.raises(IllegalTransition) as info:
        machine.to(S.ACTIVE, "answer received")
    message = str(info.value)
    assert "call-9" in message and "new -> active" in message and "answer received" in message
    machine.to(S.HANGUP, "bye")
    machine.to(S.DESTROY, "gone")
    with pytest.raises(IllegalTransition):
        machine.to(S.ACTIVE, "late answer")


def test_state_changes_are_reported() -> None:
    seen: list[tuple[str, str]] = []
    machine = CallStateMachine("c", on_change=lambda old, new, _t: seen.append((old.value, new.value)))
    machine.to(S.REQUESTING, "invite sent")
    assert seen == [("new", "requesting")]


@pytest.mark.parametrize(
    ("state", "action"),
    [
        (GatewayState.REGED, GatewayAction.READY),
        (GatewayState.REGISTER, GatewayAction.READY),
        (GatewayState.NOREG, GatewayAction.REPOLL),
        (GatewayState.UNREGED, GatewayAction.REPOLL),
        (GatewayState.FAILED, GatewayAction.RECONNECT),
        (GatewayState.FAIL_WAIT, GatewayAction.RECONNECT),
        (GatewayState.TIMEOUT, GatewayAction.RECONNECT),
        (GatewayState.TRYING, GatewayAction.IGNORE),
    ],
)
def test_gateway_actions(state: GatewayState, action: GatewayAction) -> None:
    assert action_for(state) is action


def test_gateway_state_read_from_result() -> None:
    assert gateway_state_in_result({"params": {"state": "REGED"}}) is GatewayState.REGED
    assert gateway_state_in_result({"params": {"state": "BOGUS"}}) is None
    assert gateway_state_in_result({"message": "x"}) is None


def test_sdk_backoff_grows_is_jittered_and_capped() -> None:
    policy = BackoffPolicy()
    rng = random.Random(1)
    delays = [policy.delay(n, rng) for n in range(1, 11)]
    assert 0.75 <= delays[0] <= 1.25
    assert 1.5 <= delays[1] <= 2.5
    assert all(d <= 30.0 for d in delays)
    assert delays[-1] >= 22.5
    assert policy.exhausted(11) and not policy.exhausted(10)
    fixed = BackoffPolicy(kind="fixed")
    assert all(2.0 <= fixed.delay(n, rng) <= 6.0 for n in range(1, 20))
    with pytest.raises(ValueError):
        BackoffPolicy(kind="linear")


def _jwt(claims: dict) -> str:
    body = base64.urlsafe_b64encode(json.dumps(claims).encode()).decode().rstrip("=")
    return f"e30.{body}.sig"


def test_token_expiry_and_refresh_plan() -> None:
    token = _jwt({"exp": 1000})
    assert jwt_expiry(token) == 1000.0
    assert refresh_delay(token, now_epoch=500) == 380.0
    assert refresh_delay(token, now_epoch=990) == 0.0
    assert jwt_expiry("not-a-jwt") is None
    assert jwt_expiry("a.!!!.c") is None


def test_redaction_masks_secrets_everywhere() -> None:
    frame = {"params": {"login": "alice", "passwd": "hunter2", "nested": [{"login_token": "eyJsecret"}]}}
    clean = redact(frame)
    assert clean["params"]["login"] == "alice"
    assert "hunter2" not in repr(clean) and "eyJsecret" not in short_frame(frame)


def test_cause_tables() -> None:
    assert cause_by_name("USER_BUSY").code == 17
    assert CAUSES_BY_CODE[487].name == "ORIGINATOR_CANCEL"
    assert cause_by_name("SOMETHING_NEW").code == 0
    assert cause_label("garbage from a server") == "OTHER"
    assert cause_label("NO_ANSWER") == "NO_ANSWER"
