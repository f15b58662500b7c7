"""The asyncio signaling client: speaks Verto on a WebSocket the way the official JS SDK does.

`SignalingClient` is the public face of three rooms, each with one concern:

- `session.Session` (with `rpc.RpcChannel`): socket, login, readiness, keepalive, reconnect,
  token refresh, and the requests on the socket;
- `call_control.CallControl`: dial, answer, hold, DTMF, hang up, update media, and the server's
  frames about a call;
- `recovery.CallRecovery`: reattach after a reconnect, the media watchdog, media-gap measurement.

The session hands call frames up through `SessionHooks`; call control tells recovery about media
through `CallObserver`; nothing points back down. Every step emits a timestamped event (events.py)
so design.md's timings can be computed from outside.
"""

from __future__ import annotations

import asyncio
import random
import ssl
from collections.abc import Callable
from typing import Any

from rtcload.protocol.gateway import GatewayState
from rtcload.protocol.jsonrpc import Request, Result
from rtcload.protocol.methods import Method
from rtcload.signaling.call import Call
from rtcload.signaling.call_control import PURGE, CallControl, InboundPolicy
from rtcload.signaling.config import ClientConfig
from rtcload.signaling.events import EventLog
from rtcload.signaling.media_port import MediaFactory, StaticSdpMedia
from rtcload.signaling.recovery import SESSION_NOT_REATTACHED, CallRecovery
from rtcload.signaling.session import RegistrationTimings, Session, SessionHooks

__all__ = [
    "PURGE",
    "SESSION_NOT_REATTACHED",
    "InboundPolicy",
    "RegistrationTimings",
    "SignalingClient",
]


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
        self.events = events or EventLog()
        self.rng = rng or random.Random()
        hooks = SessionHooks(
            on_call_request=self._on_call_request,
            on_client_ready=self._on_client_ready,
            purge_calls=self._purge_calls,
            call_count=lambda: len(self._control.calls),
        )
        self._session = Session(config, self.events, self.rng, hooks)
        self._control = CallControl(self._session, media_factory or StaticSdpMedia, inbound_policy)
        self._recovery = CallRecovery(self._control)

    # ================================================================ wiring (session -> calls)

    def _on_call_request(self, request: Request) -> None:
        if request.method == Method.ATTACH:
            self._recovery.on_attach(request)
        else:
            self._control.on_call_request(request)

    def _on_client_ready(self, reattached: list[str]) -> None:
        self._recovery.on_client_ready(reattached)

    async def _purge_calls(self) -> None:
        await self._control.purge()

    # ================================================================ lifecycle

    @property
    def ready(self) -> bool:
        return self._session.ready

    @property
    def connected(self) -> bool:
        return self._session.connected

    async def connect(self, timeout: float | None = None) -> RegistrationTimings:
        """Open the socket, log in and wait for REGED; raises LoginFailed/ConnectionLost/TimeoutError."""
        return await self._session.connect(timeout, lambda: self.close(hangup_calls=False))

    async def wait_ready(self, timeout: float) -> None:
        """Wait until registered again (after a reconnect); raises the fatal error if it gave up."""
        await self._session.wait_ready(timeout)

    async def close(self, hangup_calls: bool = True, timeout: float = 10.0) -> None:
        """Hang up live calls (bye), close the socket and stop every task. Idempotent."""
        if hangup_calls and self.connected:
            await self._control.hangup_all(timeout)
        self._session.closing = True
        await self._control.purge()
        await self._session.shutdown()

    def drop_socket(self) -> None:
        """Abort the socket as a network failure would (for fault tests); the client reconnects."""
        self._session.abort_socket()

    async def ping(self) -> float:
        """Round trip of one telnyx_rtc.ping request, in seconds."""
        return await self._session.ping()

    async def refresh_token(self, token: str) -> None:
        """Re-login on the live socket with a new JWT; the session (sessid, calls) is kept."""
        await self._session.refresh_token(token)

    def ssl_context(self) -> ssl.SSLContext | None:
        """The TLS context this client dials with (None for ws://); call reports reuse it."""
        return self._session.ssl_context()

    # ================================================================ requests

    async def send(self, frame: Request | Result) -> None:
        await self._session.send(frame)

    async def request(
        self,
        request: Request,
        timeout: float | None = None,
        call_id: str | None = None,
        on_result: Callable[[Any], None] | None = None,
    ) -> Any:
        """Send a request and wait for its result; errors become ServerError, silence RequestTimeout."""
        return await self._session.request(request, timeout, call_id, on_result)

    # ================================================================ calls

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
        return await self._control.dial(
            destination,
            custom_headers=custom_headers,
            caller_id_name=caller_id_name,
            caller_id_number=caller_id_number,
            client_state=client_state,
        )

    async def call(self, destination: str, *, answer_timeout_s: float = 60.0, **kwargs: Any) -> Call:
        """Dial and wait until the call is active; raises CallFailed with the cause otherwise."""
        return await self._control.call(destination, answer_timeout_s=answer_timeout_s, **kwargs)

    async def next_incoming(self, timeout: float) -> Call:
        return await self._control.next_incoming(timeout)

    async def answer(self, call: Call) -> None:
        """Answer an inbound call: SDP answer from the media, `telnyx_rtc.answer`, active on the result."""
        await self._control.answer(call)

    async def hangup(self, call: Call, cause: str | None = None) -> None:
        """Send a bye (NORMAL_CLEARING after answer, USER_BUSY before) and end the call."""
        await self._control.hangup(call, cause)

    async def hold(self, call: Call, held: bool) -> None:
        await self._control.hold(call, held)

    async def update_media(self, call: Call) -> None:
        """ICE restart (`modify` action updateMedia); the call's media is rebuilt."""
        await self._control.update_media(call)

    async def send_dtmf(self, call: Call, digits: str) -> None:
        """One `telnyx_rtc.info` per digit, as the SDK sends one per key press (and, when the call's media
        can, the digit in-band as RFC 4733 telephone-events)."""
        await self._control.send_dtmf(call, digits)

    # ================================================================ state, read from the rooms

    @property
    def calls(self) -> dict[str, Call]:
        return self._control.calls

    @property
    def incoming(self) -> asyncio.Queue[Call]:
        return self._control.incoming

    @property
    def media_factory(self) -> MediaFactory:
        return self._control.media_factory

    @media_factory.setter
    def media_factory(self, factory: MediaFactory) -> None:
        self._control.media_factory = factory

    @property
    def inbound_policy(self) -> InboundPolicy:
        return self._control.inbound_policy

    @inbound_policy.setter
    def inbound_policy(self, policy: InboundPolicy) -> None:
        self._control.inbound_policy = policy

    @property
    def notifications(self) -> list[dict[str, Any]]:
        return self._session.notifications

    @property
    def sessid(self) -> str | None:
        return self._session.sessid

    @property
    def voice_sdk_id(self) -> str | None:
        return self._session.voice_sdk_id

    @property
    def gateway_state(self) -> GatewayState | None:
        return self._session.gateway_state

    @property
    def call_report_id(self) -> str | None:
        return self._session.call_report_id

    @call_report_id.setter
    def call_report_id(self, value: str | None) -> None:
        self._session.call_report_id = value

    @property
    def registration(self) -> RegistrationTimings | None:
        return self._session.registration

    @property
    def reconnect_count(self) -> int:
        return self._session.reconnect_count

    @property
    def last_reconnect_s(self) -> float | None:
        return self._session.last_reconnect_s
