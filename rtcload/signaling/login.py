"""Who the client is to the platform: the login for its credentials, the sessid it got, token refresh.

The session decides when to log in (first connect, reconnect, after `-32000`); this room builds
the request the SDK would send for the credentials, keeps the sessid the platform handed out (and
offers it back on a reconnect while it is fresh), and re-logs in before a JWT expires.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

from rtcload.protocol import messages
from rtcload.protocol.codes import SdkCode
from rtcload.protocol.jsonrpc import Request
from rtcload.protocol.tokens import jwt_expiry
from rtcload.signaling.config import AnonymousCredentials, ClientConfig, PasswordCredentials, TokenCredentials
from rtcload.signaling.errors import LoginFailed, ServerError
from rtcload.signaling.events import EventKind, EventLog
from rtcload.signaling.rpc import RpcChannel


class Login:
    """Login state of one client: sessid (and when it was issued), the current JWT, login timings."""

    def __init__(self, config: ClientConfig, events: EventLog, rpc: RpcChannel) -> None:
        self.config = config
        self.label = config.label
        self.events = events
        self.rpc = rpc
        self.sessid: str | None = None
        self.sent_at = 0.0  # the last login request (monotonic)
        self.ok_at = 0.0  # its result
        self._sessid_at: float | None = None
        self._token = config.credentials.token if isinstance(config.credentials, TokenCredentials) else None

    def _keep_sessid(self, result: Any) -> None:
        if isinstance(result, dict) and isinstance(result.get("sessid"), str):
            self.sessid = result["sessid"]
            self._sessid_at = time.monotonic()

    def request(self, reconnecting: bool, voice_sdk_id: str | None) -> Request:
        """The login the SDK sends for these credentials; a reconnect offers a still-fresh sessid back."""
        creds = self.config.credentials
        fresh_sessid = (
            self.sessid
            if self.sessid
            and self._sessid_at is not None
            and time.monotonic() - self._sessid_at < self.config.reconnect_session_max_age_s
            else None
        )
        reconnection = bool(voice_sdk_id) and reconnecting
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

    async def login(self, reconnecting: bool, voice_sdk_id: str | None) -> None:
        """Log in on the current socket; raises LoginFailed when refused or answered without a sessid."""
        request = self.request(reconnecting, voice_sdk_id)
        self.sent_at = self.events.emit(EventKind.LOGIN_SENT, reconnection=request.params.get("reconnection")).t

        def on_login_result(result: Any) -> None:
            # Runs in the reader, before clientReady is dispatched, so READY always sees it.
            self.ok_at = self.events.emit(EventKind.LOGIN_OK).t
            self._keep_sessid(result)

        try:
            result = await self.rpc.request(request, timeout=self.config.login_timeout_s, on_result=on_login_result)
        except ServerError as exc:
            self.events.emit(EventKind.LOGIN_FAILED, code=exc.code)
            raise LoginFailed(
                f"login rejected: {exc.code} {exc.detail}", client=self.label, server_code=exc.code
            ) from None
        sessid = result.get("sessid") if isinstance(result, dict) else None
        if not isinstance(sessid, str) or not sessid:
            self.events.emit(EventKind.LOGIN_FAILED, code=int(SdkCode.PROTOCOL_VIOLATION))
            raise LoginFailed("login result carried no sessid", client=self.label)

    async def token_timer(self, closing: Callable[[], bool], voice_sdk_id: Callable[[], str | None]) -> None:
        """Refresh the JWT `token_refresh_lead_s` before it expires (or warn, without a refresher)."""
        creds = self.config.credentials
        if not isinstance(creds, TokenCredentials) or self._token is None:
            return
        while not closing():
            exp = jwt_expiry(self._token)
            if exp is None:
                return
            await asyncio.sleep(max(0.0, exp - self.config.token_refresh_lead_s - time.time()))
            if creds.refresh is None:
                self.events.emit(EventKind.TOKEN_EXPIRING_SOON, code=int(SdkCode.TOKEN_EXPIRING_SOON))
                return
            await self.refresh_token(await creds.refresh(), voice_sdk_id())

    async def refresh_token(self, token: str, voice_sdk_id: str | None) -> None:
        """Re-login on the live socket with a new JWT; the session (sessid, calls) is kept."""
        self._token = token
        request = messages.login(
            login_token=token,
            reconnection=bool(voice_sdk_id),
            user_agent=self.config.user_agent,
            sessid=self.sessid,
        )
        try:
            result = await self.rpc.request(request, timeout=self.config.login_timeout_s)
        except ServerError as exc:
            self.events.emit(EventKind.LOGIN_FAILED, code=exc.code, refresh=True)
            raise LoginFailed(f"token refresh rejected: {exc.code} {exc.detail}", client=self.label) from None
        self._keep_sessid(result)
        self.events.emit(EventKind.TOKEN_REFRESHED)
