"""What every call handler shares: the `CallContext` the server hands over, and how a call request
is answered (results, JSON-RPC errors, refusals over a limit, media steps the client's input broke).

Kept apart from the handlers so that each group of them (`calls`, `bridge`, `hangup`, `midcall`)
depends on this one small module and on none of its siblings' internals.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections import Counter
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any

from rtcload.emulator.config import EmulatorConfig
from rtcload.emulator.session import Leg, LegState, Link, Session
from rtcload.media.answerer import MediaAnswerer
from rtcload.protocol.codes import RpcErrorCode
from rtcload.protocol.jsonrpc import Request, Result, error_for

log = logging.getLogger("rtcload.emulator")

# What the far end of a bridged call hears when this side ends it, by state.
CANCEL = "ORIGINATOR_CANCEL"
RELAY_MODE = "relay"  # media endpoint mode for the two legs of a bridged call
RELAY_CODECS = ("opus", "pcmu", "pcma")  # what the emulator's media endpoints carry
BUSY_LIKE = {"USER_BUSY", "CALL_REJECTED"}
MEDIA_REFUSED = "the media endpoint could not use this SDP or candidate"


def media_mode_of(leg: Leg) -> str:
    """The media endpoint mode of an emulator-terminated leg: its route's, or relay for bridged legs."""
    if leg.peer is not None or leg.route is None:
        return RELAY_MODE
    return leg.route.media_mode


@dataclass(frozen=True)
class CallContext:
    """What call handling needs from the emulator, and no more: shared state and three hooks."""

    config: EmulatorConfig
    rng: random.Random
    counters: Counter[str]
    legs: dict[str, Leg]  # every leg by call id (the sessions hold their own)
    directory: dict[str, str]  # usernames and numbers -> username, for routing
    answerer: MediaAnswerer
    spawn: Callable[[Coroutine[Any, Any, Any], str], asyncio.Task[Any]]
    changed: Callable[[], None]  # wake the emulator's wait_for() callers
    sessions_of: Callable[[str], list[Session]]


def mark_answered(ctx: CallContext, leg: Leg) -> None:
    """The leg is up: answered now, counted once, waiters woken; a leg that ended while its answer was
    on the way (a bye raced it) stays ended (the transition table has no way back)."""
    if leg.ended:
        return
    leg.move(LegState.ACTIVE, "answered")
    leg.answered_at = time.monotonic()
    ctx.counters["calls_answered"] += 1
    ctx.changed()


def restore_hold(ctx: CallContext, leg: Leg) -> None:
    """The leg's media endpoint was rebuilt (updateMedia, reattach): it carries the call's hold state again,
    its own (nothing sent to a held leg) and its bridged partner's (hold music while the partner is held)."""
    for side in (leg, leg.peer):
        if side is not None and side.media and not side.ended and side.state is LegState.HELD:
            ctx.answerer.hold(side.call_id, True)


def rejoin_media(ctx: CallContext, leg: Leg) -> str | None:
    """The leg's media endpoint was rebuilt (updateMedia, reattach): relay it to its bridged partner again
    and give it the call's hold state. Returns why not when the media path cannot relay the two legs'
    codecs (the lean baseline does not transcode), else None."""
    peer = leg.peer
    if peer is not None and not peer.ended:
        try:
            ctx.answerer.link(leg.call_id, peer.call_id)
        except ValueError as exc:
            return str(exc)
    restore_hold(ctx, leg)
    return None


class CallReplies:
    """How the call handlers answer a request: every error is counted, a notification is never answered."""

    def __init__(self, context: CallContext) -> None:
        self.ctx = context

    async def error(
        self, conn: Link, request: Request, code: RpcErrorCode, call_id: str | None, message: str | None = None
    ) -> None:
        self.ctx.counters[f"errors_{int(code)}"] += 1
        if request.id is not None:
            data = {"callID": call_id} if call_id else None
            await conn.send(error_for(code, request.id, message, data))

    async def reply(self, conn: Link, request: Request, result: dict[str, Any]) -> None:
        if request.id is not None:
            await conn.send(Result(request.id, result))

    async def send_result(self, conn: Link, request: Request, result: Result) -> None:
        """A built result frame, unless the request was a notification (JSON-RPC 2.0: never answered)."""
        if request.id is not None:
            await conn.send(result)

    async def refuse(self, conn: Link, request: Request, leg_id: str | None, limit: str, message: str) -> None:
        """A request over one of the configured limits: counted as `refused_<limit>`, answered -32602."""
        self.ctx.counters[f"refused_{limit}"] += 1
        await self.error(conn, request, RpcErrorCode.INVALID_PARAMS, leg_id, message)

    async def media_ok(self, conn: Link, request: Request, leg: Leg, step: Coroutine[Any, Any, Any]) -> bool:
        """Run one media step for a client's SDP or candidate; a refusal is the client's error, not ours.

        aiortc answers input it cannot use with assorted exceptions (ValueError, assertion errors);
        their text is for our log, the client gets a JSON-RPC error naming what it sent.
        """
        try:
            await step
        except Exception as exc:
            self.ctx.counters["media_refused"] += 1
            log.info("call %s: media refused %s: %s: %s", leg.call_id, request.method, type(exc).__name__, exc)
            await self.error(conn, request, RpcErrorCode.INVALID_PARAMS, leg.call_id, MEDIA_REFUSED)
            return False
        return True

    async def refuse_media(self, conn: Link, request: Request, leg: Leg, why: str) -> None:
        """The leg's new media cannot be used (its old media is gone): a JSON-RPC error naming the media,
        the reason in our log, and the caller of `refuse_media` ends the call."""
        self.ctx.counters["media_refused"] += 1
        log.info("call %s: media refused %s: %s", leg.call_id, request.method, why)
        await self.error(conn, request, RpcErrorCode.INVALID_PARAMS, leg.call_id, MEDIA_REFUSED)

    async def send_to(self, leg: Leg, frame: Request) -> bool:
        """A server request to the leg's client, if it has a socket now (False if not, or not sent)."""
        conn = leg.session.conn
        if conn is None:
            return False
        return await conn.send(frame)
