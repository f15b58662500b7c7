"""Timestamped signaling events (monotonic clock) from which every timing of design.md is computed."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class EventKind(StrEnum):
    WS_CONNECT_START = "ws_connect_start"
    WS_OPEN = "ws_open"
    WS_CONNECT_FAILED = "ws_connect_failed"
    LOGIN_SENT = "login_sent"
    LOGIN_OK = "login_ok"
    LOGIN_FAILED = "login_failed"
    CLIENT_READY = "client_ready"
    GATEWAY_STATE = "gateway_state"
    READY = "ready"
    SOCKET_LOST = "socket_lost"
    RECONNECT_ATTEMPT = "reconnect_attempt"
    RECONNECTED = "reconnected"
    RECONNECT_EXHAUSTED = "reconnect_exhausted"
    SESSION_NOT_REATTACHED = "session_not_reattached"
    CALL_REATTACHED = "call_reattached"
    MEDIA_UPDATED = "media_updated"
    MEDIA_GAP = "media_gap"
    MEDIA_TIMEOUT = "media_timeout"
    TOKEN_REFRESHED = "token_refreshed"
    TOKEN_EXPIRING_SOON = "token_expiring_soon"
    PING_SENT = "ping_sent"
    PONG = "pong"
    SERVER_PING = "server_ping"
    RECOVERY_REQUIRED = "recovery_required"
    PROTOCOL_ERROR = "protocol_error"
    # A peer frame about a known call that its state does not allow (a late ringing, a second answer):
    # not applied, acknowledged, counted as rtcload_errors_total{code="protocol_state"}. detail: method, state.
    FRAME_IN_WRONG_STATE = "frame_in_wrong_state"
    INVITE_SENT = "invite_sent"
    INVITE_RESULT = "invite_result"
    RINGING = "ringing"
    EARLY_MEDIA = "early_media"
    ANSWERED = "answered"
    INBOUND_INVITE = "inbound_invite"
    ANSWER_SENT = "answer_sent"
    BYE_SENT = "bye_sent"
    BYE_RESULT = "bye_result"
    REMOTE_BYE = "remote_bye"
    HELD = "held"
    UNHELD = "unheld"
    DTMF_SENT = "dtmf_sent"
    CALL_ENDED = "call_ended"
    PUNTED = "punted"
    CLOSED = "closed"


@dataclass(frozen=True)
class SignalingEvent:
    kind: EventKind
    t: float  # time.monotonic()
    call_id: str | None = None
    detail: dict[str, Any] = field(default_factory=dict)


Listener = Callable[[SignalingEvent], None]


class EventLog:
    """Keeps a bounded history and fans events out to listeners (metrics, reports, tests)."""

    def __init__(self, max_events: int = 2000, clock: Callable[[], float] = time.monotonic) -> None:
        self._events: list[SignalingEvent] = []
        self._max = max_events
        self._listeners: list[Listener] = []
        self.clock = clock

    def emit(self, kind: EventKind, call_id: str | None = None, **detail: Any) -> SignalingEvent:
        event = SignalingEvent(kind, self.clock(), call_id, detail)
        self._events.append(event)
        if len(self._events) > self._max:
            del self._events[: len(self._events) - self._max]
        for listener in list(self._listeners):
            listener(event)
        return event

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener)

    def events(self, kind: EventKind | None = None, call_id: str | None = None) -> list[SignalingEvent]:
        return [
            e for e in self._events if (kind is None or e.kind is kind) and (call_id is None or e.call_id == call_id)
        ]

    def last(self, kind: EventKind) -> SignalingEvent | None:
        for event in reversed(self._events):
            if event.kind is kind:
                return event
        return None
