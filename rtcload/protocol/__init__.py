"""Sans-I/O Verto JSON-RPC: frames, message builders, codes, gateway states, call state machine.

No sockets and no asyncio here; the signaling client and the emulator do the I/O.
"""

from rtcload.protocol import messages
from rtcload.protocol.backoff import BackoffPolicy
from rtcload.protocol.call_state import CallState, CallStateMachine, IllegalTransition
from rtcload.protocol.codes import (
    CAUSES_BY_CODE,
    CAUSES_BY_NAME,
    HangupCause,
    RpcErrorCode,
    SdkCode,
    cause_by_name,
    cause_label,
)
from rtcload.protocol.dialog import DialogParams, TelnyxIds, call_id_of, custom_headers_of
from rtcload.protocol.gateway import GatewayAction, GatewayState, action_for, gateway_state_in_result
from rtcload.protocol.jsonrpc import (
    DebugReport,
    Error,
    Frame,
    FrameError,
    Request,
    RequestId,
    Result,
    encode_frame,
    error_for,
    frame_to_dict,
    parse_frame,
)
from rtcload.protocol.methods import CRITICAL_METHODS, CRITICAL_TIMEOUT_S, Method, ModifyAction
from rtcload.protocol.redact import redact, short_frame
from rtcload.protocol.tokens import jwt_claims, jwt_expiry, refresh_delay

__all__ = [
    "CAUSES_BY_CODE",
    "CAUSES_BY_NAME",
    "CRITICAL_METHODS",
    "CRITICAL_TIMEOUT_S",
    "BackoffPolicy",
    "CallState",
    "CallStateMachine",
    "DebugReport",
    "DialogParams",
    "Error",
    "Frame",
    "FrameError",
    "GatewayAction",
    "GatewayState",
    "HangupCause",
    "IllegalTransition",
    "Method",
    "ModifyAction",
    "Request",
    "RequestId",
    "Result",
    "RpcErrorCode",
    "SdkCode",
    "TelnyxIds",
    "action_for",
    "call_id_of",
    "cause_by_name",
    "cause_label",
    "custom_headers_of",
    "encode_frame",
    "error_for",
    "frame_to_dict",
    "gateway_state_in_result",
    "jwt_claims",
    "jwt_expiry",
    "messages",
    "parse_frame",
    "redact",
    "refresh_delay",
    "short_frame",
]
