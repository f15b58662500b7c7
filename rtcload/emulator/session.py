"""Server-side state: sessions (one per logged-in endpoint, surviving socket drops) and call legs."""

from __future__ import annotations

import asyncio
import secrets
import time
import uuid
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Protocol

from rtcload.emulator.auth import Identity
from rtcload.emulator.routing import Route
from rtcload.protocol.dialog import TelnyxIds
from rtcload.protocol.jsonrpc import Frame


class Link(Protocol):
    """What a session needs from the socket it is on (`connection.Connection` is the real one).

    Declared here so state does not import transport: the connection knows its session, the
    session knows only this much of its connection.
    """

    id: int
    half_open: bool
    session: Session | None

    async def send(self, frame: Frame) -> bool: ...

    async def send_raw(self, text: str) -> None: ...

    def abort(self) -> None: ...

    async def close(self, code: int = 1000, reason: str = "") -> None: ...


class LegState(StrEnum):
    RINGING = "ringing"
    EARLY = "early"
    ACTIVE = "active"
    HELD = "held"
    ENDED = "ended"


# How a leg's state may move, as rtcload.protocol.call_state's table does for the client's calls.
LEG_TRANSITIONS: dict[LegState, frozenset[LegState]] = {
    LegState.RINGING: frozenset({LegState.EARLY, LegState.ACTIVE, LegState.ENDED}),
    LegState.EARLY: frozenset({LegState.ACTIVE, LegState.ENDED}),
    LegState.ACTIVE: frozenset({LegState.HELD, LegState.ENDED}),
    LegState.HELD: frozenset({LegState.ACTIVE, LegState.ENDED}),
    LegState.ENDED: frozenset(),
}
_IDEMPOTENT = frozenset({LegState.ACTIVE, LegState.HELD})  # hold while held, unhold while active


class IllegalLegTransition(Exception):
    """A leg asked to move where its table does not allow: a bug of the emulator, reported with the call."""

    def __init__(self, call_id: str, current: LegState, target: LegState, trigger: str) -> None:
        super().__init__(f"leg {call_id}: illegal transition {current.value} -> {target.value} (on {trigger})")
        self.current, self.target, self.trigger = current, target, trigger


def new_telnyx_ids() -> TelnyxIds:
    return TelnyxIds(
        call_control_id=f"v3:{secrets.token_urlsafe(24)}",
        session_id=str(uuid.uuid4()),
        leg_id=str(uuid.uuid4()),
    )


@dataclass
class Leg:
    """One client's side of a call. Bridged calls have two legs pointing at each other."""

    call_id: str
    session: Session
    direction: str  # "outbound" (the client dialed) or "inbound" (the client is rung)
    route: Route | None
    parties: dict[str, str]
    ids: TelnyxIds = field(default_factory=new_telnyx_ids)
    state: LegState = LegState.RINGING
    peer: Leg | None = None
    media: bool = False  # True when the emulator terminates the media (echo, tone, ...)
    offer_sdp: str = ""
    answer_sdp: str = ""
    custom_headers: list[dict[str, str]] = field(default_factory=list)
    dtmf: list[str] = field(default_factory=list)
    messages: list[dict[str, Any]] = field(default_factory=list)
    candidates: list[str] = field(default_factory=list)
    end_of_candidates: bool = False
    cause: str | None = None
    cause_code: int | None = None
    ended_by: str | None = None
    reattached: int = 0
    attach_offers: int = 0  # telnyx_rtc.attach sent (each new one supersedes the last one's timer)
    created: float = field(default_factory=time.monotonic)
    answered_at: float | None = None
    tasks: set[asyncio.Task[Any]] = field(default_factory=set)

    @property
    def answered(self) -> bool:
        return self.answered_at is not None

    def move(self, target: LegState, trigger: str) -> None:
        """Change state through LEG_TRANSITIONS; IllegalLegTransition when the table forbids it."""
        if target is self.state and target in _IDEMPOTENT:
            return
        if target not in LEG_TRANSITIONS[self.state]:
            raise IllegalLegTransition(self.call_id, self.state, target, trigger)
        self.state = target

    @property
    def ended(self) -> bool:
        return self.state is LegState.ENDED


@dataclass
class Session:
    """A logged-in endpoint, keyed by sessid. Outlives its socket for the grace period."""

    sessid: str
    identity: Identity
    voice_sdk_id: str
    conn: Link | None = None
    legs: dict[str, Leg] = field(default_factory=dict)
    detached_at: float | None = None
    grace_task: asyncio.Task[None] | None = None
    logins: int = 1

    @property
    def connected(self) -> bool:
        return self.conn is not None

    def live_legs(self) -> list[Leg]:
        return [leg for leg in self.legs.values() if not leg.ended]
