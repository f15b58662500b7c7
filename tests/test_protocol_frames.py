"""The sans-I/O protocol layer against real frames of the official SDK."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rtcload.protocol import (
    DebugReport,
    DialogParams,
    Error,
    FrameError,
    Request,
    Result,
    RpcErrorCode,
    TelnyxIds,
    call_id_of,
    encode_frame,
    frame_to_dict,
    messages,
    parse_frame,
)
from rtcload.protocol.codes import USER_BUSY


def _trace_frames(traces_dir: Path) -> list[tuple[str, str, dict]]:
    out = []
    for path in sorted(traces_dir.glob("*.jsonl")):
        for line in path.read_text().splitlines():
            entry = json.loads(line)
            if entry["kind"] in ("in", "out"):
                out.append((path.name, entry["kind"], entry["data"]))
    return out


def test_every_trace_frame_parses_and_round_trips(traces_dir: Path) -> None:
    frames = _trace_frames(traces_dir)
    assert len(frames) > 100
    kinds: set[type] = set()
    for name, _kind, data in frames:
        frame = parse_frame(json.dumps(data))
        kinds.add(type(frame))
        assert frame_to_dict(frame) == data, f"{name}: round trip changed {data}"
    assert {Request, Result, DebugReport} <= kinds


def _first(traces_dir: Path, kind: str, method: str) -> dict:
    for _name, k, data in _trace_frames(traces_dir):
        if k == kind and data.get("method") == method:
            return data
    raise AssertionError(f"no {kind} {method} in traces")


def test_login_builder_matches_sdk_key_order(traces_dir: Path) -> None:
    sdk = _first(traces_dir, "in", "login")["params"]
    ours = messages.login(login="harness", passwd="harness-pass").params
    assert list(ours) == list(sdk)
    assert ours["userVariables"] == sdk["userVariables"]
    assert ours["loginParams"] == sdk["loginParams"]


def test_bye_and_invite_builders_match_sdk_key_order(traces_dir: Path) -> None:
    sdk_bye = _first(traces_dir, "in", "telnyx_rtc.bye")["params"]
    sdk_invite = _first(traces_dir, "in", "telnyx_rtc.invite")["params"]
    dialog = DialogParams(call_id="c1", destination_number="echo", remote_caller_id_number="echo")
    invite = messages.invite(sessid="s", sdp="v=0", dialog=dialog).params
    assert list(invite) == list(sdk_invite)
    assert list(invite["dialogParams"])[:9] == list(sdk_invite["dialogParams"])[:9]
    dialog.telnyx = TelnyxIds("v3:x", "sess", "leg")
    ours_bye = messages.bye(sessid="s", dialog=dialog, cause=USER_BUSY).params
    assert list(ours_bye) == list(sdk_bye)
    assert ours_bye["sipCode"] is None and ours_bye["sip_call_id"] is None
    assert ours_bye["dialogParams"]["telnyxSessionId"] == "sess"
    assert call_id_of(ours_bye) == "c1"


def test_login_builder_refuses_missing_credentials() -> None:
    with pytest.raises(ValueError):
        messages.login(login="user")
    jwt = messages.login(login_token="a.b.c").params
    assert "login" not in jwt and "passwd" not in jwt and jwt["login_token"] == "a.b.c"
    again = messages.login(login_token="a.b.c", reconnection=True, sessid="old").params
    assert list(again)[-1] == "sessid" and again["reconnection"] is True


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("{not json", RpcErrorCode.PARSE_ERROR),
        ("[1,2]", RpcErrorCode.INVALID_REQUEST),
        ('{"id":1,"method":"x"}', RpcErrorCode.INVALID_REQUEST),
        ('{"jsonrpc":"2.0","id":1,"method":""}', RpcErrorCode.INVALID_REQUEST),
        ('{"jsonrpc":"2.0","id":1,"method":"x","params":[1]}', RpcErrorCode.INVALID_REQUEST),
        ('{"jsonrpc":"2.0","id":{"a":1},"method":"x"}', RpcErrorCode.INVALID_REQUEST),
        ('{"jsonrpc":"2.0","result":{}}', RpcErrorCode.INVALID_REQUEST),
        ('{"jsonrpc":"2.0","id":1}', RpcErrorCode.INVALID_REQUEST),
    ],
)
def test_garbage_raises_frame_error_with_the_code_to_answer(text: str, code: RpcErrorCode) -> None:
    with pytest.raises(FrameError) as info:
        parse_frame(text)
    assert info.value.code is code


def test_frame_error_keeps_the_request_id_when_readable() -> None:
    with pytest.raises(FrameError) as info:
        parse_frame('{"jsonrpc":"2.0","id":"abc","method":7}')
    assert info.value.request_id == "abc"


def test_oversize_frame_is_refused() -> None:
    big = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "x", "params": {"pad": "a" * 2000}})
    with pytest.raises(FrameError) as info:
        parse_frame(big, max_bytes=1000)
    assert info.value.code is RpcErrorCode.INVALID_REQUEST
    assert "exceeds" in info.value.detail


def test_error_frames_parse_and_encode() -> None:
    frame = parse_frame('{"jsonrpc":"2.0","id":"x","error":{"code":-32001,"message":"Authentication Failure"}}')
    assert isinstance(frame, Error) and frame.code == -32001
    assert json.loads(encode_frame(frame))["error"]["message"] == "Authentication Failure"


def test_voice_sdk_id_is_read_from_the_top_level() -> None:
    frame = parse_frame(encode_frame(messages.login_result("i", "sess", voice_sdk_id="vsdk-1")))
    assert isinstance(frame, Result) and frame.voice_sdk_id == "vsdk-1"
    assert frame.result["sessid"] == "sess"


def test_dtmf_builder_validates_digits() -> None:
    dialog = DialogParams(call_id="c")
    assert messages.info_dtmf(sessid="s", dtmf="12#", dialog=dialog).params["dtmf"] == "12#"
    with pytest.raises(ValueError):
        messages.info_dtmf(sessid="s", dtmf="x", dialog=dialog)
