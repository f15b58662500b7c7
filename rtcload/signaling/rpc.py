"""Requests out, results in: JSON-RPC correlation on whichever socket the session has open now.

The session owns the socket and its lifecycle; this room owns the table of requests waiting for
an answer, the timeouts, and what a silent critical request or an `-32000` means. It knows nothing
of calls or registration: two hooks tell the session when signaling looks dead or logged out.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed

from rtcload.protocol.codes import RpcErrorCode, SdkCode
from rtcload.protocol.jsonrpc import Error, Request, RequestId, Result, encode_frame
from rtcload.protocol.methods import CRITICAL_METHODS, Method
from rtcload.signaling.config import ClientConfig
from rtcload.signaling.errors import ConnectionLost, RequestTimeout, ServerError, SignalingError
from rtcload.signaling.events import EventKind, EventLog

log = logging.getLogger("rtcload.signaling")


@dataclass
class Pending:
    """One request waiting for its result; `on_result` runs in the reader, before anything else sees it."""

    future: asyncio.Future[Any]
    method: str
    call_id: str | None
    on_result: Callable[[Any], None] | None = None


class RpcChannel:
    """The pending-request table of one client, over the socket the session hands it (`ws`)."""

    def __init__(
        self,
        config: ClientConfig,
        events: EventLog,
        *,
        on_dead_signaling: Callable[[], None],
        on_logged_out: Callable[[], None],
    ) -> None:
        self.config = config
        self.label = config.label
        self.events = events
        self.ws: ClientConnection | None = None  # set and cleared by the session
        self._pending: dict[RequestId, Pending] = {}
        self._on_dead_signaling = on_dead_signaling
        self._on_logged_out = on_logged_out

    async def send(self, frame: Request | Result) -> None:
        if self.ws is None:
            raise ConnectionLost("not connected", client=self.label)
        try:
            await self.ws.send(encode_frame(frame))
        except ConnectionClosed:
            raise ConnectionLost("socket closed while sending", client=self.label) from None

    async def request(
        self,
        request: Request,
        timeout: float | None = None,
        call_id: str | None = None,
        on_result: Callable[[Any], None] | None = None,
        sent: asyncio.Event | None = None,
    ) -> Any:
        """Send a request and wait for its result; errors become ServerError, silence RequestTimeout.

        `sent` is set once the frame is on the socket: a caller can pipeline the next request after it
        (trickle candidates, as the SDK sends them) while this one waits for its result."""
        assert request.id is not None
        critical = request.method in CRITICAL_METHODS
        if timeout is None:
            timeout = self.config.critical_timeout_s if critical else self.config.request_timeout_s
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._pending[request.id] = Pending(future, request.method, call_id, on_result)
        try:
            await self.send(request)
            if sent is not None:
                sent.set()
            return await asyncio.wait_for(future, timeout)
        except TimeoutError:
            self.events.emit(
                EventKind.PROTOCOL_ERROR, call_id=call_id, code=int(SdkCode.REQUEST_TIMEOUT), method=request.method
            )
            if critical and self.ws is not None:
                # The SDK treats a silent critical request as dead signaling and reconnects.
                self.events.emit(EventKind.RECOVERY_REQUIRED, code=int(SdkCode.SIGNALING_RECOVERY_REQUIRED))
                self._on_dead_signaling()
            raise RequestTimeout(request.method, timeout, client=self.label, call_id=call_id) from None
        except ServerError as exc:
            if exc.code == RpcErrorCode.AUTHENTICATION_REQUIRED and request.method not in (
                Method.LOGIN,
                Method.ANONYMOUS_LOGIN,
            ):
                self._on_logged_out()
            raise
        finally:
            self._pending.pop(request.id, None)
            # an error raised from the future keeps this frame in its traceback: no cycle back to it
            del future

    def expect(self, request_id: RequestId, method: str) -> None:
        """Register a request sent by other means (the health probe) so its result is recognised."""
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._pending[request_id] = Pending(future, method, None)

    def forget(self, request_id: RequestId) -> None:
        self._pending.pop(request_id, None)

    def resolve(self, frame: Result, run_hook: bool = True) -> bool:
        """Hand a result to its waiter; False when nothing waits for it (stale or unknown id)."""
        entry = self._pending.pop(frame.id, None)
        if entry is None:
            return False
        if run_hook and entry.on_result is not None:
            entry.on_result(frame.result)
        if not entry.future.done():
            entry.future.set_result(frame.result)
        return True

    def reject(self, frame: Error) -> None:
        """A JSON-RPC error: the waiter gets ServerError; one nobody waits for is a protocol error."""
        entry = self._pending.pop(frame.id, None) if frame.id is not None else None
        if entry is None:
            self.events.emit(EventKind.PROTOCOL_ERROR, code=frame.code, detail=frame.message)
            log.warning("[%s] server error without a pending request: %s %s", self.label, frame.code, frame.message)
            return
        if not entry.future.done():
            entry.future.set_exception(
                ServerError(entry.method, frame.code, frame.message, client=self.label, call_id=entry.call_id)
            )

    def fail_all(self, exc: SignalingError) -> None:
        """The socket is gone: every waiter gets `exc` now rather than its timeout later."""
        pending, self._pending = self._pending, {}
        for entry in pending.values():
            if not entry.future.done():
                entry.future.set_exception(exc)
                entry.future.exception()
