"""Who gets onto the emulator and who may stay: how many sockets may wait to log in at once, the
credentials check of a login, the deadline by which a socket must log in, and the growing delay (then
the close) after failed logins or control tokens on one socket.

Apart from the server's frame loop because this is the emulator's defence against guessing and
idle sockets: one place holds the rules, and both the login and the control channel go through it.
"""

from __future__ import annotations

import asyncio
import logging
import random
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable

from rtcload.emulator.auth import AuthError, Identity, LoginRefusal, check_token
from rtcload.emulator.config import EmulatorConfig
from rtcload.emulator.connection import Connection
from rtcload.emulator.faults import Faults
from rtcload.protocol.jsonrpc import Request
from rtcload.protocol.methods import Method

log = logging.getLogger("rtcload.emulator")
FAULT_REJECTION = LoginRefusal.FAULT_INJECTION  # the platform's own fault: never counted against the socket
TOO_MANY_WAITING = (1013, "too many sockets not logged in; try again later")  # RFC 6455 1013: Try Again Later


class Gatekeeper:
    def __init__(
        self,
        config: EmulatorConfig,
        faults: Faults,
        rng: random.Random,
        counters: Counter[str],
        connections: set[Connection],
    ) -> None:
        self.config = config
        self.faults = faults
        self.rng = rng
        self.counters = counters
        self.connections = connections
        self._waiting: set[Connection] = set()  # admitted, maybe logged in since (pruned when the cap is near)

    def admit(self, conn: Connection) -> bool:
        """False (counted as `refused_unauthenticated_sockets`) when `max_unauthenticated_sockets` sockets
        are open and have neither logged in nor proved the control token: the login deadline alone lets
        a client hold (rate x deadline) idle sockets, each with its buffers and a task.

        The set is pruned of sockets that logged in (or closed) only when it reaches the cap, so a new
        socket costs O(1) normally and O(cap) under a flood of idle ones.
        """
        cap = self.config.limits.max_unauthenticated_sockets
        if len(self._waiting) >= cap:
            self._waiting = {c for c in self._waiting if c.session is None and not c.control_ok}
        if len(self._waiting) >= cap:
            self.counters["refused_unauthenticated_sockets"] += 1
            refused = self.counters["refused_unauthenticated_sockets"]
            if refused == 1 or refused % 1000 == 0:  # a flood logs once per thousand, not once per socket
                log.info("socket refused: %d sockets have not logged in yet (refused so far: %d)", cap, refused)
            return False
        self._waiting.add(conn)
        return True

    def forget(self, conn: Connection) -> None:
        """The socket closed: it no longer waits to log in."""
        self._waiting.discard(conn)

    def authenticate(self, request: Request) -> Identity:
        """The identity a login or anonymous_login proves, or AuthError naming the failure class."""
        params = request.params
        if self.faults.login_reject_ratio > 0 and self.rng.random() < self.faults.login_reject_ratio:
            raise AuthError(FAULT_REJECTION)
        if request.method == Method.ANONYMOUS_LOGIN:
            if not self.config.allow_anonymous:
                raise AuthError(LoginRefusal.ANONYMOUS_DISABLED)
            target = params.get("target_id")
            if not isinstance(target, str) or not target:
                raise AuthError(LoginRefusal.ANONYMOUS_WITHOUT_TARGET)
            return Identity(f"anonymous-{uuid.uuid4().hex[:12]}", "", "anonymous")
        if params.get("login_token") is not None:
            identity = check_token(params["login_token"], self.config.secret, self.config.users)
        else:
            login = params.get("login")
            if isinstance(login, str) and self._too_long(login):
                raise AuthError(LoginRefusal.LOGIN_TOO_LONG)
            identity = self.config.users.check_password(login, params.get("passwd"))
        if self._too_long(identity.username):
            raise AuthError(LoginRefusal.LOGIN_TOO_LONG)
        return identity

    def _too_long(self, username: str) -> bool:
        if len(username.encode("utf-8", "replace")) <= self.config.limits.max_username_bytes:
            return False
        self.counters["refused_username_bytes"] += 1
        return True

    async def refuse(self, conn: Connection, answer: Callable[[], Awaitable[None]], counts: bool = True) -> None:
        """Send a refusal (`answer()`); if it `counts` against the socket, throttle or close it.

        Past the free failures the back-off delays this very answer; before that the answer goes at
        once and the failure is only counted.
        """
        throttle = counts and conn.auth_failures >= self.config.limits.auth_failures_before_backoff
        if throttle:
            await self._failed(conn)
        await answer()
        if counts and not throttle:
            await self._failed(conn)

    async def _failed(self, conn: Connection) -> None:
        """One more failed login or control token on this socket: answer later and later, then close it.

        Per socket, so a guesser pays with time or reconnects; the first few failures (a typo, an
        expired token) are answered at once.
        """
        limits = self.config.limits
        conn.auth_failures += 1
        over = conn.auth_failures - limits.auth_failures_before_backoff
        if conn.auth_failures >= limits.auth_failures_before_close:
            self.counters["refused_auth_failures"] += 1
            log.info("conn #%d closed after %d authentication failures", conn.id, conn.auth_failures)
            await conn.close(1008, "too many authentication failures")
        elif over > 0:
            self.counters["auth_throttled"] += 1
            await asyncio.sleep(min(4.0, limits.auth_backoff_s * 2 ** (over - 1)))

    async def login_deadline(self, conn: Connection) -> None:
        """A socket that neither logs in nor proves the control token in time is closed (1008)."""
        timeout = self.config.limits.login_timeout_s
        await asyncio.sleep(timeout)
        if conn.session is None and not conn.control_ok and conn in self.connections:
            self.counters["refused_login_timeout"] += 1
            log.info("conn #%d closed: no login within %g s", conn.id, timeout)
            await conn.close(1008, "no login in time")
