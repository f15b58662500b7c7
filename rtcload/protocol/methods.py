"""Method names of the Verto dialect spoken by the platform (``telnyx_rtc.`` prefix)."""

from __future__ import annotations

from enum import StrEnum


class Method(StrEnum):
    """Every method seen on the wire, in either direction."""

    LOGIN = "login"
    ANONYMOUS_LOGIN = "anonymous_login"
    CLIENT_READY = "telnyx_rtc.clientReady"
    GATEWAY_STATE = "telnyx_rtc.gatewayState"
    PING = "telnyx_rtc.ping"
    INVITE = "telnyx_rtc.invite"
    RINGING = "telnyx_rtc.ringing"
    MEDIA = "telnyx_rtc.media"
    ANSWER = "telnyx_rtc.answer"
    BYE = "telnyx_rtc.bye"
    MODIFY = "telnyx_rtc.modify"
    INFO = "telnyx_rtc.info"
    ATTACH = "telnyx_rtc.attach"
    PUNT = "telnyx_rtc.punt"
    DISPLAY = "telnyx_rtc.display"
    CANDIDATE = "telnyx_rtc.candidate"
    END_OF_CANDIDATES = "telnyx_rtc.endOfCandidates"
    EVENT = "telnyx_rtc.event"
    SUBSCRIBE = "telnyx_rtc.subscribe"
    UNSUBSCRIBE = "telnyx_rtc.unsubscribe"
    BROADCAST = "telnyx_rtc.broadcast"
    AI_CONVERSATION = "ai_conversation"


class ModifyAction(StrEnum):
    HOLD = "hold"
    UNHOLD = "unhold"
    TOGGLE_HOLD = "toggleHold"
    UPDATE_MEDIA = "updateMedia"


# Requests the SDK times out after 10 s (a timeout forces signaling recovery).
CRITICAL_METHODS: frozenset[str] = frozenset({Method.MODIFY, Method.BYE, Method.PING})
CRITICAL_TIMEOUT_S = 10.0

# Server requests the client acknowledges with {"result": {"method": ...}} when they name a live call.
ACKED_CALL_METHODS: frozenset[str] = frozenset(
    {
        Method.INVITE,
        Method.ATTACH,
        Method.RINGING,
        Method.MEDIA,
        Method.ANSWER,
        Method.BYE,
        Method.CANDIDATE,
        Method.DISPLAY,
    }
)

# Debug-report frames carry `type` instead of `method` and still expect a reply by id.
DEBUG_REPORT_TYPES: frozenset[str] = frozenset({"debug_report_start", "debug_report_data", "debug_report_stop"})
