"""Numeric codes of the Verto wire protocol: JSON-RPC errors, SDK error/warning codes, hangup causes.

One table each, so the client, the emulator and reports name the same thing the same way.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum


class RpcErrorCode(IntEnum):
    """JSON-RPC error codes the platform (and mod_verto) use."""

    PARSE_ERROR = -32700
    INVALID_REQUEST = -32600
    METHOD_NOT_FOUND = -32601
    INVALID_PARAMS = -32602
    AUTHENTICATION_REQUIRED = -32000  # never sent in reply to `login` (loops the JS SDK)
    AUTHENTICATION_FAILURE = -32001
    CALL_DOES_NOT_EXIST = -32002  # mod_verto CODE_SESSION_ERROR
    GATEWAY_TIMEOUT = -32003
    GATEWAY_FAILURE = -32004


RPC_ERROR_MESSAGES: dict[RpcErrorCode, str] = {
    RpcErrorCode.PARSE_ERROR: "Parse error",
    RpcErrorCode.INVALID_REQUEST: "Invalid Request",
    RpcErrorCode.METHOD_NOT_FOUND: "Method not found",
    RpcErrorCode.INVALID_PARAMS: "Invalid params",
    RpcErrorCode.AUTHENTICATION_REQUIRED: "Authentication Required",
    RpcErrorCode.AUTHENTICATION_FAILURE: "Authentication Failure",
    RpcErrorCode.CALL_DOES_NOT_EXIST: "CALL DOES NOT EXIST",
    RpcErrorCode.GATEWAY_TIMEOUT: "Gateway Timeout",
    RpcErrorCode.GATEWAY_FAILURE: "Gateway Failure",
}


class SdkCode(IntEnum):
    """Error and warning codes the official JS SDK raises; rtcload reports the same codes."""

    # warnings
    HIGH_RTT = 31001
    HIGH_JITTER = 31002
    HIGH_PACKET_LOSS = 31003
    LOW_MOS = 31004
    LOW_LOCAL_AUDIO = 31005
    LOW_INBOUND_AUDIO = 31006
    LOW_BYTES_RECEIVED = 32001
    LOW_BYTES_SENT = 32002
    ONLY_HOST_ICE_CANDIDATES = 33005
    MULTIPLE_ACTIVE_CALLS_DETECTED = 33010
    TOKEN_EXPIRING_SOON = 34001
    UNKNOWN_REATTACHED_SESSION = 35002
    SIGNALING_RECOVERY_REQUIRED = 36003
    # errors
    SDP_SEND_FAILED = 40005
    HOLD_FAILED = 44001
    BYE_SEND_FAILED = 44003
    RECONNECTION_EXHAUSTED = 45003
    GATEWAY_FAILED = 45004
    LOGIN_FAILED = 46001
    INVALID_CREDENTIALS = 46002
    AUTHENTICATION_REQUIRED = 46003
    ICE_RESTART_FAILED = 47001
    NETWORK_OFFLINE = 48001
    SESSION_NOT_REATTACHED = 48501
    # rtcload's own (not raised by the SDK; kept outside its ranges)
    REQUEST_TIMEOUT = 90001
    CONNECT_FAILED = 90002
    PROTOCOL_VIOLATION = 90003
    CALL_FAILED = 90004


@dataclass(frozen=True)
class HangupCause:
    """A Q.850 / FreeSWITCH hangup cause with the SIP status usually paired with it."""

    name: str
    code: int
    sip_code: int | None = None
    sip_reason: str | None = None


_CAUSES: tuple[HangupCause, ...] = (
    HangupCause("UNALLOCATED_NUMBER", 1, 404, "Not Found"),
    HangupCause("NO_ROUTE_DESTINATION", 3, 404, "Not Found"),
    HangupCause("NORMAL_CLEARING", 16, 200, "OK"),
    HangupCause("USER_BUSY", 17, 486, "Busy Here"),
    HangupCause("NO_USER_RESPONSE", 18, 408, "Request Timeout"),
    HangupCause("NO_ANSWER", 19, 480, "Temporarily Unavailable"),
    HangupCause("SUBSCRIBER_ABSENT", 20, 480, "Temporarily Unavailable"),
    HangupCause("CALL_REJECTED", 21, 603, "Decline"),
    HangupCause("NUMBER_CHANGED", 22, 410, "Gone"),
    HangupCause("DESTINATION_OUT_OF_ORDER", 27, 502, "Bad Gateway"),
    HangupCause("INVALID_NUMBER_FORMAT", 28, 484, "Address Incomplete"),
    HangupCause("NORMAL_UNSPECIFIED", 31, 480, "Temporarily Unavailable"),
    HangupCause("NORMAL_CIRCUIT_CONGESTION", 34, 503, "Service Unavailable"),
    HangupCause("NORMAL_TEMPORARY_FAILURE", 41, 503, "Service Unavailable"),
    HangupCause("BEARERCAPABILITY_NOTAUTH", 57, 403, "Forbidden"),
    HangupCause("INCOMPATIBLE_DESTINATION", 88, 488, "Not Acceptable Here"),
    HangupCause("MANDATORY_IE_MISSING", 96, 400, "Bad Request"),
    HangupCause("RECOVERY_ON_TIMER_EXPIRE", 102, 504, "Server Time-out"),
    HangupCause("ORIGINATOR_CANCEL", 487, 487, "Request Terminated"),
    HangupCause("LOSE_RACE", 502),
    HangupCause("MANAGER_REQUEST", 503),
    HangupCause("ALLOTTED_TIMEOUT", 602),
    HangupCause("MEDIA_TIMEOUT", 604),
    HangupCause("USER_NOT_REGISTERED", 606),
    HangupCause("PROGRESS_TIMEOUT", 607),
    HangupCause("INVALID_GATEWAY", 608),
    HangupCause("GATEWAY_DOWN", 609),
)

CAUSES_BY_NAME: dict[str, HangupCause] = {c.name: c for c in _CAUSES}
CAUSES_BY_CODE: dict[int, HangupCause] = {c.code: c for c in _CAUSES}

NORMAL_CLEARING = CAUSES_BY_NAME["NORMAL_CLEARING"]
USER_BUSY = CAUSES_BY_NAME["USER_BUSY"]
NO_ANSWER = CAUSES_BY_NAME["NO_ANSWER"]
CALL_REJECTED = CAUSES_BY_NAME["CALL_REJECTED"]
UNALLOCATED_NUMBER = CAUSES_BY_NAME["UNALLOCATED_NUMBER"]
ORIGINATOR_CANCEL = CAUSES_BY_NAME["ORIGINATOR_CANCEL"]
DESTINATION_OUT_OF_ORDER = CAUSES_BY_NAME["DESTINATION_OUT_OF_ORDER"]
RECOVERY_ON_TIMER_EXPIRE = CAUSES_BY_NAME["RECOVERY_ON_TIMER_EXPIRE"]
USER_NOT_REGISTERED = CAUSES_BY_NAME["USER_NOT_REGISTERED"]


def cause_by_name(name: str) -> HangupCause:
    """Look a cause up by name; unknown names are kept (code 0) rather than lost."""
    return CAUSES_BY_NAME.get(name, HangupCause(name, 0))


def cause_label(name: str | None) -> str:
    """A bounded label for metrics: known cause names pass, anything else becomes OTHER."""
    if name is None:
        return "NONE"
    return name if name in CAUSES_BY_NAME else "OTHER"
