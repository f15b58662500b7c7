"""The signaling session: the socket's lifecycle, login, readiness and reconnect.

Like `websockets` keeps the connection's lifecycle apart from what flows on it, this room owns the
WebSocket and the registration on it and knows nothing about calls: frames that concern a call are
handed up through `SessionHooks`, and the calls room says which calls to purge when the session
gives up. Its parts: `rpc.RpcChannel` (requests and results), `login.Login` (credentials, sessid,
token refresh), `keepalive.Keepalive` (pings, the health probe), `dial` (the URL and TLS of a
connect) and `loss_report.LossReport` (why a socket ended, in words). Message shapes, codes and
state rules come from `rtcload.protocol`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import re
import ssl
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidURI

from rtcload import __version__, ws_cycles
from rtcload.protocol import messages
from rtcload.protocol.codes import SdkCode
from rtcload.protocol.gateway import (
    GatewayAction,
    GatewayState,
    action_for,
    gateway_state_in_result,
    parse_gateway_state,
)
from rtcload.protocol.jsonrpc import DebugReport, Error, FrameError, Request, Result, parse_frame
from rtcload.protocol.methods import Method
from rtcload.protocol.redact import install_redaction, redact_text, short_frame
from rtcload.signaling import dial
from rtcload.signaling.config import ClientConfig
from rtcload.signaling.errors import (
    ConnectFailed,
    ConnectionLost,
    LoginFailed,
    RequestTimeout,
    SignalingError,
)
from rtcload.signaling.events import EventKind, EventLog
from rtcload.signaling.keepalive import Keepalive
from rtcload.signaling.login import Login
from rtcload.signaling.loss_report import LossReport
from rtcload.signaling.rpc import RpcChannel
from rtcload.tasks import TrackedTasks

log = logging.getLogger("rtcload.signaling")
ws_cycles.install()  # dropped sockets freed by reference counting, not at a full collection
install_redaction()  # frames logged by websockets at DEBUG, and ours, never show a secret
# what a server's call_report_id may be before it goes into an `x-call-report-id` header: a token, not text
CALL_REPORT_ID = re.compile(r"[A-Za-z0-9._~:+/=-]{1,256}")

# Server requests about one call: the session hands them to the calls room as they are.
CALL_METHODS = frozenset(
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
NOTIFICATION_METHODS = frozenset({Method.INFO, Method.EVENT, Method.AI_CONVERSATION})


@dataclass
class RegistrationTimings:
    """design.md: registration = connect start -> REGED, with its three phases."""

    ws_connect_s: float
    login_s: float
    ready_s: float

    @property
    def total_s(self) -> float:
        return self.ws_connect_s + self.login_s + self.ready_s


@dataclass(frozen=True)
class SessionHooks:
    """What the session needs from the rooms above it: where call frames go, and how calls end."""

    on_call_request: Callable[[Request], None]  # a server request in CALL_METHODS
    on_client_ready: Callable[[list[str]], None]  # clientReady, with the call ids the platform kept
    purge_calls: Callable[[], Awaitable[None]]  # the session is over: end every call without a bye
    call_count: Callable[[], int]  # calls known now (for the SOCKET_LOST event)


class Session:
    """One registered endpoint's signaling: connect, stay registered, reconnect, and the requests on it."""

    def __init__(self, config: ClientConfig, events: EventLog, rng: random.Random, hooks: SessionHooks) -> None:
        self.config = config
        self.label = config.label
        self.events = events
        self.rng = rng
        self.hooks = hooks
        self.rpc = RpcChannel(config, events, on_dead_signaling=self.abort_socket, on_logged_out=self._on_logged_out)
        self.login = Login(config, events, self.rpc)
        self.keepalive = Keepalive(config, events, self.rpc, lambda: self.voice_sdk_id)
        self.notifications: list[dict[str, Any]] = []
        self.voice_sdk_id: str | None = None
        self.gateway_state: GatewayState | None = None
        self.call_report_id: str | None = None
        self.registration: RegistrationTimings | None = None
        self.reconnect_count = 0
        self.last_reconnect_s: float | None = None
        self.closing = False
        self.tasks = TrackedTasks(f"rtcload-{config.label}", log)
        self._reader: asyncio.Task[None] | None = None
        self._ready_future: asyncio.Future[None] | None = None
        self._register_polls = 0
        self._gateway_failures = 0
        self._skip_last_voice_sdk_id = False
        self._lifecycle: asyncio.Task[None] | None = None
        self._socket_lost_at: float | None = None
        self._connect_started = 0.0
        self.loss = LossReport(config.max_frame_bytes)  # how the current socket went wrong, in words

    @property
    def sessid(self) -> str | None:
        """The platform's id for this session, from the last successful login."""
        return self.login.sessid

    @property
    def _ws(self) -> ClientConnection | None:
        return self.rpc.ws

    @_ws.setter
    def _ws(self, ws: ClientConnection | None) -> None:
        self.rpc.ws = ws

    # ================================================================ state

    @property
    def ready(self) -> bool:
        return self._ready_future is not None and self._ready_future.done() and self._ready_future.exception() is None

    @property
    def connected(self) -> bool:
        return self._ws is not None and self._ws.state.name == "OPEN"

    async def ping(self) -> float:
        """Round trip of one telnyx_rtc.ping request, in seconds."""
        return await self.keepalive.ping()

    def spawn(self, coro: Any, name: str) -> asyncio.Task[Any]:
        return self.tasks.spawn(coro, name)

    async def send(self, frame: Request | Result) -> None:
        await self.rpc.send(frame)

    async def request(
        self,
        request: Request,
        timeout: float | None = None,
        call_id: str | None = None,
        on_result: Callable[[Any], None] | None = None,
        sent: asyncio.Event | None = None,
    ) -> Any:
        return await self.rpc.request(request, timeout, call_id, on_result, sent)

    # ================================================================ lifecycle

    async def connect(self, timeout: float | None, close: Callable[[], Awaitable[None]]) -> RegistrationTimings:
        """Open the socket, log in and wait for REGED; on failure `close()` runs before the error is raised."""
        if self._lifecycle is not None:
            raise RuntimeError(f"[{self.label}] connect() called twice")
        self.closing = False
        self._ready_future = asyncio.get_running_loop().create_future()
        self._lifecycle = asyncio.create_task(self._run_lifecycle(), name=f"rtcload-{self.label}-lifecycle")
        budget = timeout if timeout is not None else self.config.connect_timeout_s + self.config.login_timeout_s + 40
        try:
            await asyncio.wait_for(asyncio.shield(self._ready_future), budget)
        except TimeoutError:
            stage = self.registration_stage()
            await close()
            raise TimeoutError(f"[{self.label}] not registered within {budget:g} s: {stage}") from None
        except SignalingError:
            await close()
            raise
        assert self.registration is not None
        return self.registration

    async def wait_ready(self, timeout: float) -> None:
        """Wait until registered again (after a reconnect); raises the fatal error if it gave up."""
        if self._ready_future is None:
            raise RuntimeError(f"[{self.label}] not connected")
        await asyncio.wait_for(asyncio.shield(self._ready_future), timeout)

    async def wait_signaling(self, call_id: str | None = None) -> None:
        """Before a call request: wait (bounded) for a reconnect in progress to finish."""
        if self.ready:
            return
        try:
            await self.wait_ready(self.config.request_timeout_s)
        except TimeoutError:
            raise ConnectionLost("signaling not ready", client=self.label, call_id=call_id) from None

    async def shutdown(self) -> None:
        """The end of close(): the socket, every task, every waiter. Calls are already purged."""
        self.closing = True
        if self._ws is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._ws.close(), 5)
        for task in [self._lifecycle, self._reader, *self.tasks]:
            if task is not None and not task.done():
                task.cancel()
        for task in [self._lifecycle, self._reader, *self.tasks]:
            if task is not None:
                with contextlib.suppress(BaseException):
                    await task
        self.tasks.clear()
        self.rpc.fail_all(ConnectionLost("client closed", client=self.label))
        if self._ready_future is not None and not self._ready_future.done():
            self._ready_future.set_exception(ConnectionLost("client closed", client=self.label))
            self._ready_future.exception()  # mark retrieved
        self.events.emit(EventKind.CLOSED)

    async def _run_lifecycle(self) -> None:
        """Connect, then keep reconnecting after socket loss until closed or out of attempts."""
        attempt = 0
        reconnecting = False
        while not self.closing:
            try:
                await self._open_and_login(reconnecting)
                await self._wait_registered()
                attempt = 0
                if reconnecting:
                    self.reconnect_count += 1
                    self.events.emit(EventKind.RECONNECTED, duration_s=self.last_reconnect_s)
                assert self._reader is not None
                await self._reader  # returns when the socket closes
            except LoginFailed as exc:
                self._set_fatal(exc)
                await self._close_socket()
                return
            except ConnectFailed as exc:
                log.info("[%s] %s", self.label, exc)
                if not reconnecting:
                    # A dead target on the first connect is reported at once, not retried for minutes.
                    self._set_fatal(exc)
                    return
            except (ConnectionLost, RequestTimeout, OSError, TimeoutError) as exc:
                log.info("[%s] connection problem: %s", self.label, exc)
                problem = getattr(exc, "detail", None) or str(exc) or type(exc).__name__
            else:
                problem = "socket closed"
            await self._close_socket()
            if self.closing:
                return
            if not self.config.auto_reconnect:
                cause = self.describe_loss(problem)
                self._set_fatal(ConnectionLost(f"{cause} (auto_reconnect off)", client=self.label))
                await self.hooks.purge_calls()
                return
            reconnecting = True
            if self._socket_lost_at is None:
                self._socket_lost_at = time.monotonic()
            if self._ready_future is None or self._ready_future.done():
                self._ready_future = asyncio.get_running_loop().create_future()
            attempt += 1
            if self.config.backoff.exhausted(attempt) or self._gateway_failures >= 5:
                err = SignalingError(
                    int(SdkCode.RECONNECTION_EXHAUSTED), f"gave up after {attempt - 1} attempts", client=self.label
                )
                self.events.emit(EventKind.RECONNECT_EXHAUSTED, attempts=attempt - 1)
                self._set_fatal(err)
                await self.hooks.purge_calls()
                return
            delay = self.config.backoff.delay(attempt, self.rng)
            if self._gateway_failures:
                lo, hi = self.config.register_repoll_s
                delay = lo + self.rng.random() * (hi - lo)
            self.events.emit(EventKind.RECONNECT_ATTEMPT, attempt=attempt, delay_s=delay)
            await asyncio.sleep(delay)

    def registration_stage(self) -> str:
        """Where registration stands, in words, for a timeout message."""
        if self.login.sent_at == 0.0:
            problem = f"the socket to {self._netloc()} did not open"
        elif self.login.ok_at < self.login.sent_at:
            problem = "the server never answered the login"
        else:
            problem = f"logged in, but the server never reported REGED (last state {self.gateway_state or 'none'})"
        return self.describe_loss(problem)

    def describe_loss(self, problem: str) -> str:
        """What ended the connection, in words (see `loss_report.LossReport.describe`)."""
        return self.loss.describe(problem)

    def _set_fatal(self, exc: BaseException) -> None:
        if self._ready_future is None or self._ready_future.done():
            self._ready_future = asyncio.get_running_loop().create_future()
        self._ready_future.set_exception(exc)
        self._ready_future.exception()  # retrieved: callers see it through connect()/wait_ready()

    # ================================================================ socket

    def _netloc(self) -> str:
        return dial.netloc(self.config.url)

    def ssl_context(self) -> ssl.SSLContext | None:
        """TLS for wss:// targets: verified by default (the CA file if given); None for ws://."""
        return dial.ssl_context(self.config)

    async def _open_and_login(self, reconnecting: bool) -> None:
        self._connect_started = self.events.emit(EventKind.WS_CONNECT_START, reconnect=reconnecting).t
        try:
            self._ws = await asyncio.wait_for(
                connect(
                    dial.target_url(
                        self.config.url, self.voice_sdk_id if reconnecting else None, self._skip_last_voice_sdk_id
                    ),
                    ssl=self.ssl_context(),
                    open_timeout=None,
                    ping_interval=None,  # liveness is telnyx_rtc.ping, like the browser SDK
                    max_size=self.config.max_frame_bytes,
                    compression=None,
                    user_agent_header=f"rtcload/{__version__}",
                ),
                self.config.connect_timeout_s,
            )
        except TimeoutError:
            self.events.emit(EventKind.WS_CONNECT_FAILED, reason="timeout")
            raise ConnectFailed(
                f"connect to {self._netloc()} timed out after {self.config.connect_timeout_s:g} s", client=self.label
            ) from None
        except (OSError, InvalidHandshake, InvalidURI) as exc:
            self.events.emit(EventKind.WS_CONNECT_FAILED, reason=type(exc).__name__)
            raise ConnectFailed(f"connect to {self._netloc()} failed: {exc}", client=self.label) from None
        opened = self.events.emit(EventKind.WS_OPEN).t
        self.loss.reset()
        if not reconnecting:
            self.registration = RegistrationTimings(opened - self._connect_started, 0.0, 0.0)
        self.keepalive.socket_opened(opened)
        self._reader = asyncio.create_task(self._read_loop(self._ws), name=f"rtcload-{self.label}-reader")
        if self.config.health.enabled:
            self.spawn(self.keepalive.monitor(self._ws, lambda: None if self.closing else self._ws), "health")
        await self._login(reconnecting)
        if not reconnecting:
            self.spawn(self.login.token_timer(lambda: self.closing, lambda: self.voice_sdk_id), "token")

    async def _wait_registered(self) -> None:
        """Until REGED, a fatal error, or the socket closing (whichever comes first)."""
        assert self._ready_future is not None and self._reader is not None
        ready = self._ready_future
        await asyncio.wait({ready, self._reader}, return_when=asyncio.FIRST_COMPLETED)
        if ready.done():
            ready.result()
            return
        raise ConnectionLost("socket closed before registration completed", client=self.label)

    async def _close_socket(self) -> None:
        ws, self._ws = self._ws, None
        if ws is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(ws.close(), 2)
        if self._reader is not None and not self._reader.done():
            self._reader.cancel()
            with contextlib.suppress(BaseException):
                await self._reader

    def abort_socket(self) -> None:
        """Abort the socket as a network failure would; the lifecycle reconnects."""
        if self._ws is not None:
            self._ws.transport.abort()

    # ================================================================ login

    async def _login(self, reconnecting: bool) -> None:
        self._register_polls = 0
        await self.login.login(reconnecting, self.voice_sdk_id)

    def _on_logged_out(self) -> None:
        """-32000 on a request: the SDK logs in again on the same socket."""
        self.spawn(self._relogin(), "relogin")

    async def _relogin(self) -> None:
        try:
            await self._login(reconnecting=True)
        except SignalingError as exc:
            log.warning("[%s] re-login after -32000 failed: %s", self.label, exc)

    async def refresh_token(self, token: str) -> None:
        """Re-login on the live socket with a new JWT; the session (sessid, calls) is kept."""
        await self.login.refresh_token(token, self.voice_sdk_id)

    # ================================================================ frames in

    async def _read_loop(self, ws: ClientConnection) -> None:
        try:
            async for text in ws:
                self.keepalive.heard()
                try:
                    frame = parse_frame(text, self.config.max_frame_bytes)
                except FrameError as exc:
                    self.events.emit(EventKind.PROTOCOL_ERROR, code=int(exc.code), detail=exc.detail)
                    self.loss.bad_frame(f"{int(exc.code)} {exc.detail}")
                    log.warning("[%s] unparseable frame from server: %s (%s)", self.label, exc, short_frame(text))
                    continue
                try:
                    self._dispatch(frame)
                except Exception as exc:  # a hostile frame must not kill the client
                    detail = redact_text(f"{type(exc).__name__}: {exc}")[:200]
                    self.events.emit(EventKind.PROTOCOL_ERROR, code=int(SdkCode.PROTOCOL_VIOLATION), detail=detail)
                    self.loss.bad_frame(detail)
                    log.warning("[%s] frame %s rejected: %s", self.label, short_frame(text), detail)
        except ConnectionClosed:
            pass
        finally:
            if ws is self._ws or self._ws is None:
                self._on_socket_lost(ws)

    def _on_socket_lost(self, ws: ClientConnection) -> None:
        self.loss.closed(ws)
        if self.closing:
            return
        code = ws.close_code
        if self._socket_lost_at is None:
            self._socket_lost_at = time.monotonic()
        self.events.emit(EventKind.SOCKET_LOST, code=code, calls=self.hooks.call_count())
        self.gateway_state = None
        self.rpc.fail_all(ConnectionLost(f"socket closed (code {code})", client=self.label))
        if self._ready_future is not None and self._ready_future.done():
            self._ready_future = asyncio.get_running_loop().create_future()

    def _dispatch(self, frame: Request | Result | Error | DebugReport) -> None:
        if isinstance(frame, DebugReport):
            return
        if frame.voice_sdk_id:
            self.voice_sdk_id = frame.voice_sdk_id
        if isinstance(frame, Result):
            state = gateway_state_in_result(frame.result)
            if state is not None:
                self.rpc.resolve(frame, run_hook=False)
                self._on_gateway_state(state, frame.result.get("params", {}))
                return
            if self.rpc.resolve(frame):
                self.keepalive.result_arrived(frame.id)
            else:
                log.debug("[%s] stale or unknown result id %s", self.label, frame.id)
            return
        if isinstance(frame, Error):
            self.rpc.reject(frame)
            return
        self._on_server_request(frame)

    def _on_server_request(self, request: Request) -> None:
        params = request.params
        method = request.method
        if "state" in params and method not in (Method.PING, Method.CLIENT_READY):
            state = parse_gateway_state(params.get("state"))
            if state is not None:
                self._on_gateway_state(state, params)
                return
        if method == Method.CLIENT_READY:
            self._on_client_ready(params)
        elif method == Method.PING:
            self.events.emit(EventKind.SERVER_PING)
            self.spawn(self.keepalive.answer_server_ping(), "pong")
        elif method == Method.PUNT:
            self.events.emit(EventKind.PUNTED)
            self.spawn(self._on_punt(), "punt")
        elif method in CALL_METHODS:
            self.hooks.on_call_request(request)
        elif method in NOTIFICATION_METHODS:
            self.notifications.append({"method": method, **params})
            del self.notifications[:-100]
        else:
            log.info("[%s] ignoring unknown server method %s", self.label, method)

    async def _on_punt(self) -> None:
        """Default SDK behaviour (keepConnectionAliveOnSocketClose off): purge calls, disconnect."""
        self.closing = True
        await self.hooks.purge_calls()
        await self._close_socket()
        self._set_fatal(SignalingError(int(SdkCode.CONNECT_FAILED), "punted by the server", client=self.label))

    # ================================================================ readiness

    def _on_client_ready(self, params: dict[str, Any]) -> None:
        reattached = params.get("reattached_sessions") or []
        self.events.emit(EventKind.CLIENT_READY, reattached=len(reattached))
        self.hooks.on_client_ready(list(reattached))
        self.spawn(self._query_gateway_state(), "gateway")

    async def _query_gateway_state(self, delay: float = 0.0) -> None:
        if delay:
            await asyncio.sleep(delay)
        try:
            await self.request(messages.gateway_state_query(self.voice_sdk_id), timeout=self.config.request_timeout_s)
        except SignalingError as exc:
            log.info("[%s] gatewayState query failed: %s", self.label, exc)

    def _on_gateway_state(self, state: GatewayState, params: dict[str, Any]) -> None:
        self.events.emit(EventKind.GATEWAY_STATE, state=str(state))
        action = action_for(state)
        previous, self.gateway_state = self.gateway_state, state
        if action is GatewayAction.READY and self.login.ok_at < self.login.sent_at:
            # REGED before the login's result: the SDK would wait for the login; a session without a sessid
            # must not be reported ready (calls would go out without one).
            self.gateway_state = previous
            self.events.emit(EventKind.PROTOCOL_ERROR, code=int(SdkCode.PROTOCOL_VIOLATION), state=str(state))
            self.loss.bad_frame("REGED before the login result (ignored)")
            log.warning("[%s] server sent REGED before the login result; ignored", self.label)
            return
        if action is GatewayAction.READY:
            self._register_polls = 0
            self._gateway_failures = 0
            self._skip_last_voice_sdk_id = False
            report_id = params.get("call_report_id")
            if isinstance(report_id, str) and CALL_REPORT_ID.fullmatch(report_id):
                self.call_report_id = report_id
            elif report_id is not None:
                # it goes into an HTTP header later: CR/LF or a megabyte of text must never get there
                self.events.emit(
                    EventKind.PROTOCOL_ERROR, code=int(SdkCode.PROTOCOL_VIOLATION), detail="call_report_id"
                )
                log.warning("[%s] ignoring a malformed call_report_id from the server", self.label)
            if previous is not None and action_for(previous) is GatewayAction.READY:
                return  # duplicate, as the SDK suppresses it
            ready_at = self.events.emit(EventKind.READY).t
            if self.registration is not None and self.registration.ready_s == 0.0:
                self.registration.login_s = self.login.ok_at - self.login.sent_at
                self.registration.ready_s = ready_at - self.login.ok_at
            if self._socket_lost_at is not None:
                self.last_reconnect_s = ready_at - self._socket_lost_at
                self._socket_lost_at = None
            if self._ready_future is not None and not self._ready_future.done():
                self._ready_future.set_result(None)
        elif action is GatewayAction.REPOLL:
            self._register_polls += 1
            if self._register_polls >= self.config.max_register_polls:
                err = LoginFailed(
                    f"Fail to register the user, the server tried {self._register_polls} times ({state})",
                    client=self.label,
                )
                self.events.emit(EventKind.LOGIN_FAILED, code=int(SdkCode.LOGIN_FAILED), state=str(state))
                if self._ready_future is not None and not self._ready_future.done():
                    self._ready_future.set_exception(err)
                    self._ready_future.exception()
                self.spawn(self._close_socket_for_fatal(), "noreg-close")
                return
            lo, hi = self.config.register_repoll_s
            self.spawn(self._query_gateway_state(lo + self.rng.random() * (hi - lo)), "repoll")
        elif action is GatewayAction.RECONNECT:
            if previous is None or action_for(previous) is not GatewayAction.RECONNECT:
                self.events.emit(EventKind.PROTOCOL_ERROR, code=int(SdkCode.GATEWAY_FAILED), state=str(state))
            self._gateway_failures += 1
            self._skip_last_voice_sdk_id = True
            if self._ws is not None:
                self.spawn(self._ws.close(code=4001, reason="gateway failed"), "gateway-reconnect")

    async def _close_socket_for_fatal(self) -> None:
        self.closing = True
        if self._ws is not None:
            await self._ws.close()
