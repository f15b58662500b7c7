"""The asyncio signaling client: speaks Verto on a WebSocket the way the official JS SDK does.

I/O lives here; message shapes, codes and state rules come from `rtcload.protocol`. Every step
emits a timestamped event (see events.py) so design.md's timings can be computed from outside.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import ssl
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidURI

from rtcload import __version__
from rtcload.protocol import messages
from rtcload.protocol.call_state import CallState
from rtcload.protocol.codes import (
    NORMAL_CLEARING,
    USER_BUSY,
    HangupCause,
    RpcErrorCode,
    SdkCode,
    cause_by_name,
)
from rtcload.protocol.dialog import DialogParams, call_id_of, custom_headers_of
from rtcload.protocol.gateway import (
    GatewayAction,
    GatewayState,
    action_for,
    gateway_state_in_result,
    parse_gateway_state,
)
from rtcload.protocol.jsonrpc import DebugReport, Error, FrameError, Request, Result, encode_frame, parse_frame
from rtcload.protocol.methods import CRITICAL_METHODS, Method, ModifyAction
from rtcload.protocol.redact import short_frame
from rtcload.protocol.tokens import jwt_expiry
from rtcload.signaling.call import Call, Direction, EndedBy
from rtcload.signaling.config import AnonymousCredentials, ClientConfig, PasswordCredentials, TokenCredentials
from rtcload.signaling.errors import (
    ConnectFailed,
    ConnectionLost,
    LoginFailed,
    RequestTimeout,
    ServerError,
    SignalingError,
)
from rtcload.signaling.events import EventKind, EventLog
from rtcload.signaling.media_port import MediaFactory, StaticSdpMedia
from rtcload.tasks import TrackedTasks

log = logging.getLogger("rtcload.signaling")

SESSION_NOT_REATTACHED = HangupCause("SESSION_NOT_REATTACHED", int(SdkCode.SESSION_NOT_REATTACHED))
PURGE = HangupCause("PURGE", 0)


class InboundPolicy(StrEnum):
    MANUAL = "manual"  # calls wait in `incoming` for the application
    ANSWER = "answer"  # answer at once
    REJECT = "reject"  # bye USER_BUSY at once


@dataclass
class RegistrationTimings:
    """design.md: registration = connect start -> REGED, with its three phases."""

    ws_connect_s: float
    login_s: float
    ready_s: float

    @property
    def total_s(self) -> float:
        return self.ws_connect_s + self.login_s + self.ready_s


@dataclass
class _Pending:
    future: asyncio.Future[Any]
    method: str
    call_id: str | None
    on_result: Callable[[Any], None] | None = None


class SignalingClient:
    """One registered endpoint (a softphone) and its calls."""

    def __init__(
        self,
        config: ClientConfig,
        media_factory: MediaFactory | None = None,
        *,
        inbound_policy: InboundPolicy = InboundPolicy.MANUAL,
        events: EventLog | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.config = config
        self.label = config.label
        self.media_factory: MediaFactory = media_factory or StaticSdpMedia
        self.inbound_policy = inbound_policy
        self.events = events or EventLog()
        self.rng = rng or random.Random()
        self.calls: dict[str, Call] = {}
        self.incoming: asyncio.Queue[Call] = asyncio.Queue()
        self.notifications: list[dict[str, Any]] = []
        self.sessid: str | None = None
        self.voice_sdk_id: str | None = None
        self.gateway_state: GatewayState | None = None
        self.call_report_id: str | None = None
        self.registration: RegistrationTimings | None = None
        self.reconnect_count = 0
        self.last_reconnect_s: float | None = None
        self._token = config.credentials.token if isinstance(config.credentials, TokenCredentials) else None
        self._sessid_at: float | None = None
        self._ws: ClientConnection | None = None
        self._reader: asyncio.Task[None] | None = None
        self._pending: dict[str | int, _Pending] = {}
        self._ready_future: asyncio.Future[None] | None = None
        self._register_polls = 0
        self._gateway_failures = 0
        self._skip_last_voice_sdk_id = False
        self._last_inbound = 0.0
        self._probe: tuple[str, float] | None = None
        self._tasks = TrackedTasks(f"rtcload-{config.label}", log)
        self._lifecycle: asyncio.Task[None] | None = None
        self._closing = False
        self._socket_lost_at: float | None = None
        self._connect_started = 0.0
        self._login_sent = 0.0
        self._login_ok = 0.0

    # ================================================================ lifecycle

    @property
    def ready(self) -> bool:
        return self._ready_future is not None and self._ready_future.done() and self._ready_future.exception() is None

    @property
    def connected(self) -> bool:
        return self._ws is not None and self._ws.state.name == "OPEN"

    async def connect(self, timeout: float | None = None) -> RegistrationTimings:
        """Open the socket, log in and wait for REGED; raises LoginFailed/ConnectionLost/TimeoutError."""
        if self._lifecycle is not None:
            raise RuntimeError(f"[{self.label}] connect() called twice")
        self._closing = False
        self._ready_future = asyncio.get_running_loop().create_future()
        self._lifecycle = asyncio.create_task(self._run_lifecycle(), name=f"rtcload-{self.label}-lifecycle")
        budget = timeout if timeout is not None else self.config.connect_timeout_s + self.config.login_timeout_s + 40
        try:
            await asyncio.wait_for(asyncio.shield(self._ready_future), budget)
        except TimeoutError:
            await self.close(hangup_calls=False)
            raise TimeoutError(f"[{self.label}] not registered within {budget:g} s") from None
        except SignalingError:
            await self.close(hangup_calls=False)
            raise
        assert self.registration is not None
        return self.registration

    async def wait_ready(self, timeout: float) -> None:
        """Wait until registered again (after a reconnect); raises the fatal error if it gave up."""
        if self._ready_future is None:
            raise RuntimeError(f"[{self.label}] not connected")
        await asyncio.wait_for(asyncio.shield(self._ready_future), timeout)

    async def close(self, hangup_calls: bool = True, timeout: float = 10.0) -> None:
        """Hang up live calls (bye), close the socket and stop every task. Idempotent."""
        if hangup_calls and self.connected:
            live = [c for c in self.calls.values() if not c.ended]
            if live:
                await asyncio.wait(
                    [asyncio.create_task(self._safe_hangup(c)) for c in live],
                    timeout=timeout,
                )
        self._closing = True
        for call in list(self.calls.values()):
            await self._finish(call, PURGE, EndedBy.PURGED)
        if self._ws is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._ws.close(), 5)
        for task in [self._lifecycle, self._reader, *self._tasks]:
            if task is not None and not task.done():
                task.cancel()
        for task in [self._lifecycle, self._reader, *self._tasks]:
            if task is not None:
                with contextlib.suppress(BaseException):
                    await task
        self._tasks.clear()
        self._fail_pending(ConnectionLost("client closed", client=self.label))
        if self._ready_future is not None and not self._ready_future.done():
            self._ready_future.set_exception(ConnectionLost("client closed", client=self.label))
            self._ready_future.exception()  # mark retrieved
        self.events.emit(EventKind.CLOSED)

    async def _safe_hangup(self, call: Call) -> None:
        try:
            await self.hangup(call)
        except Exception as exc:  # report, never raise out of close()
            log.warning("[%s][call %s] hangup during close failed: %s", self.label, call.id, exc)

    # ================================================================ connection management

    async def _run_lifecycle(self) -> None:
        """Connect, then keep reconnecting after socket loss until closed or out of attempts."""
        attempt = 0
        reconnecting = False
        while not self._closing:
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
            await self._close_socket()
            if self._closing:
                return
            if not self.config.auto_reconnect:
                self._set_fatal(ConnectionLost("socket closed (auto_reconnect off)", client=self.label))
                await self._purge_calls()
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
                await self._purge_calls()
                return
            delay = self.config.backoff.delay(attempt, self.rng)
            if self._gateway_failures:
                lo, hi = self.config.register_repoll_s
                delay = lo + self.rng.random() * (hi - lo)
            self.events.emit(EventKind.RECONNECT_ATTEMPT, attempt=attempt, delay_s=delay)
            await asyncio.sleep(delay)

    def _set_fatal(self, exc: BaseException) -> None:
        if self._ready_future is None or self._ready_future.done():
            self._ready_future = asyncio.get_running_loop().create_future()
        self._ready_future.set_exception(exc)
        self._ready_future.exception()  # retrieved: callers see it through connect()/wait_ready()

    def _netloc(self) -> str:
        return urlsplit(self.config.url).netloc

    def _target_url(self, reconnecting: bool) -> str:
        parts = urlsplit(self.config.url)
        query = parse_qsl(parts.query, keep_blank_values=True)
        if reconnecting and self.voice_sdk_id:
            query.append(("voice_sdk_id", self.voice_sdk_id))
            if self._skip_last_voice_sdk_id:
                query.append(("skip_last_voice_sdk_id", "true"))
        return urlunsplit((parts.scheme, parts.netloc, parts.path or "/", urlencode(query), parts.fragment))

    def _ssl_context(self) -> ssl.SSLContext | None:
        if not self.config.url.startswith("wss://"):
            return None
        if self.config.verify_tls:
            return ssl.create_default_context(cafile=self.config.ca_file)
        log.warning("[%s] TLS verification is OFF for %s", self.label, urlsplit(self.config.url).netloc)
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        return context

    async def _open_and_login(self, reconnecting: bool) -> None:
        self._connect_started = self.events.emit(EventKind.WS_CONNECT_START, reconnect=reconnecting).t
        try:
            self._ws = await asyncio.wait_for(
                connect(
                    self._target_url(reconnecting),
                    ssl=self._ssl_context(),
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
        if not reconnecting:
            self.registration = RegistrationTimings(opened - self._connect_started, 0.0, 0.0)
        self._last_inbound = opened
        self._probe = None
        self._reader = asyncio.create_task(self._read_loop(self._ws), name=f"rtcload-{self.label}-reader")
        if self.config.health.enabled:
            self._spawn(self._health_monitor(self._ws), "health")
        await self._login(reconnecting)
        if not reconnecting:
            self._spawn(self._token_timer(), "token")

    def _login_request(self, reconnecting: bool) -> Request:
        creds = self.config.credentials
        fresh_sessid = (
            self.sessid
            if self.sessid
            and self._sessid_at is not None
            and time.monotonic() - self._sessid_at < self.config.reconnect_session_max_age_s
            else None
        )
        reconnection = bool(self.voice_sdk_id) and reconnecting
        if isinstance(creds, AnonymousCredentials):
            return messages.anonymous_login(
                target_type=creds.target_type,
                target_id=creds.target_id,
                reconnection=reconnection,
                user_agent=self.config.user_agent,
                sessid=fresh_sessid,
            )
        if isinstance(creds, PasswordCredentials):
            return messages.login(
                login=creds.login,
                passwd=creds.password,
                reconnection=reconnection,
                user_agent=self.config.user_agent,
                sessid=fresh_sessid,
            )
        assert self._token is not None
        return messages.login(
            login_token=self._token, reconnection=reconnection, user_agent=self.config.user_agent, sessid=fresh_sessid
        )

    async def _login(self, reconnecting: bool) -> None:
        request = self._login_request(reconnecting)
        self._login_sent = self.events.emit(EventKind.LOGIN_SENT, reconnection=request.params.get("reconnection")).t
        self._register_polls = 0

        def on_login_result(result: Any) -> None:
            # Runs in the reader, before clientReady is dispatched, so READY always sees it.
            self._login_ok = self.events.emit(EventKind.LOGIN_OK).t
            if isinstance(result, dict) and isinstance(result.get("sessid"), str):
                self.sessid = result["sessid"]
                self._sessid_at = time.monotonic()

        try:
            result = await self.request(request, timeout=self.config.login_timeout_s, on_result=on_login_result)
        except ServerError as exc:
            self.events.emit(EventKind.LOGIN_FAILED, code=exc.code)
            raise LoginFailed(
                f"login rejected: {exc.code} {exc.detail}", client=self.label, server_code=exc.code
            ) from None
        sessid = result.get("sessid") if isinstance(result, dict) else None
        if not isinstance(sessid, str) or not sessid:
            self.events.emit(EventKind.LOGIN_FAILED, code=int(SdkCode.PROTOCOL_VIOLATION))
            raise LoginFailed("login result carried no sessid", client=self.label)

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

    def drop_socket(self) -> None:
        """Abort the socket as a network failure would (for fault tests); the client reconnects."""
        if self._ws is not None:
            self._ws.transport.abort()

    async def _purge_calls(self) -> None:
        for call in list(self.calls.values()):
            await self._finish(call, PURGE, EndedBy.PURGED)

    def _spawn(self, coro: Any, name: str) -> asyncio.Task[Any]:
        return self._tasks.spawn(coro, name)

    # ================================================================ frames in

    async def _read_loop(self, ws: ClientConnection) -> None:
        try:
            async for text in ws:
                self._last_inbound = time.monotonic()
                try:
                    frame = parse_frame(text, self.config.max_frame_bytes)
                except FrameError as exc:
                    self.events.emit(EventKind.PROTOCOL_ERROR, code=int(exc.code), detail=exc.detail)
                    log.warning("[%s] unparseable frame from server: %s", self.label, exc)
                    continue
                try:
                    self._dispatch(frame)
                except Exception as exc:  # a hostile frame must not kill the client
                    self.events.emit(EventKind.PROTOCOL_ERROR, code=int(SdkCode.PROTOCOL_VIOLATION), detail=str(exc))
                    log.warning("[%s] frame %s rejected: %s", self.label, short_frame(text), exc)
        except ConnectionClosed:
            pass
        finally:
            if ws is self._ws or self._ws is None:
                self._on_socket_lost(ws)

    def _on_socket_lost(self, ws: ClientConnection) -> None:
        if self._closing:
            return
        code = ws.close_code
        if self._socket_lost_at is None:
            self._socket_lost_at = time.monotonic()
        self.events.emit(EventKind.SOCKET_LOST, code=code, calls=len(self.calls))
        self.gateway_state = None
        self._fail_pending(ConnectionLost(f"socket closed (code {code})", client=self.label))
        if self._ready_future is not None and self._ready_future.done():
            self._ready_future = asyncio.get_running_loop().create_future()

    def _fail_pending(self, exc: SignalingError) -> None:
        pending, self._pending = self._pending, {}
        for entry in pending.values():
            if not entry.future.done():
                entry.future.set_exception(exc)
                entry.future.exception()

    def _dispatch(self, frame: Request | Result | Error | DebugReport) -> None:
        if isinstance(frame, DebugReport):
            return
        if frame.voice_sdk_id:
            self.voice_sdk_id = frame.voice_sdk_id
        if isinstance(frame, Result):
            state = gateway_state_in_result(frame.result)
            entry = self._pending.pop(frame.id, None)
            if state is not None:
                if entry is not None and not entry.future.done():
                    entry.future.set_result(frame.result)
                self._on_gateway_state(state, frame.result.get("params", {}))
                return
            if entry is None:
                log.debug("[%s] stale or unknown result id %s", self.label, frame.id)
                return
            if self._probe is not None and frame.id == self._probe[0]:
                self._probe = None
                self.events.emit(EventKind.PONG)
            if entry.on_result is not None:
                entry.on_result(frame.result)
            if not entry.future.done():
                entry.future.set_result(frame.result)
            return
        if isinstance(frame, Error):
            entry = self._pending.pop(frame.id, None) if frame.id is not None else None
            if entry is None:
                self.events.emit(EventKind.PROTOCOL_ERROR, code=frame.code, detail=frame.message)
                log.warning("[%s] server error without a pending request: %s %s", self.label, frame.code, frame.message)
                return
            if not entry.future.done():
                entry.future.set_exception(
                    ServerError(entry.method, frame.code, frame.message, client=self.label, call_id=entry.call_id)
                )
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
            self._spawn(self._answer_server_ping(), "pong")
        elif method == Method.INVITE:
            self._on_inbound_invite(request)
        elif method == Method.ATTACH:
            self._on_attach(request)
        elif method == Method.PUNT:
            self.events.emit(EventKind.PUNTED)
            self._spawn(self._on_punt(), "punt")
        elif method in (Method.RINGING, Method.MEDIA, Method.ANSWER, Method.BYE, Method.CANDIDATE, Method.DISPLAY):
            self._on_call_request(request)
        elif method in (Method.INFO, Method.EVENT, Method.AI_CONVERSATION):
            self.notifications.append({"method": method, **params})
            del self.notifications[:-100]
        else:
            log.info("[%s] ignoring unknown server method %s", self.label, method)

    # ---------------------------------------------------------------- registration

    def _on_client_ready(self, params: dict[str, Any]) -> None:
        self.events.emit(EventKind.CLIENT_READY, reattached=len(params.get("reattached_sessions") or []))
        reattached = params.get("reattached_sessions") or []
        live = [c for c in self.calls.values() if not c.ended]
        if live and not any(c.id in reattached for c in live):
            for call in live:
                self.events.emit(
                    EventKind.SESSION_NOT_REATTACHED, call_id=call.id, code=int(SdkCode.SESSION_NOT_REATTACHED)
                )
                self._spawn(self._finish(call, SESSION_NOT_REATTACHED, EndedBy.NOT_REATTACHED), "drop")
        self._spawn(self._query_gateway_state(), "gateway")

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
        if action is GatewayAction.READY:
            self._register_polls = 0
            self._gateway_failures = 0
            self._skip_last_voice_sdk_id = False
            if isinstance(params.get("call_report_id"), str):
                self.call_report_id = params["call_report_id"]
            if previous is not None and action_for(previous) is GatewayAction.READY:
                return  # duplicate, as the SDK suppresses it
            ready_at = self.events.emit(EventKind.READY).t
            if self.registration is not None and self.registration.ready_s == 0.0:
                self.registration.login_s = self._login_ok - self._login_sent
                self.registration.ready_s = ready_at - self._login_ok
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
                self._spawn(self._close_socket_for_fatal(), "noreg-close")
                return
            lo, hi = self.config.register_repoll_s
            self._spawn(self._query_gateway_state(lo + self.rng.random() * (hi - lo)), "repoll")
        elif action is GatewayAction.RECONNECT:
            if previous is None or action_for(previous) is not GatewayAction.RECONNECT:
                self.events.emit(EventKind.PROTOCOL_ERROR, code=int(SdkCode.GATEWAY_FAILED), state=str(state))
            self._gateway_failures += 1
            self._skip_last_voice_sdk_id = True
            if self._ws is not None:
                self._spawn(self._ws.close(code=4001, reason="gateway failed"), "gateway-reconnect")

    async def _close_socket_for_fatal(self) -> None:
        self._closing = True
        if self._ws is not None:
            await self._ws.close()

    # ---------------------------------------------------------------- keepalive

    async def _answer_server_ping(self) -> None:
        """The JS SDK answers a server ping with a new ping request, not a result."""
        try:
            await self.request(messages.ping(self.voice_sdk_id), timeout=self.config.critical_timeout_s)
        except SignalingError as exc:
            log.info("[%s] ping after server ping failed: %s", self.label, exc)

    async def ping(self) -> float:
        """Round trip of one telnyx_rtc.ping request, in seconds."""
        started = self.events.emit(EventKind.PING_SENT).t
        await self.request(messages.ping(self.voice_sdk_id), timeout=self.config.critical_timeout_s)
        return self.events.emit(EventKind.PONG).t - started

    async def _health_monitor(self, ws: ClientConnection) -> None:
        """Probe after inbound silence; force recovery when the probe goes unanswered (SDK SHM)."""
        health = self.config.health
        while self._ws is ws and not self._closing:
            await asyncio.sleep(health.check_every_s)
            now = time.monotonic()
            if self._probe is not None:
                probe_id, sent = self._probe
                if now - sent >= health.probe_timeout_s:
                    self.events.emit(EventKind.RECOVERY_REQUIRED, code=int(SdkCode.SIGNALING_RECOVERY_REQUIRED))
                    log.warning("[%s] signaling probe unanswered for %.1f s: reconnecting", self.label, now - sent)
                    self._pending.pop(probe_id, None)
                    self._probe = None
                    ws.transport.abort()
                    return
                continue
            if now - self._last_inbound >= health.inbound_silence_s:
                probe = messages.ping(self.voice_sdk_id)
                assert isinstance(probe.id, str)
                self._probe = (probe.id, now)
                self.events.emit(EventKind.PING_SENT, probe=True)
                future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
                self._pending[probe.id] = _Pending(future, Method.PING, None)
                with contextlib.suppress(Exception):
                    await ws.send(encode_frame(probe))

    async def _token_timer(self) -> None:
        creds = self.config.credentials
        if not isinstance(creds, TokenCredentials) or self._token is None:
            return
        while not self._closing:
            exp = jwt_expiry(self._token)
            if exp is None:
                return
            await asyncio.sleep(max(0.0, exp - self.config.token_refresh_lead_s - time.time()))
            if creds.refresh is None:
                self.events.emit(EventKind.TOKEN_EXPIRING_SOON, code=int(SdkCode.TOKEN_EXPIRING_SOON))
                return
            await self.refresh_token(await creds.refresh())

    async def refresh_token(self, token: str) -> None:
        """Re-login on the live socket with a new JWT; the session (sessid, calls) is kept."""
        self._token = token
        request = messages.login(
            login_token=token,
            reconnection=bool(self.voice_sdk_id),
            user_agent=self.config.user_agent,
            sessid=self.sessid,
        )
        try:
            result = await self.request(request, timeout=self.config.login_timeout_s)
        except ServerError as exc:
            self.events.emit(EventKind.LOGIN_FAILED, code=exc.code, refresh=True)
            raise LoginFailed(f"token refresh rejected: {exc.code} {exc.detail}", client=self.label) from None
        if isinstance(result, dict) and isinstance(result.get("sessid"), str):
            self.sessid = result["sessid"]
            self._sessid_at = time.monotonic()
        self.events.emit(EventKind.TOKEN_REFRESHED)

    # ================================================================ requests out

    async def send(self, frame: Request | Result) -> None:
        if self._ws is None:
            raise ConnectionLost("not connected", client=self.label)
        try:
            await self._ws.send(encode_frame(frame))
        except ConnectionClosed:
            raise ConnectionLost("socket closed while sending", client=self.label) from None

    async def request(
        self,
        request: Request,
        timeout: float | None = None,
        call_id: str | None = None,
        on_result: Callable[[Any], None] | None = None,
    ) -> Any:
        """Send a request and wait for its result; errors become ServerError, silence RequestTimeout."""
        assert request.id is not None
        critical = request.method in CRITICAL_METHODS
        if timeout is None:
            timeout = self.config.critical_timeout_s if critical else self.config.request_timeout_s
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._pending[request.id] = _Pending(future, request.method, call_id, on_result)
        try:
            await self.send(request)
            return await asyncio.wait_for(future, timeout)
        except TimeoutError:
            self.events.emit(
                EventKind.PROTOCOL_ERROR, call_id=call_id, code=int(SdkCode.REQUEST_TIMEOUT), method=request.method
            )
            if critical and self._ws is not None:
                # The SDK treats a silent critical request as dead signaling and reconnects.
                self.events.emit(EventKind.RECOVERY_REQUIRED, code=int(SdkCode.SIGNALING_RECOVERY_REQUIRED))
                self._ws.transport.abort()
            raise RequestTimeout(request.method, timeout, client=self.label, call_id=call_id) from None
        except ServerError as exc:
            if exc.code == RpcErrorCode.AUTHENTICATION_REQUIRED and request.method not in (
                Method.LOGIN,
                Method.ANONYMOUS_LOGIN,
            ):
                self._spawn(self._relogin(), "relogin")
            raise
        finally:
            self._pending.pop(request.id, None)

    async def _relogin(self) -> None:
        """-32000 on a request: the SDK logs in again on the same socket."""
        try:
            await self._login(reconnecting=True)
        except SignalingError as exc:
            log.warning("[%s] re-login after -32000 failed: %s", self.label, exc)

    async def _wait_signaling(self, call: Call | None = None) -> None:
        """Before a call request: wait (bounded) for a reconnect in progress to finish."""
        if self.ready:
            return
        try:
            await self.wait_ready(self.config.request_timeout_s)
        except TimeoutError:
            raise ConnectionLost("signaling not ready", client=self.label, call_id=call.id if call else None) from None

    # ================================================================ calls

    def _new_dialog(
        self,
        call_id: str,
        destination: str,
        custom_headers: list[dict[str, str]] | None,
        caller_id_name: str | None,
        caller_id_number: str | None,
    ) -> DialogParams:
        return DialogParams(
            call_id=call_id,
            destination_number=destination,
            remote_caller_id_number=destination,
            caller_id_name=caller_id_name if caller_id_name is not None else self.config.caller_id_name,
            caller_id_number=caller_id_number if caller_id_number is not None else self.config.caller_id_number,
            custom_headers=list(custom_headers or []),
            trickle_ice=self.config.trickle_ice,
        )

    async def dial(
        self,
        destination: str,
        *,
        custom_headers: list[dict[str, str]] | None = None,
        caller_id_name: str | None = None,
        caller_id_number: str | None = None,
        client_state: str | None = None,
    ) -> Call:
        """Send an invite and return the call at once; await `call.wait_established()` for the answer."""
        await self._wait_signaling()
        call_id = str(uuid.uuid4())
        dialog = self._new_dialog(call_id, destination, custom_headers, caller_id_name, caller_id_number)
        dialog.client_state = client_state
        media = self.media_factory()
        call = Call(self, call_id, Direction.OUTBOUND, dialog, media)
        self.calls[call_id] = call
        try:
            offer = await media.create_offer()
        except Exception as exc:
            call.error = f"offer failed: {exc}"
            await self._finish(call, USER_BUSY, EndedBy.FAILED)
            raise SignalingError(int(SdkCode.SDP_SEND_FAILED), call.error, client=self.label, call_id=call_id) from exc
        candidates: list[str] = []
        if self.config.trickle_ice:
            offer, candidates = _split_candidates(offer)
        assert self.sessid is not None
        request = messages.invite(
            sessid=self.sessid,
            sdp=offer,
            dialog=dialog,
            trickle=self.config.trickle_ice,
            user_agent=self.config.user_agent,
        )
        call.machine.to(CallState.REQUESTING, "invite sent")
        call.timings.invite_sent = self.events.emit(EventKind.INVITE_SENT, call_id=call_id).t

        def on_invite_result(_result: Any) -> None:
            call.timings.invite_result = self.events.emit(EventKind.INVITE_RESULT, call_id=call_id).t
            if call.state is CallState.REQUESTING:
                call.machine.to(CallState.TRYING, "invite result")

        try:
            await self.request(request, call_id=call_id, on_result=on_invite_result)
        except SignalingError as exc:
            call.error = str(exc)
            if not call.ended:
                cause = cause_by_name("NORMAL_TEMPORARY_FAILURE")
                await self._finish(call, cause, EndedBy.FAILED)
            raise
        if self.config.trickle_ice:
            self._spawn(self._send_candidates(call, candidates), "trickle")
        return call

    async def call(self, destination: str, *, answer_timeout_s: float = 60.0, **kwargs: Any) -> Call:
        """Dial and wait until the call is active; raises CallFailed with the cause otherwise."""
        call = await self.dial(destination, **kwargs)
        await call.wait_established(answer_timeout_s)
        return call

    async def _send_candidates(self, call: Call, candidates: list[str]) -> None:
        assert self.sessid is not None
        for line in candidates:
            await self.request(
                messages.candidate(
                    sessid=self.sessid, candidate_line=line, sdp_mid="0", sdp_mline_index=0, dialog=call.dialog
                ),
                call_id=call.id,
            )
        await self.request(messages.end_of_candidates(sessid=self.sessid, dialog=call.dialog), call_id=call.id)

    def _on_call_request(self, request: Request) -> None:
        call_id = call_id_of(request.params)
        call = self.calls.get(call_id) if call_id else None
        if call is None or call.ended:
            # The SDK logs and sends no ack for frames about calls it does not know.
            log.info("[%s] %s for unknown call %s: not acknowledged", self.label, request.method, call_id)
            self.events.emit(
                EventKind.PROTOCOL_ERROR, call_id=call_id, code=int(SdkCode.PROTOCOL_VIOLATION), method=request.method
            )
            return
        self._spawn(self.send(messages.ack(request)), "ack")
        params = request.params
        call.dialog.telnyx.update_from_server(params)
        method = request.method
        if method == Method.RINGING:
            call.timings.ringing = call.timings.ringing or self.events.emit(EventKind.RINGING, call_id=call.id).t
            if call.state in (CallState.TRYING, CallState.REQUESTING) and call.machine.can(CallState.RINGING):
                if call.state is CallState.REQUESTING:
                    call.machine.to(CallState.TRYING, "ringing before invite result")
                call.machine.to(CallState.RINGING, "telnyx_rtc.ringing")
        elif method == Method.MEDIA:
            if call.timings.early_media is None and call.state in (
                CallState.REQUESTING,
                CallState.TRYING,
                CallState.RINGING,
            ):
                call.timings.early_media = self.events.emit(EventKind.EARLY_MEDIA, call_id=call.id).t
                self._spawn(
                    self._apply_remote_sdp(call, params.get("sdp"), CallState.EARLY, "telnyx_rtc.media"), "media"
                )
        elif method == Method.ANSWER:
            if call.timings.answered is None:
                call.timings.answered = self.events.emit(EventKind.ANSWERED, call_id=call.id).t
                sdp = params.get("sdp") if call.timings.early_media is None else None
                self._spawn(self._apply_remote_sdp(call, sdp, CallState.ACTIVE, "telnyx_rtc.answer"), "answer")
        elif method == Method.BYE:
            call.sip_code = params.get("sipCode")
            call.sip_reason = params.get("sipReason")
            cause_name = params.get("cause")
            cause = (
                cause_by_name(cause_name)
                if isinstance(cause_name, str)
                else (NORMAL_CLEARING if call.machine.was_answered else USER_BUSY)
            )
            if isinstance(params.get("causeCode"), int):
                cause = HangupCause(cause.name, params["causeCode"])
            self.events.emit(
                EventKind.REMOTE_BYE,
                call_id=call.id,
                cause=cause.name,
                cause_code=cause.code,
                sip_code=call.sip_code,
                sip_reason=call.sip_reason,
            )
            self._spawn(self._finish(call, cause, EndedBy.REMOTE), "remote-bye")
        elif method == Method.CANDIDATE:
            self._spawn(self._add_candidate(call, params), "candidate")
        elif method == Method.DISPLAY:
            call.inbound_params["display_name"] = params.get("display_name")
            call.inbound_params["display_number"] = params.get("display_number")

    async def _apply_remote_sdp(self, call: Call, sdp: Any, target: CallState, trigger: str) -> None:
        async with call.media_lock:
            if call.ended:
                return
            if isinstance(sdp, str) and sdp and call.media is not None:
                try:
                    await call.media.accept_answer(sdp)
                except Exception as exc:
                    call.error = f"remote SDP rejected: {exc}"
                    log.warning("[%s][call %s] %s", self.label, call.id, call.error)
                    await self._hangup_locked(call, USER_BUSY)
                    return
                call.timings.remote_sdp_applied = time.monotonic()
            if call.state is CallState.REQUESTING:
                call.machine.to(CallState.TRYING, f"{trigger} before invite result")
            if call.machine.can(target) or call.state is target:
                call.machine.to(target, trigger)
            if target is CallState.ACTIVE:
                self._start_media_watchdog(call)

    async def _add_candidate(self, call: Call, params: dict[str, Any]) -> None:
        if call.media is None or not isinstance(params.get("candidate"), str):
            return
        async with call.media_lock:
            await call.media.add_remote_candidate(
                params["candidate"], params.get("sdpMid"), params.get("sdpMLineIndex")
            )

    # ---------------------------------------------------------------- inbound

    def _on_inbound_invite(self, request: Request) -> None:
        params = request.params
        call_id = params.get("callID")
        if not isinstance(call_id, str) or not isinstance(params.get("sdp"), str):
            self.events.emit(
                EventKind.PROTOCOL_ERROR, code=int(SdkCode.PROTOCOL_VIOLATION), detail="invite without callID/sdp"
            )
            return
        dialog = DialogParams(
            call_id=call_id,
            destination_number=str(params.get("callee_id_number", "")),
            remote_caller_id_name=str(params.get("caller_id_name", "")),
            remote_caller_id_number=str(params.get("caller_id_number", "")),
            caller_id_name=str(params.get("callee_id_name", "")),
            caller_id_number=str(params.get("callee_id_number", "")),
            custom_headers=custom_headers_of(params),
            trickle_ice=self.config.trickle_ice,
        )
        dialog.telnyx.update_from_server(params)
        call = Call(self, call_id, Direction.INBOUND, dialog, None)
        call.remote_offer = params["sdp"]
        call.inbound_params = {k: v for k, v in params.items() if k != "sdp"}
        call.machine.to(CallState.RINGING, "telnyx_rtc.invite")
        call.timings.inbound_invite = self.events.emit(EventKind.INBOUND_INVITE, call_id=call_id).t
        self.calls[call_id] = call
        self._spawn(self.send(messages.ack(request)), "ack")
        if self.inbound_policy is InboundPolicy.ANSWER:
            self._spawn(self.answer(call), "auto-answer")
        elif self.inbound_policy is InboundPolicy.REJECT:
            self._spawn(self.hangup(call), "auto-reject")
        else:
            self.incoming.put_nowait(call)

    async def next_incoming(self, timeout: float) -> Call:
        return await asyncio.wait_for(self.incoming.get(), timeout)

    async def answer(self, call: Call) -> None:
        """Answer an inbound call: SDP answer from the media, `telnyx_rtc.answer`, active on the result."""
        if call.direction is not Direction.INBOUND or call.state is not CallState.RINGING:
            raise SignalingError(
                int(SdkCode.PROTOCOL_VIOLATION),
                f"cannot answer a call in state {call.state}",
                client=self.label,
                call_id=call.id,
            )
        async with call.media_lock:
            call.media = self.media_factory()
            try:
                sdp = await call.media.accept_offer(call.remote_offer or "")
            except Exception as exc:
                call.error = f"answer SDP failed: {exc}"
                await self._hangup_locked(call, USER_BUSY)
                raise SignalingError(
                    int(SdkCode.SDP_SEND_FAILED), call.error, client=self.label, call_id=call.id
                ) from exc
            candidates: list[str] = []
            if self.config.trickle_ice:
                sdp, candidates = _split_candidates(sdp)
            await self._wait_signaling(call)
            assert self.sessid is not None
            call.machine.to(CallState.ANSWERING, "answer sent")
            call.timings.answer_sent = self.events.emit(EventKind.ANSWER_SENT, call_id=call.id).t
            request = messages.answer(
                sessid=self.sessid,
                sdp=sdp,
                dialog=call.dialog,
                trickle=self.config.trickle_ice,
                user_agent=self.config.user_agent,
            )
        try:
            await self.request(request, call_id=call.id)
        except SignalingError as exc:
            call.error = str(exc)
            # The SDK raises SDP_SEND_FAILED and sends a bye USER_BUSY.
            await self.hangup(call, "USER_BUSY")
            raise
        if self.config.trickle_ice:
            self._spawn(self._send_candidates(call, candidates), "trickle")
        if not call.ended:
            call.timings.answered = time.monotonic()
            call.machine.to(CallState.ACTIVE, "answer result")
            self._start_media_watchdog(call)

    # ---------------------------------------------------------------- reattach

    def _on_attach(self, request: Request) -> None:
        call_id = request.params.get("callID")
        call = self.calls.get(call_id) if isinstance(call_id, str) else None
        if call is None or call.ended:
            if self.calls:
                self.events.emit(
                    EventKind.PROTOCOL_ERROR, call_id=call_id, code=int(SdkCode.UNKNOWN_REATTACHED_SESSION)
                )
            self._spawn(self.send(messages.ack(request)), "ack")
            return
        self._spawn(self.send(messages.ack(request)), "ack")
        self._spawn(self._reattach(call, request.params), "reattach")

    async def _reattach(self, call: Call, params: dict[str, Any]) -> None:
        """Rebuild the call's media from the platform's fresh offer and answer with `telnyx_rtc.attach`."""
        was_held = call.state is CallState.HELD
        async with call.media_lock:
            if call.machine.can(CallState.RECOVERING):
                call.machine.to(CallState.RECOVERING, "telnyx_rtc.attach")
            old, call.media = call.media, self.media_factory()
            last_rtp = getattr(old, "last_rtp", None)
            if old is not None:
                self._spawn(old.close(), "old-media-close")
            try:
                sdp = await call.media.accept_offer(str(params.get("sdp", "")))
            except Exception as exc:
                call.error = f"reattach SDP failed: {exc}"
                await self._hangup_locked(call, USER_BUSY)
                return
            call.dialog.attach = True
            call.dialog.telnyx.update_from_server(params)
            assert self.sessid is not None
            request = messages.answer(
                sessid=self.sessid, sdp=sdp, dialog=call.dialog, user_agent=self.config.user_agent
            )
        try:
            await self.request(request, call_id=call.id)
        except SignalingError as exc:
            call.error = str(exc)
            await self.hangup(call, "USER_BUSY")
            return
        if call.media is not None:
            call.media.set_hold(was_held)
        call.machine.to(CallState.HELD if was_held else CallState.ACTIVE, "attach result")
        call.reattach_count += 1
        call.notify()
        self.events.emit(EventKind.CALL_REATTACHED, call_id=call.id)
        if last_rtp is not None and call.media is not None:
            self._spawn(self._measure_media_gap(call, last_rtp, call.media), "media-gap")

    async def _measure_media_gap(self, call: Call, last_rtp: float, media: Any, timeout: float = 30.0) -> None:
        """design.md media_gap: last RTP before the fault -> first RTP on the recovered media."""
        waiter = getattr(media, "wait_first_rtp", None)
        if waiter is None:
            return
        first = await waiter(timeout)
        gap = None if first is None else max(0.0, first - last_rtp)
        call.media_gaps.append(gap)
        call.notify()
        self.events.emit(EventKind.MEDIA_GAP, call_id=call.id, gap_s=gap)

    async def _on_punt(self) -> None:
        """Default SDK behaviour (keepConnectionAliveOnSocketClose off): purge calls, disconnect."""
        self._closing = True
        await self._purge_calls()
        await self._close_socket()
        self._set_fatal(SignalingError(int(SdkCode.CONNECT_FAILED), "punted by the server", client=self.label))

    # ---------------------------------------------------------------- call actions

    async def hangup(self, call: Call, cause: str | None = None) -> None:
        """Send a bye (NORMAL_CLEARING after answer, USER_BUSY before) and end the call."""
        if call.ended:
            return
        async with call.media_lock:
            await self._hangup_locked(call, cause_by_name(cause) if cause else None)

    async def _hangup_locked(self, call: Call, cause: HangupCause | None) -> None:
        if call.ended:
            return
        if cause is None:
            cause = NORMAL_CLEARING if call.machine.was_answered else USER_BUSY
        call.timings.bye_sent = self.events.emit(EventKind.BYE_SENT, call_id=call.id, cause=cause.name).t
        try:
            await self._wait_signaling(call)
            assert self.sessid is not None
            await self.request(
                messages.bye(sessid=self.sessid, dialog=call.dialog, cause=cause),
                call_id=call.id,
                timeout=min(self.config.critical_timeout_s, self.config.bye_guard_s * 2),
            )
            call.timings.bye_result = self.events.emit(EventKind.BYE_RESULT, call_id=call.id).t
        except SignalingError as exc:
            call.error = f"bye failed: {exc}"
            log.info("[%s][call %s] %s", self.label, call.id, call.error)
        await self._finish(call, cause, EndedBy.LOCAL)

    async def hold(self, call: Call, held: bool) -> None:
        await self._wait_signaling(call)
        assert self.sessid is not None
        action = ModifyAction.HOLD if held else ModifyAction.UNHOLD
        result = await self.request(
            messages.modify(sessid=self.sessid, action=action, dialog=call.dialog), call_id=call.id
        )
        hold_state = result.get("holdState") if isinstance(result, dict) else None
        now_held = hold_state != "active"
        if call.media is not None:
            call.media.set_hold(now_held)
        call.machine.to(CallState.HELD if now_held else CallState.ACTIVE, f"modify {action} result")
        self.events.emit(EventKind.HELD if now_held else EventKind.UNHELD, call_id=call.id)

    async def update_media(self, call: Call) -> None:
        """ICE restart (`modify` action updateMedia): a fresh offer, the platform's answer in the result.

        The SDK restarts ICE on its existing peer; aiortc has no restartIce, so the call's media is
        rebuilt (new peer, new ICE credentials) - on the wire the exchange is the same.
        """
        await self._wait_signaling(call)
        assert self.sessid is not None
        async with call.media_lock:
            old, call.media = call.media, self.media_factory()
            last_rtp = getattr(old, "last_rtp", None)
            try:
                offer = await call.media.create_offer()
                if self.config.trickle_ice:
                    offer, _candidates = _split_candidates(offer)
                result = await self.request(
                    messages.update_media(sessid=self.sessid, sdp=offer, dialog=call.dialog), call_id=call.id
                )
                sdp = result.get("sdp") if isinstance(result, dict) else None
                if not isinstance(sdp, str) or not sdp:
                    raise SignalingError(
                        int(SdkCode.ICE_RESTART_FAILED),
                        "updateMedia result has no sdp",
                        client=self.label,
                        call_id=call.id,
                    )
                await call.media.accept_answer(sdp)
            except BaseException:
                failed, call.media = call.media, old
                if failed is not None:
                    self._spawn(failed.close(), "failed-media-close")
                raise
        if old is not None:
            self._spawn(old.close(), "old-media-close")
        call.media_restarts += 1
        call.notify()
        self.events.emit(EventKind.MEDIA_UPDATED, call_id=call.id)
        if last_rtp is not None and call.media is not None:
            self._spawn(self._measure_media_gap(call, last_rtp, call.media), "media-gap")

    def _start_media_watchdog(self, call: Call) -> None:
        if self.config.media_timeout_s and not call.watchdog_started:
            call.watchdog_started = True
            self._spawn(self._media_watchdog(call, self.config.media_timeout_s), "media-watchdog")

    async def _media_watchdog(self, call: Call, timeout: float) -> None:
        """The SDK's "no RTP" recovery: media silent for `timeout` while signaling is up -> ICE restart."""
        while not call.ended:
            await asyncio.sleep(timeout / 4)
            if call.state is not CallState.ACTIVE or not self.ready or call.media is None:
                continue
            last_rtp = getattr(call.media, "last_rtp", None)
            reference = max(t for t in (last_rtp, call.timings.answered, call.last_media_update, 0.0) if t is not None)
            if time.monotonic() - reference < timeout:
                continue
            self.events.emit(EventKind.MEDIA_TIMEOUT, call_id=call.id, silent_s=time.monotonic() - reference)
            call.last_media_update = time.monotonic()
            try:
                await self.update_media(call)
            except SignalingError as exc:
                log.warning("[%s][call %s] ICE restart after media timeout failed: %s", self.label, call.id, exc)

    async def send_dtmf(self, call: Call, digits: str) -> None:
        """One `telnyx_rtc.info` per digit, as the SDK sends one per key press (and, when the call's media
        can, the digit in-band as RFC 4733 telephone-events)."""
        await self._wait_signaling(call)
        assert self.sessid is not None
        inband = getattr(call.media, "send_dtmf", None)  # media that can also send RFC 4733 events in RTP
        for digit in digits:
            if inband is not None:
                inband(digit)
            await self.request(messages.info_dtmf(sessid=self.sessid, dtmf=digit, dialog=call.dialog), call_id=call.id)
            self.events.emit(EventKind.DTMF_SENT, call_id=call.id, digit=digit)

    async def _finish(self, call: Call, cause: HangupCause, ended_by: EndedBy) -> None:
        """End a call locally: record the cause, move to hangup/destroy, close its media."""
        if call.ended:
            return
        call.cause = call.cause or cause.name
        call.cause_code = call.cause_code if call.cause_code is not None else cause.code
        call.ended_by = call.ended_by or ended_by
        target = CallState.PURGE if ended_by is EndedBy.PURGED else CallState.HANGUP
        if call.machine.can(target):
            call.machine.to(target, f"ended ({ended_by})")
        if call.machine.can(CallState.DESTROY):
            call.machine.to(CallState.DESTROY, "finalized")
        call.timings.ended = self.events.emit(
            EventKind.CALL_ENDED, call_id=call.id, cause=call.cause, cause_code=call.cause_code, by=str(call.ended_by)
        ).t
        call.mark_ended()
        self.calls.pop(call.id, None)
        media, call.media = call.media, None
        if media is not None:
            try:
                call.media_report = await media.close()
            except Exception as exc:
                log.warning("[%s][call %s] media close failed: %s", self.label, call.id, exc)
            call.media = media


def _split_candidates(sdp: str) -> tuple[str, list[str]]:
    """Trickle: take `a=candidate` lines out of an SDP, to be sent as telnyx_rtc.candidate frames."""
    kept: list[str] = []
    candidates: list[str] = []
    for line in sdp.split("\r\n"):
        if line.startswith("a=candidate:"):
            candidates.append(line[2:])
        elif line != "a=end-of-candidates":
            kept.append(line)
    return "\r\n".join(kept), candidates
