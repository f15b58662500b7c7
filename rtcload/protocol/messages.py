"""Builders for every Verto message, client side and server side.

Each builder returns a `Request`/`Result` frame with params in the order the official SDK (client
side) or the platform (server side) uses, as recorded in ../shared/traces. Ids are passed in or
drawn from uuid4, so the functions stay pure apart from that.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from typing import Any

from rtcload.protocol.codes import HangupCause
from rtcload.protocol.dialog import DialogParams, TelnyxIds
from rtcload.protocol.gateway import GatewayState
from rtcload.protocol.jsonrpc import Request, RequestId, Result
from rtcload.protocol.methods import Method, ModifyAction

SDK_VERSION = "2.27.10"


def new_id() -> str:
    return str(uuid.uuid4())


@dataclass(frozen=True)
class UserAgent:
    """What the client says it is; rtcload identifies itself instead of pretending to be a browser."""

    sdk_version: str = SDK_VERSION
    data: str = "rtcload"

    def login_form(self) -> dict[str, str]:
        return {"sdkVersion": self.sdk_version, "data": self.data}

    def call_form(self) -> str:
        return f"rtcload-{self.sdk_version}"


DEFAULT_USER_AGENT = UserAgent()


# ---------------------------------------------------------------- client -> server


def login(
    *,
    login: str | None = None,
    passwd: str | None = None,
    login_token: str | None = None,
    user_variables: dict[str, Any] | None = None,
    reconnection: bool = False,
    early_sdp_answer: bool = False,
    user_agent: UserAgent = DEFAULT_USER_AGENT,
    sessid: str | None = None,
    request_id: RequestId | None = None,
) -> Request:
    """`login` with a password or a JWT; key order as protocol.md 5.1."""
    if login_token is None and (login is None or passwd is None):
        raise ValueError("login needs login+passwd or login_token")
    params: dict[str, Any] = {}
    if login is not None:
        params["login"] = login
    if passwd is not None:
        params["passwd"] = passwd
    if login_token is not None:
        params["login_token"] = login_token
    variables = {"push_when_active": False, "pn_late_fanout": False}
    variables.update(user_variables or {})
    params["userVariables"] = variables
    params["reconnection"] = reconnection
    params["loginParams"] = {"early_sdp_answer": early_sdp_answer}
    params["User-Agent"] = user_agent.login_form()
    if reconnection and sessid:
        params["sessid"] = sessid
    return Request(Method.LOGIN, params, request_id or new_id())


def anonymous_login(
    *,
    target_type: str,
    target_id: str,
    user_variables: dict[str, Any] | None = None,
    reconnection: bool = False,
    user_agent: UserAgent = DEFAULT_USER_AGENT,
    sessid: str | None = None,
    target_version_id: str | None = None,
    conversation_id: str | None = None,
    request_id: RequestId | None = None,
) -> Request:
    """`anonymous_login` (AI-assistant targets); key order as protocol.md 5.2."""
    if not target_type or not target_id:
        raise ValueError("anonymous_login needs target_type and target_id")
    params: dict[str, Any] = {
        "target_type": target_type,
        "target_id": target_id,
        "userVariables": dict(user_variables or {}),
        "reconnection": reconnection,
        "User-Agent": user_agent.login_form(),
    }
    if reconnection and sessid:
        params["sessid"] = sessid
    if target_version_id:
        params["target_version_id"] = target_version_id
    if conversation_id:
        params["target_params"] = {"conversation_id": conversation_id}
    return Request(Method.ANONYMOUS_LOGIN, params, request_id or new_id())


def gateway_state_query(voice_sdk_id: str | None = None, request_id: RequestId | None = None) -> Request:
    return Request(Method.GATEWAY_STATE, {}, request_id or new_id(), voice_sdk_id=voice_sdk_id)


def ping(voice_sdk_id: str | None = None, request_id: RequestId | None = None) -> Request:
    """The client's ping (keepalive, probe, and its answer to a server ping)."""
    return Request(Method.PING, {}, request_id or new_id(), voice_sdk_id=voice_sdk_id)


def _sdp_request(
    method: str,
    sessid: str,
    sdp: str,
    dialog: DialogParams,
    trickle: bool,
    user_agent: UserAgent,
    request_id: RequestId | None,
) -> Request:
    """invite/answer/attach share one shape: `sessid, sdp, dialogParams[, trickle], User-Agent`."""
    params: dict[str, Any] = {"sessid": sessid, "sdp": sdp, "dialogParams": dialog.to_wire()}
    if trickle:
        params["trickle"] = True
    params["User-Agent"] = user_agent.call_form()
    return Request(method, params, request_id or new_id())


