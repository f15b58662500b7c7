"""Errors the signaling client raises: each names the code, the client and the call involved."""

from __future__ import annotations

from rtcload.protocol.codes import SdkCode


class SignalingError(Exception):
    """Base error; `code` is an SDK code (46001, 48501, ...) or a JSON-RPC error code from the server."""

    def __init__(self, code: int, message: str, *, client: str = "", call_id: str | None = None) -> None:
        where = f"[{client}]" if client else ""
        if call_id:
            where += f"[call {call_id}]"
        super().__init__(f"{where} {code} {message}".strip())
        self.code = code
        self.detail = message
        self.client = client
        self.call_id = call_id


class LoginFailed(SignalingError):
    def __init__(self, message: str, *, client: str = "", server_code: int | None = None) -> None:
        super().__init__(int(SdkCode.LOGIN_FAILED), message, client=client)
        self.server_code = server_code


class RequestTimeout(SignalingError):
    def __init__(self, method: str, timeout_s: float, *, client: str = "", call_id: str | None = None) -> None:
        super().__init__(
            int(SdkCode.REQUEST_TIMEOUT), f"{method} got no reply in {timeout_s:g} s", client=client, call_id=call_id
        )
        self.method = method


class ConnectionLost(SignalingError):
    def __init__(self, message: str = "socket closed", *, client: str = "", call_id: str | None = None) -> None:
        super().__init__(int(SdkCode.CONNECT_FAILED), message, client=client, call_id=call_id)


class ConnectFailed(ConnectionLost):
    """The WebSocket could not be opened (refused, DNS, TLS, handshake, timeout)."""


class ServerError(SignalingError):
    """The server answered a request with a JSON-RPC error."""

    def __init__(self, method: str, code: int, message: str, *, client: str = "", call_id: str | None = None) -> None:
        super().__init__(code, f"{method} failed: {message}", client=client, call_id=call_id)
        self.method = method


class CallFailed(SignalingError):
    """A call ended before it was answered; `cause` is the hangup cause name."""

    def __init__(
        self,
        cause: str,
        cause_code: int,
        *,
        client: str = "",
        call_id: str | None = None,
        ended_by: str | None = None,
        reason: str | None = None,
    ) -> None:
        who = f" by {ended_by}" if ended_by else ""
        why = f": {reason}" if reason else ""
        super().__init__(
            int(SdkCode.CALL_FAILED), f"call ended: {cause} ({cause_code}){who}{why}", client=client, call_id=call_id
        )
        self.reason = reason
        self.cause = cause
        self.cause_code = cause_code
