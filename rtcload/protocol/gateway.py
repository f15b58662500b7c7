"""Gateway (registration) states and what a client must do on each (protocol.md section 7)."""

from __future__ import annotations

from enum import StrEnum


class GatewayState(StrEnum):
    REGED = "REGED"
    REGISTER = "REGISTER"
    NOREG = "NOREG"
    UNREGED = "UNREGED"
    FAILED = "FAILED"
    FAIL_WAIT = "FAIL_WAIT"
    TIMEOUT = "TIMEOUT"
    TRYING = "TRYING"
    EXPIRED = "EXPIRED"
    UNREGISTER = "UNREGISTER"


class GatewayAction(StrEnum):
    READY = "ready"  # registration complete
    REPOLL = "repoll"  # ask gatewayState again after 2-6 s, up to 5 times
    RECONNECT = "reconnect"  # gateway failed: reconnect the socket
    IGNORE = "ignore"  # in the enum, but the SDK does nothing


READY_STATES = frozenset({GatewayState.REGED, GatewayState.REGISTER})
REPOLL_STATES = frozenset({GatewayState.NOREG, GatewayState.UNREGED})
FAILED_STATES = frozenset({GatewayState.FAILED, GatewayState.FAIL_WAIT, GatewayState.TIMEOUT})

MAX_REGISTER_POLLS = 5
REPOLL_DELAY_RANGE_S = (2.0, 6.0)


def parse_gateway_state(value: object) -> GatewayState | None:
    """A known gateway state, or None (the SDK does not treat unknown strings as a state)."""
    if isinstance(value, str):
        try:
            return GatewayState(value)
        except ValueError:
            return None
    return None


def action_for(state: GatewayState) -> GatewayAction:
    if state in READY_STATES:
        return GatewayAction.READY
    if state in REPOLL_STATES:
        return GatewayAction.REPOLL
    if state in FAILED_STATES:
        return GatewayAction.RECONNECT
    return GatewayAction.IGNORE


def gateway_state_in_result(result: object) -> GatewayState | None:
    """`result.params.state` of a gatewayState reply, if it is a known state."""
    if isinstance(result, dict):
        params = result.get("params")
        if isinstance(params, dict):
            return parse_gateway_state(params.get("state"))
    return None
