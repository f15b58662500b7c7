"""Liveness the way the SDK checks it: pings both ways, and a probe after inbound silence.

The session tells this room when a socket opens and when anything arrives; in return it answers
server pings, measures ping round trips, and aborts a socket whose probe goes unanswered so the
session's lifecycle reconnects (the SDK's signaling-health monitor).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from typing import Any

from websockets.asyncio.client import ClientConnection

from rtcload.protocol import messages
from rtcload.protocol.codes import SdkCode
from rtcload.protocol.jsonrpc import RequestId, encode_frame
from rtcload.protocol.methods import Method
from rtcload.signaling.config import ClientConfig
from rtcload.signaling.errors import SignalingError
from rtcload.signaling.events import EventKind, EventLog
from rtcload.signaling.rpc import RpcChannel

log = logging.getLogger("rtcload.signaling")


class Keepalive:
    """Pings and the health probe of one session; `voice_sdk_id` is read when each ping is built."""

    def __init__(
        self, config: ClientConfig, events: EventLog, rpc: RpcChannel, voice_sdk_id: Callable[[], str | None]
    ) -> None:
        self.config = config
        self.label = config.label
        self.events = events
        self.rpc = rpc
        self._voice_sdk_id = voice_sdk_id
        self._last_inbound = 0.0
        self._probe: tuple[str, float] | None = None

    def socket_opened(self, at: float) -> None:
        self._last_inbound = at
        self._probe = None

    def heard(self) -> None:
        """Any frame in counts as life."""
        self._last_inbound = time.monotonic()

    def result_arrived(self, request_id: RequestId) -> None:
        """A result matched its request: if it was the probe's, signaling is alive."""
        if self._probe is not None and request_id == self._probe[0]:
            self._probe = None
            self.events.emit(EventKind.PONG)

    async def answer_server_ping(self) -> None:
        """The JS SDK answers a server ping with a new ping request, not a result."""
        try:
            await self.rpc.request(messages.ping(self._voice_sdk_id()), timeout=self.config.critical_timeout_s)
        except SignalingError as exc:
            log.info("[%s] ping after server ping failed: %s", self.label, exc)

    async def ping(self) -> float:
        """Round trip of one telnyx_rtc.ping request, in seconds."""
        started = self.events.emit(EventKind.PING_SENT).t
        await self.rpc.request(messages.ping(self._voice_sdk_id()), timeout=self.config.critical_timeout_s)
        return self.events.emit(EventKind.PONG).t - started

    async def monitor(self, ws: ClientConnection, current: Callable[[], Any]) -> None:
        """Probe after inbound silence; abort `ws` when the probe goes unanswered (SDK SHM).

        Runs while `current()` is still `ws` (the session returns None once it is closing).
        """
        health = self.config.health
        while current() is ws:
            await asyncio.sleep(health.check_every_s)
            now = time.monotonic()
            if self._probe is not None:
                probe_id, sent = self._probe
                if now - sent >= health.probe_timeout_s:
                    self.events.emit(EventKind.RECOVERY_REQUIRED, code=int(SdkCode.SIGNALING_RECOVERY_REQUIRED))
                    log.warning("[%s] signaling probe unanswered for %.1f s: reconnecting", self.label, now - sent)
                    self.rpc.forget(probe_id)
                    self._probe = None
                    ws.transport.abort()
                    return
                continue
            if now - self._last_inbound >= health.inbound_silence_s:
                probe = messages.ping(self._voice_sdk_id())
                assert isinstance(probe.id, str)
                self._probe = (probe.id, now)
                self.events.emit(EventKind.PING_SENT, probe=True)
                self.rpc.expect(probe.id, Method.PING)
                with contextlib.suppress(Exception):
                    await ws.send(encode_frame(probe))
