"""JSON-RPC 2.0 framing for Verto: parse text frames into typed objects and encode them back.

Sans-I/O: these functions take and return strings. Parsing never raises on garbage; it raises
`FrameError`, which carries the JSON-RPC error code a server should answer with.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from rtcload.protocol.codes import RPC_ERROR_MESSAGES, RpcErrorCode
from rtcload.protocol.methods import DEBUG_REPORT_TYPES

RequestId = str | int

DEFAULT_MAX_FRAME_BYTES = 1 << 20  # 1 MiB: an SDP is a few KiB; debug reports stay far below this
MAX_NESTING = 32  # the deepest Verto frame (debug reports, call reports) nests under 10 levels


class FrameError(Exception):
    """A frame that is not valid JSON-RPC; `code` is what to answer with, `request_id` if one was readable."""

    def __init__(self, code: RpcErrorCode, detail: str, request_id: RequestId | None = None) -> None:
        super().__init__(f"{code.name} ({int(code)}): {detail}")
        self.code = code
        self.detail = detail
        self.request_id = request_id


@dataclass(frozen=True)
class Request:
    """A request (or a notification when `id` is None)."""

    method: str
    params: dict[str, Any] = field(default_factory=dict)
    id: RequestId | None = None
    voice_sdk_id: str | None = None


@dataclass(frozen=True)
class Result:
    id: RequestId
    result: Any
    voice_sdk_id: str | None = None


@dataclass(frozen=True)
class Error:
    id: RequestId | None
    code: int
    message: str
    data: Any = None
    voice_sdk_id: str | None = None


@dataclass(frozen=True)
class DebugReport:
    """`debug_report_*` frames: an id and a `type`, no method; the SDK waits for a reply to the start."""

    id: RequestId
    type: str
    body: dict[str, Any]


Frame = Request | Result | Error | DebugReport


def _valid_id(value: Any) -> bool:
    return isinstance(value, str | int) and not isinstance(value, bool)


def nesting_depth(value: Any) -> int:
    """How deep arrays and objects nest in a parsed JSON value, walked without recursion."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        deepest = max(deepest, depth)
        if deepest > MAX_NESTING:
            return deepest
        stack.extend((child, depth + 1) for child in children)
    return deepest


def loads_bounded(text: str | bytes, max_nesting: int = MAX_NESTING) -> Any:
    """`json.loads` that fails as FrameError(PARSE_ERROR) on garbage and on hostile nesting.

    The C decoder recurses once per level, so tens of thousands of `[` raise RecursionError (not
    ValueError); shallower but still absurd nesting would recurse later, in redaction or logging.
    Both are refused here, where a server can still answer -32700.
    """
    try:
        obj = json.loads(text)
    except (ValueError, UnicodeDecodeError) as exc:
        raise FrameError(RpcErrorCode.PARSE_ERROR, f"not JSON: {exc.__class__.__name__}") from None
    except RecursionError:
        raise FrameError(RpcErrorCode.PARSE_ERROR, f"JSON nested deeper than {max_nesting} levels") from None
    if nesting_depth(obj) > max_nesting:
        raise FrameError(RpcErrorCode.PARSE_ERROR, f"JSON nested deeper than {max_nesting} levels")
    return obj