def invite(
    *,
    sessid: str,
    sdp: str,
    dialog: DialogParams,
    trickle: bool = False,
    user_agent: UserAgent = DEFAULT_USER_AGENT,
    request_id: RequestId | None = None,
) -> Request:
    return _sdp_request(Method.INVITE, sessid, sdp, dialog, trickle, user_agent, request_id)


def answer(
    *,
    sessid: str,
    sdp: str,
    dialog: DialogParams,
    trickle: bool = False,
    user_agent: UserAgent = DEFAULT_USER_AGENT,
    request_id: RequestId | None = None,
) -> Request:
    """Client answer to an inbound call; with `dialog.attach` it becomes the attach answer."""
    method = Method.ATTACH if dialog.attach else Method.ANSWER
    return _sdp_request(method, sessid, sdp, dialog, trickle, user_agent, request_id)


def bye(
    *,
    sessid: str,
    dialog: DialogParams,
    cause: HangupCause,
    sip_code: int | None = None,
    sip_call_id: str | None = None,
    request_id: RequestId | None = None,
) -> Request:
    """Key order `sipCode, sip_call_id, sessid, dialogParams, cause, causeCode` (nulls really sent)."""
    params = {
        "sipCode": sip_code,
        "sip_call_id": sip_call_id,
        "sessid": sessid,
        "dialogParams": dialog.to_wire(),
        "cause": cause.name,
        "causeCode": cause.code,
    }
    return Request(Method.BYE, params, request_id or new_id())


def modify(*, sessid: str, action: ModifyAction, dialog: DialogParams, request_id: RequestId | None = None) -> Request:
    if action is ModifyAction.UPDATE_MEDIA:
        raise ValueError("use update_media() for ICE restarts: it needs an SDP")
    params = {"sessid": sessid, "action": str(action), "dialogParams": dialog.to_wire()}
    return Request(Method.MODIFY, params, request_id or new_id())


def update_media(
    *, sessid: str, sdp: str, dialog: DialogParams, trickle: bool = False, request_id: RequestId | None = None
) -> Request:
    """ICE restart: `modify` with action updateMedia and a new offer; the result must carry `sdp`."""
    params: dict[str, Any] = {
        "sessid": sessid,
        "action": str(ModifyAction.UPDATE_MEDIA),
        "callID": dialog.call_id,
        "sdp": sdp,
    }
    if trickle:
        params["trickle"] = True
    params["dialogParams"] = dialog.to_wire()
    return Request(Method.MODIFY, params, request_id or new_id())


def info_dtmf(*, sessid: str, dtmf: str, dialog: DialogParams, request_id: RequestId | None = None) -> Request:
    if not dtmf or any(ch not in "0123456789*#ABCDabcd" for ch in dtmf):
        raise ValueError("DTMF digits must be 0-9, *, #, A-D")
    params = {"sessid": sessid, "dtmf": dtmf, "dialogParams": dialog.to_wire()}
    return Request(Method.INFO, params, request_id or new_id())


def info_message(
    *, sessid: str, sender: str, to: str, body: str, dialog: DialogParams, request_id: RequestId | None = None
) -> Request:
    params = {"sessid": sessid, "msg": {"from": sender, "to": to, "body": body}, "dialogParams": dialog.to_wire()}
    return Request(Method.INFO, params, request_id or new_id())


def candidate(
    *,
    sessid: str,
    candidate_line: str,
    sdp_mid: str,
    sdp_mline_index: int,
    dialog: DialogParams,
    request_id: RequestId | None = None,
) -> Request:
    params = {
        "sessid": sessid,
        "candidate": candidate_line,
        "sdpMLineIndex": sdp_mline_index,
        "sdpMid": sdp_mid,
        "dialogParams": dialog.to_wire(),
    }
    return Request(Method.CANDIDATE, params, request_id or new_id())


def end_of_candidates(*, sessid: str, dialog: DialogParams, request_id: RequestId | None = None) -> Request:
    params = {"sessid": sessid, "endOfCandidates": True, "dialogParams": dialog.to_wire()}
    return Request(Method.END_OF_CANDIDATES, params, request_id or new_id())


def ack(server_request: Request) -> Result:
    """The SDK's acknowledgement of a server request: `{"result": {"method": ...}}`."""
    if server_request.id is None:
        raise ValueError("cannot ack a notification")
    return Result(server_request.id, {"method": server_request.method})


# ---------------------------------------------------------------- server -> client


def login_result(request_id: RequestId, sessid: str, voice_sdk_id: str | None = None) -> Result:
    return Result(request_id, {"message": "logged in", "sessid": sessid}, voice_sdk_id=voice_sdk_id)


def client_ready(reattached_sessions: list[str], request_id: RequestId | None = None) -> Request:
    return Request(Method.CLIENT_READY, {"reattached_sessions": list(reattached_sessions)}, request_id or new_id())


