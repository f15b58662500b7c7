"""The embedded platform emulator: a Verto server on a WebSocket, following protocol.md's
"Emulator must" list. Sessions, login, readiness, keepalive and bad input live here; calls live in
calls.py, and who may log in or stay on a socket (credentials, login deadline, throttling) in
gatekeeper.py. Faithful enough that the official JS SDK logs in and completes calls against it.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import random
import time
import uuid
from collections import Counter
from collections.abc import Callable
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request as HttpRequest
from websockets.http11 import Response as HttpResponse

from rtcload import ws_cycles
from rtcload.emulator import control
from rtcload.emulator.auth import AuthError, Identity, LoginRefusal, mint_token
from rtcload.emulator.bounded import ByteBoundedLog, ReportStore
from rtcload.emulator.calls import CallContext, CallHandler
from rtcload.emulator.config import EmulatorConfig
from rtcload.emulator.connection import Connection
from rtcload.emulator.control import CONTROL_METHOD, token_ok
from rtcload.emulator.faults import Faults
from rtcload.emulator.gatekeeper import FAULT_REJECTION, TOO_MANY_WAITING, Gatekeeper
from rtcload.emulator.http_front import HttpFront, websocket_factory
from rtcload.emulator.session import Leg, LegState, Session
from rtcload.media.answerer import MediaAnswerer, StaticAnswerer
from rtcload.media.engine.send_gaps import EMULATOR_SEND_GAPS
from rtcload.metrics.emulator_exporter import emulator_registry, exposition
from rtcload.metrics.gc_pauses import process_gc_pauses
from rtcload.protocol import messages
from rtcload.protocol.codes import RECOVERY_ON_TIMER_EXPIRE, RpcErrorCode
from rtcload.protocol.gateway import GatewayState
from rtcload.protocol.jsonrpc import DebugReport, Error, FrameError, Request, Result, error_for, parse_frame
from rtcload.protocol.methods import Method
from rtcload.protocol.redact import install_redaction, short_frame
from rtcload.tasks import TrackedTasks

log = logging.getLogger("rtcload.emulator")
ws_cycles.install()  # dropped sockets freed by reference counting, not at a full collection
install_redaction()  # frames logged by websockets at DEBUG, and ours, never show a secret

CALL_METHODS = frozenset(
    {
        Method.INVITE,
        Method.ANSWER,
        Method.BYE,
        Method.MODIFY,
        Method.INFO,
        Method.ATTACH,
        Method.CANDIDATE,
        Method.END_OF_CANDIDATES,
    }
)
KNOWN_METHODS = frozenset(m.value for m in Method)
ACCEPTED_QUIETLY = frozenset({Method.SUBSCRIBE, Method.UNSUBSCRIBE, Method.BROADCAST})


class Emulator:
    """Run with `async with Emulator(config) as emu:`; `emu.url` is the ws:// address to dial."""

    def __init__(self, config: EmulatorConfig | None = None, answerer: MediaAnswerer | None = None) -> None:
        self.config = config or EmulatorConfig()
        self.answerer: MediaAnswerer = answerer or StaticAnswerer()
        self.faults = Faults()
        self.rng = random.Random(self.config.seed)
        self.sessions: dict[str, Session] = {}
        self.legs: dict[str, Leg] = {}
        self.connections: set[Connection] = set()
        self.counters: Counter[str] = Counter()
        self.directory: dict[str, str] = {}  # usernames and numbers -> username, for routing
        limits = self.config.limits
        self.login_log = ByteBoundedLog(limits.login_log_bytes)  # who logged in, in order
        self.login_times: collections.deque[float] = collections.deque(maxlen=10_000)  # when (monotonic)
        self.calls = CallHandler(
            CallContext(
                config=self.config,
                rng=self.rng,
                counters=self.counters,
                legs=self.legs,
                directory=self.directory,
                answerer=self.answerer,
                spawn=self.spawn,
                changed=self.changed,
                sessions_of=self.sessions_of,
            )
        )
        self.gatekeeper = Gatekeeper(self.config, self.faults, self.rng, self.counters, self.connections)
        self._server: Server | None = None
        self.http_front: HttpFront | None = None  # only with config.http_front
        self.call_reports = ReportStore(limits.call_report_bytes)  # last accepted, raw, bounded in bytes
        self._changed = asyncio.Event()
        self._tasks = TrackedTasks("emulator", log, on_error=lambda _exc: self.counters.update(["internal_errors"]))
        self._started_at = 0.0
        process_gc_pauses()  # from now on this process's collections are measured (emulator.json "gc", /metrics)
        self.metrics_registry = emulator_registry(self.all_counters, self._metrics_state)

    # ---------------------------------------------------------------- lifecycle

    async def start(self) -> Emulator:
        front = self.config.http_front
        self._server = await serve(
            self._handle_socket,
            "127.0.0.1" if front else self.config.host,  # behind the HTTP front: a private loopback port
            0 if front else self.config.port,
            max_size=self.config.hard_frame_limit_bytes,
            ping_interval=None,  # liveness is telnyx_rtc.ping, as on the platform
            compression=None,
            process_request=self._http_request,
            server_header="rtcload-emulator",
        )
        if front:
            make_websocket = websocket_factory(self._server, self.config.hard_frame_limit_bytes)
            self.http_front = await HttpFront(self, make_websocket).start(self.config.host, self.config.port)
        self._started_at = time.monotonic()
        if self.config.server_ping_interval_s > 0:
            self.spawn(self._server_pings(), "server-pings")
        log.info("emulator listening on %s", self.url)
        return self

    async def stop(self) -> None:
        for session in list(self.sessions.values()):
            if session.grace_task is not None:
                session.grace_task.cancel()
            for leg in session.live_legs():
                await self.calls.end_leg(leg, "MANAGER_REQUEST", "emulator", notify_peer=False)
        if self.http_front is not None:
            await self.http_front.stop()
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 5)
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(BaseException):
                await task

    async def __aenter__(self) -> Emulator:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    @property
    def port(self) -> int:
        assert self._server is not None, "emulator not started"
        if self.http_front is not None:
            return self.http_front.port
        sockets = list(self._server.sockets)
        return int(sockets[0].getsockname()[1])

    @property
    def url(self) -> str:
        host = self.config.host
        host = f"[{host}]" if ":" in host else host
        return f"ws://{host}:{self.port}/"

    def spawn(self, coro: Any, name: str) -> asyncio.Task[Any]:
        return self._tasks.spawn(coro, name)

    # ---------------------------------------------------------------- observation

    def changed(self) -> None:
        """Wake everyone waiting in wait_for(): some state moved."""
        self._changed.set()
        self._changed = asyncio.Event()

    async def wait_for(self, predicate: Callable[[], bool], timeout: float) -> bool:
        """Wait until predicate() holds, re-checking on every state change; False on timeout."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not predicate():
            remaining = deadline - loop.time()
            if remaining <= 0:
                return False
            event = self._changed
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(event.wait(), remaining)
        return True

    def snapshot(self) -> dict[str, Any]:
        live = [leg for leg in self.legs.values() if not leg.ended]
        return {
            "uptime_s": round(time.monotonic() - self._started_at, 3),
            "connections": len(self.connections),
            "sessions": len(self.sessions),
            "registered": sum(1 for s in self.sessions.values() if s.connected),
            "detached_sessions": sum(1 for s in self.sessions.values() if not s.connected),
            "live_legs": len(live),
            "active_legs": sum(1 for leg in live if leg.answered),
            "held_legs": sum(1 for leg in live if leg.state is LegState.HELD),
            "counters": self.all_counters(),
            "gc": process_gc_pauses().to_json(),  # this process's collection pauses (gc_pauses.py)
            # the emulator's own media clock: send gaps and drops of its ended echo/tone/relay streams
            "media_clock": {"send_gaps": EMULATOR_SEND_GAPS.summary(), "echo_playout_ms": self._echo_playout_ms()},
        }

    def _echo_playout_ms(self) -> float | None:
        """The echo/relay playout delay its media answerer applies (`--echo-playout`); None without media."""
        playout = getattr(self.answerer, "echo_playout_s", None)
        if playout is None:
            playout = getattr(getattr(self.answerer, "inner", None), "echo_playout_s", None)
        return None if playout is None else round(playout * 1000, 3)

    def all_counters(self) -> dict[str, int]:
        """The event counters plus the media answerer's stray-datagram counts (`rejected_datagrams_<kind>`)."""
        counts = dict(self.counters)
        rejected = getattr(self.answerer, "rejected_datagrams", None)
        for kind, n in (rejected() if callable(rejected) else {}).items():
            counts[f"rejected_datagrams_{kind}"] = n
        return counts

    def _metrics_state(self) -> dict[str, Any]:
        """Gauges for /metrics: the snapshot's counts plus the media endpoints open now."""
        state = self.snapshot()
        state["media_endpoints"] = sum(1 for leg in self.legs.values() if not leg.ended and leg.answered and leg.media)
        return state

    def dtmf(self, call_id: str) -> str:
        leg = self.legs.get(call_id)
        return "".join(leg.dtmf) if leg else ""

    def mint_token(self, username: str, ttl_s: float = 3600.0) -> str:
        return mint_token(username, self.config.secret, ttl_s)

    def sessions_of(self, username: str) -> list[Session]:
        return [s for s in self.sessions.values() if s.identity.username == username]

    # ---------------------------------------------------------------- control (tests, soak, CLI)

    def drop_socket(self, sessid: str) -> bool:
        session = self.sessions.get(sessid)
        if session is None or session.conn is None:
            return False
        session.conn.abort()
        return True

    def drop_all(self) -> int:
        conns = list(self.connections)
        for conn in conns:
            conn.abort()
        return len(conns)

    def set_half_open(self, sessid: str, half_open: bool = True) -> bool:
        session = self.sessions.get(sessid)
        if session is None or session.conn is None:
            return False
        session.conn.half_open = half_open
        return True

    async def punt(self, sessid: str) -> bool:
        """Kick a session (`telnyx_rtc.punt`), forget it and close the socket."""
        session = self.sessions.get(sessid)
        if session is None or session.conn is None:
            return False
        conn = session.conn
        await conn.send(messages.punt())
        for leg in session.live_legs():
            await self.calls.end_leg(leg, "MANAGER_REQUEST", "punt", notify_peer=True)
        self._forget(session)
        await conn.close(4002, "punted")
        return True

    async def restart(self, keep_sessions: bool = True, down_s: float = 0.0) -> None:
        """Restart the platform: every socket drops; sessions (and their calls) kept or lost."""
        self.counters["restarts"] += 1
        if not keep_sessions:
            for session in list(self.sessions.values()):
                for leg in session.live_legs():
                    await self.calls.end_leg(leg, "MANAGER_REQUEST", "restart", notify_peer=False)
                if session.grace_task is not None:
                    session.grace_task.cancel()
                self._forget(session)
        self.drop_all()
        if down_s > 0 and self._server is not None:
            port_now = self.port
            if self.http_front is not None:  # the front hands sockets to this server: it goes down with it
                await self.http_front.stop()
                self.http_front = None
            self._server.close()
            await self._server.wait_closed()
            await asyncio.sleep(down_s)
            port, self.config.port = self.config.port, port_now
            try:
                await self.start()
            finally:
                self.config.port = port
        self.changed()

    async def inject(self, sessid: str, text: str) -> bool:
        """Send raw text to a session's socket: how tests play a hostile or buggy platform."""
        session = self.sessions.get(sessid)
        if session is None or session.conn is None:
            return False
        await session.conn.send_raw(text)
        return True

    async def hangup(self, call_id: str, cause: str = "NORMAL_CLEARING") -> bool:
        """Platform-side hangup: a bye to the client (and to the bridged peer)."""
        leg = self.legs.get(call_id)
        if leg is None or leg.ended:
            return False
        await self.calls.remote_bye(leg, cause)
        return True

    # ---------------------------------------------------------------- HTTP side

    def _http_request(self, connection: ServerConnection, request: HttpRequest) -> HttpResponse | None:
        path = urlsplit(request.path).path
        if path == "/healthz":
            return connection.respond(HTTPStatus.OK, "ok\n")
        if path == "/metrics":
            response = connection.respond(HTTPStatus.OK, exposition(self.metrics_registry).decode())
            del response.headers["Content-Type"]
            response.headers["Content-Type"] = "text/plain; version=0.0.4; charset=utf-8"
            return response
        if request.headers.get("Upgrade", "").lower() != "websocket":
            return connection.respond(HTTPStatus.NOT_FOUND, "rtcload emulator: WebSocket on /, /healthz, /metrics\n")
        return None

    # ---------------------------------------------------------------- sockets

    async def _handle_socket(self, ws: ServerConnection) -> None:
        conn = Connection(ws, self.faults)
        if not self.gatekeeper.admit(conn):
            await conn.close(*TOO_MANY_WAITING)
            return
        conn.query = dict(parse_qsl(urlsplit(ws.request.path if ws.request else "/").query))
        self.connections.add(conn)
        self.counters["connections_total"] += 1
        self.changed()
        if self.faults.drop_after_s is not None:
            self.spawn(self._drop_later(conn, self.faults.drop_after_s), "drop")
        deadline = self.spawn(self.gatekeeper.login_deadline(conn), "login-deadline")
        try:
            async for text in ws:
                if conn.closing:
                    break
                conn.frames_in += 1
                await self._on_text(conn, text)
        except ConnectionClosed:
            pass
        finally:
            deadline.cancel()
            self.gatekeeper.forget(conn)
            self.connections.discard(conn)
            self._on_socket_closed(conn)

    async def _drop_later(self, conn: Connection, delay: float) -> None:
        await asyncio.sleep(delay)
        if conn in self.connections:
            self.counters["fault_drops"] += 1
            conn.abort()

    async def _on_text(self, conn: Connection, text: str | bytes) -> None:
        try:
            frame = parse_frame(text, self.config.max_frame_bytes)
        except FrameError as exc:
            self.counters[f"errors_{int(exc.code)}"] += 1
            log.info("conn #%d sent a bad frame: %s (%s)", conn.id, exc, short_frame(text))
            await conn.send(error_for(exc.code, exc.request_id, data={"reason": exc.detail}))
            return
        if isinstance(frame, DebugReport):
            await conn.send(messages.debug_report_reply(frame.id, frame.type))
            return
        if isinstance(frame, Result | Error):
            return  # acks of our requests (ringing, invite, bye, ...): nothing waits on them
        delay = self.faults.delay_for(frame.method)
        if delay > 0:
            self.spawn(self._delayed(conn, frame, delay), "delayed")
        else:
            await self._dispatch(conn, frame)

    async def _delayed(self, conn: Connection, request: Request, delay: float) -> None:
        await asyncio.sleep(delay)
        await self._dispatch(conn, request)

    async def _dispatch(self, conn: Connection, request: Request) -> None:
        method = request.method
        known = method in KNOWN_METHODS or method == CONTROL_METHOD
        self.counters[f"requests_{method}" if known else "requests_other"] += 1  # keys never chosen by clients
        try:
            if method == CONTROL_METHOD:
                await self._control(conn, request)
            elif method not in KNOWN_METHODS:
                if request.id is not None:
                    await self._error(conn, RpcErrorCode.METHOD_NOT_FOUND, request, f"unknown method {method!r}")
            elif method in (Method.LOGIN, Method.ANONYMOUS_LOGIN):
                await self._login(conn, request)
            elif method == Method.PING:
                await self._ping(conn, request)
            elif conn.session is None:
                if request.id is not None:
                    await self._error(conn, RpcErrorCode.AUTHENTICATION_REQUIRED, request)
            elif method == Method.GATEWAY_STATE:
                await self._gateway_state(conn, request)
            elif method in CALL_METHODS:
                await self.calls.handle(conn, conn.session, request)
            elif method in ACCEPTED_QUIETLY:
                if request.id is not None:
                    await conn.send(Result(request.id, {"message": "OK", "sessid": conn.session.sessid}))
            elif request.id is not None and method != Method.AI_CONVERSATION:
                # server->client methods sent the wrong way round (ringing, punt, ...)
                await self._error(conn, RpcErrorCode.METHOD_NOT_FOUND, request, f"{method} is not a client method")
        except Exception:  # one bad request must not take the server down; its text stays in our log
            self.counters["internal_errors"] += 1
            log.exception("emulator failed on %s from conn #%d", method if known else "(unknown method)", conn.id)
            if request.id is not None:
                await conn.send(error_for(RpcErrorCode.INVALID_PARAMS, request.id, "internal error in the emulator"))
        finally:
            self.changed()

    async def _control(self, conn: Connection, request: Request) -> None:
        if not token_ok(self.config.control_token, request.params.get("token")):
            self.counters["control_refused"] += 1
            await self.gatekeeper.refuse(
                conn,
                lambda: self._error(
                    conn, RpcErrorCode.AUTHENTICATION_FAILURE, request, data={"reason": "control refused"}
                ),
            )
            return
        conn.control_ok = True
        try:
            result = await control.apply(self, request.params, self.rng)
        except (control.ControlError, ValueError, TypeError) as exc:
            await self._error(conn, RpcErrorCode.INVALID_PARAMS, request, str(exc))
            return
        action = request.params.get("action")
        self.counters[f"control_{action}" if action in control.ACTIONS else "control_other"] += 1
        if request.id is not None:
            await conn.send(Result(request.id, result))

    async def _error(
        self, conn: Connection, code: RpcErrorCode, request: Request, message: str | None = None, data: Any = None
    ) -> None:
        self.counters[f"errors_{int(code)}"] += 1
        if request.id is not None:  # a notification gets no reply, not even an error (JSON-RPC 2.0)
            await conn.send(error_for(code, request.id, message, data))

    # ---------------------------------------------------------------- login and readiness

    async def _login(self, conn: Connection, request: Request) -> None:
        try:
            identity = self.gatekeeper.authenticate(request)
        except AuthError as exc:
            self.counters["logins_failed"] += 1
            self.counters[f"logins_failed_{exc.refusal.value}"] += 1  # a LoginRefusal: bounded, never message text
            log.info("login refused on conn #%d: %s", conn.id, exc.reason)
            reason = exc.reason
            await self.gatekeeper.refuse(
                conn,
                lambda: self._error(conn, RpcErrorCode.AUTHENTICATION_FAILURE, request, data={"reason": reason}),
                counts=exc.refusal is not FAULT_REJECTION,  # the platform's fault, not a guess
            )
            return
        current = conn.session
        if current is not None and current.identity.username == identity.username:
            # A second login on a live socket: token refresh. Same session, same sessid.
            current.logins += 1
            self.counters["relogins"] += 1
            if request.id is not None:
                await conn.send(messages.login_result(request.id, current.sessid, current.voice_sdk_id))
            return
        try:
            session, kept = self._session_for(conn, identity, request.params)
        except AuthError as exc:
            log.info("login refused on conn #%d: %s", conn.id, exc.reason)
            await self._error(conn, RpcErrorCode.AUTHENTICATION_FAILURE, request, data={"reason": exc.reason})
            return
        self.counters["logins_ok"] += 1
        self.login_log.append(identity.username)
        self.login_times.append(time.monotonic())
        if request.id is not None:
            await conn.send(messages.login_result(request.id, session.sessid, session.voice_sdk_id))
        await conn.send(messages.client_ready([leg.call_id for leg in kept]))
        for leg in kept:
            self.spawn(self.calls.reattach(leg), "reattach")
        self.changed()

    def _session_for(self, conn: Connection, identity: Identity, params: dict[str, Any]) -> tuple[Session, list[Leg]]:
        """Reuse the session a reconnecting client names (reattach), or open a new one."""
        old_sessid = params.get("sessid")
        if params.get("reconnection") is True and isinstance(old_sessid, str):
            session = self.sessions.get(old_sessid)
            if session is not None and session.identity.username == identity.username:
                if self.faults.forget_sessions:
                    for leg in session.live_legs():
                        self.spawn(self.calls.end_leg(leg, "RECOVERY_ON_TIMER_EXPIRE", "lost"), "forget")
                    self._forget(session)
                    self.counters["sessions_lost"] += 1
                else:
                    if session.conn is not None and session.conn is not conn:
                        old = session.conn
                        old.session = None
                        old.abort()
                    if session.grace_task is not None:
                        session.grace_task.cancel()
                        session.grace_task = None
                    session.conn, session.detached_at = conn, None
                    session.logins += 1
                    conn.session = session
                    self.counters["sessions_resumed"] += 1
                    return session, [leg for leg in session.live_legs() if leg.answered]
        if len(self.sessions) >= self.config.limits.max_sessions:
            self.counters["refused_sessions"] += 1
            raise AuthError(LoginRefusal.SESSION_LIMIT)
        if conn.session is not None:
            self._detach(conn.session)
        session = Session(str(uuid.uuid4()), identity, f"vsdk-{uuid.uuid4()}", conn=conn)
        conn.session = session
        self.sessions[session.sessid] = session
        self.directory[identity.username] = identity.username
        if identity.number:
            self.directory[identity.number] = identity.username
        return session, []

    async def _gateway_state(self, conn: Connection, request: Request) -> None:
        assert conn.session is not None
        faulty = self.faults.take_gateway_state()
        state = GatewayState(faulty) if faulty else GatewayState.REGED
        extra: dict[str, Any] = {}
        if state is GatewayState.REGED and self.config.call_report_id:
            extra["call_report_id"] = self.config.call_report_id
        self.counters[f"gateway_{state}"] += 1
        if request.id is None:
            return
        await conn.send(messages.gateway_state_result(request.id, state, conn.session.sessid, extra))

    async def _ping(self, conn: Connection, request: Request) -> None:
        self.counters["pings_in"] += 1
        if self.faults.ignore_pings or request.id is None:
            return
        await conn.send(messages.pong_result(request.id, conn.session.sessid if conn.session else None))

    async def _server_pings(self) -> None:
        while True:
            await asyncio.sleep(self.config.server_ping_interval_s)
            for conn in list(self.connections):
                if conn.session is not None:
                    self.counters["pings_out"] += 1
                    await conn.send(messages.server_ping())

    # ---------------------------------------------------------------- socket loss and grace

    def _on_socket_closed(self, conn: Connection) -> None:
        session = conn.session
        conn.session = None
        if session is not None and session.conn is conn:
            self._detach(session)
        self.changed()

    def _detach(self, session: Session) -> None:
        """The socket is gone: unanswered legs end now, answered ones wait out the grace period."""
        session.conn = None
        session.detached_at = time.monotonic()
        for leg in session.live_legs():
            if not leg.answered:
                self.spawn(self.calls.end_leg(leg, "DESTINATION_OUT_OF_ORDER", "socket lost"), "unanswered")
        session.grace_task = self.spawn(self._expire(session), "grace")

    async def _expire(self, session: Session) -> None:
        await asyncio.sleep(self.config.grace_s)
        if session.conn is not None:
            return
        session.grace_task = None
        for leg in session.live_legs():
            await self.calls.end_leg(leg, RECOVERY_ON_TIMER_EXPIRE.name, "grace expired")
        self.counters["sessions_expired"] += 1
        self._forget(session)
        self.changed()

    def _forget(self, session: Session) -> None:
        self.sessions.pop(session.sessid, None)
        if session.conn is not None:
            session.conn.session = None
            session.conn = None
        username = session.identity.username
        if not self.sessions_of(username):
            for key in [k for k, v in self.directory.items() if v == username]:
                del self.directory[key]