def parse_frame(text: str | bytes, max_bytes: int = DEFAULT_MAX_FRAME_BYTES) -> Frame:
    """Parse one WebSocket text frame.

    Raises FrameError(PARSE_ERROR) for non-JSON, FrameError(INVALID_REQUEST) for JSON that is not
    a JSON-RPC 2.0 object (oversize frames are INVALID_REQUEST too).
    """
    size = len(text.encode() if isinstance(text, str) else text)
    if size > max_bytes:
        raise FrameError(RpcErrorCode.INVALID_REQUEST, f"frame of {size} bytes exceeds limit of {max_bytes}")
    obj = loads_bounded(text)
    if not isinstance(obj, dict):
        raise FrameError(RpcErrorCode.INVALID_REQUEST, f"expected a JSON object, got {type(obj).__name__}")
    raw_id = obj.get("id")
    request_id = raw_id if _valid_id(raw_id) else None
    if obj.get("jsonrpc") != "2.0":
        raise FrameError(RpcErrorCode.INVALID_REQUEST, "missing jsonrpc: '2.0'", request_id)
    if raw_id is not None and request_id is None:
        raise FrameError(RpcErrorCode.INVALID_REQUEST, "id must be a string or an integer")
    voice_sdk_id = obj.get("voice_sdk_id") if isinstance(obj.get("voice_sdk_id"), str) else None

    if "method" in obj:
        method = obj["method"]
        if not isinstance(method, str) or not method:
            raise FrameError(RpcErrorCode.INVALID_REQUEST, "method must be a non-empty string", request_id)
        params = obj.get("params", {})
        if params is None:
            params = {}
        if not isinstance(params, dict):
            raise FrameError(RpcErrorCode.INVALID_REQUEST, "params must be an object", request_id)
        return Request(method=method, params=params, id=request_id, voice_sdk_id=voice_sdk_id)
    if "result" in obj:
        if request_id is None:
            raise FrameError(RpcErrorCode.INVALID_REQUEST, "result without an id")
        return Result(id=request_id, result=obj["result"], voice_sdk_id=voice_sdk_id)
    if "error" in obj:
        err = obj["error"]
        if not isinstance(err, dict) or not isinstance(err.get("code"), int):
            raise FrameError(RpcErrorCode.INVALID_REQUEST, "error must be an object with an integer code")
        return Error(
            id=request_id,
            code=err["code"],
            message=str(err.get("message", "")),
            data=err.get("data"),
            voice_sdk_id=voice_sdk_id,
        )
    frame_type = obj.get("type")
    if isinstance(frame_type, str) and frame_type in DEBUG_REPORT_TYPES and request_id is not None:
        body = {k: v for k, v in obj.items() if k not in ("jsonrpc", "id", "type")}
        return DebugReport(id=request_id, type=frame_type, body=body)
    raise FrameError(RpcErrorCode.INVALID_REQUEST, "neither method, result nor error", request_id)


def _envelope(frame_id: RequestId | None, voice_sdk_id: str | None) -> dict[str, Any]:
    out: dict[str, Any] = {"jsonrpc": "2.0"}
    if frame_id is not None:
        out["id"] = frame_id
    return out


def frame_to_dict(frame: Frame) -> dict[str, Any]:
    """The JSON object for a frame, keys in the order the SDK and the platform put them."""
    if isinstance(frame, Request):
        out = _envelope(frame.id, frame.voice_sdk_id)
        out["method"] = frame.method
        if frame.voice_sdk_id is not None:
            out["voice_sdk_id"] = frame.voice_sdk_id
        out["params"] = frame.params
        return out
    if isinstance(frame, Result):
        out = _envelope(frame.id, None)
        out["result"] = frame.result
    elif isinstance(frame, Error):
        out = {"jsonrpc": "2.0", "id": frame.id}
        err: dict[str, Any] = {"code": frame.code, "message": frame.message}
        if frame.data is not None:
            err["data"] = frame.data
        out["error"] = err
    else:
        out = _envelope(frame.id, None)
        out["type"] = frame.type
        out.update(frame.body)
        return out
    if frame.voice_sdk_id is not None:
        out["voice_sdk_id"] = frame.voice_sdk_id
    return out


def encode_frame(frame: Frame) -> str:
    return json.dumps(frame_to_dict(frame), separators=(",", ":"))


def error_for(code: RpcErrorCode, request_id: RequestId | None, message: str | None = None, data: Any = None) -> Error:
    """A JSON-RPC error frame with the conventional message for the code."""
    return Error(id=request_id, code=int(code), message=message or RPC_ERROR_MESSAGES[code], data=data)