def gateway_state_result(
    request_id: RequestId, state: GatewayState, sessid: str, extra: dict[str, Any] | None = None
) -> Result:
    params: dict[str, Any] = {"state": str(state)}
    params.update(extra or {})
    return Result(request_id, {"params": params, "sessid": sessid})


def server_ping(serno: int | None = None, request_id: RequestId | None = None) -> Request:
    return Request(Method.PING, {"serno": int(time.time()) if serno is None else serno}, request_id or new_id())


def pong_result(request_id: RequestId, sessid: str | None) -> Result:
    out: dict[str, Any] = {"message": "PONG"}
    if sessid:
        out["sessid"] = sessid
    return Result(request_id, out)


def invite_result(request_id: RequestId, call_id: str, sessid: str) -> Result:
    return Result(request_id, {"message": "CALL CREATED", "callID": call_id, "sessid": sessid})


def call_party_fields(
    *, caller_id_name: str, caller_id_number: str, callee_id_name: str, callee_id_number: str
) -> dict[str, str]:
    return {
        "callee_id_name": callee_id_name,
        "callee_id_number": callee_id_number,
        "caller_id_name": caller_id_name,
        "caller_id_number": caller_id_number,
    }


def ringing(call_id: str, parties: dict[str, str], ids: TelnyxIds, request_id: RequestId | None = None) -> Request:
    params: dict[str, Any] = {"callID": call_id, **parties, "display_direction": "outbound"}
    params.update(ids.server_fields())
    return Request(Method.RINGING, params, request_id or new_id())


def early_media(call_id: str, sdp: str, ids: TelnyxIds, request_id: RequestId | None = None) -> Request:
    params: dict[str, Any] = {"callID": call_id, "sdp": sdp, **ids.server_fields()}
    return Request(Method.MEDIA, params, request_id or new_id())


def server_answer(call_id: str, sdp: str | None, ids: TelnyxIds, request_id: RequestId | None = None) -> Request:
    """`telnyx_rtc.answer` to the caller; without sdp when early media already carried it."""
    params: dict[str, Any] = {"callID": call_id}
    if sdp is not None:
        params["sdp"] = sdp
    params.update(ids.server_fields())
    return Request(Method.ANSWER, params, request_id or new_id())


def server_bye(
    call_id: str, cause: HangupCause, ids: TelnyxIds | None = None, request_id: RequestId | None = None
) -> Request:
    params: dict[str, Any] = {"callID": call_id, "cause": cause.name, "causeCode": cause.code}
    if cause.sip_code is not None:
        params["sipCode"] = cause.sip_code
        params["sipReason"] = cause.sip_reason
    if ids is not None:
        params.update(ids.server_fields())
    return Request(Method.BYE, params, request_id or new_id())


def bye_result(request_id: RequestId, call_id: str, cause: HangupCause, sessid: str) -> Result:
    return Result(
        request_id,
        {"callID": call_id, "message": "CALL ENDED", "cause": cause.name, "causeCode": cause.code, "sessid": sessid},
    )


def server_invite(
    *,
    call_id: str,
    sdp: str,
    parties: dict[str, str],
    ids: TelnyxIds,
    custom_headers: list[dict[str, str]] | None = None,
    method: Method = Method.INVITE,
    request_id: RequestId | None = None,
) -> Request:
    """Inbound invite (or attach re-offer) with every field the strictest SDK (Android) requires."""
    params: dict[str, Any] = {"callID": call_id, "sdp": sdp, **parties, **ids.server_fields()}
    params["dialogParams"] = {"custom_headers": list(custom_headers or [])}
    return Request(method, params, request_id or new_id())


def call_result(request_id: RequestId, call_id: str, sessid: str, message: str) -> Result:
    return Result(request_id, {"message": message, "callID": call_id, "sessid": sessid})


def modify_result(
    request_id: RequestId, call_id: str, action: str, hold_state: str, sessid: str, sdp: str | None = None
) -> Result:
    out: dict[str, Any] = {"callID": call_id, "action": action, "holdState": hold_state, "sessid": sessid}
    if sdp is not None:
        out["sdp"] = sdp
    return Result(request_id, out)


def info_result(request_id: RequestId, sessid: str) -> Result:
    return Result(request_id, {"message": "SENT", "sessid": sessid})


def punt(request_id: RequestId | None = None) -> Request:
    return Request(Method.PUNT, {}, request_id or new_id())


def display(
    call_id: str,
    display_name: str,
    display_number: str,
    direction: str = "outbound",
    request_id: RequestId | None = None,
) -> Request:
    params = {
        "callID": call_id,
        "display_name": display_name,
        "display_number": display_number,
        "display_direction": direction,
    }
    return Request(Method.DISPLAY, params, request_id or new_id())


def debug_report_reply(request_id: RequestId, report_type: str) -> Result:
    return Result(request_id, {"type": report_type})
