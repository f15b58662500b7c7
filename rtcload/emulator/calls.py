"""Call handling on the emulator: dispatch of a session's call requests, outbound invites and what
the platform does for each route (ring, answer, early media, busy, ...), and reattach after a socket
drop. Bridging (`bridge`), hangup (`hangup`) and requests on a live call (`midcall`) are their own
modules; this one wires them behind `CallHandler`, the one object the server talks to.

The server hands the handler a `CallContext` (the state and hooks calls need), not itself, so
this module never imports the server.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from rtcload.emulator.bridge import Bridge
from rtcload.emulator.call_context import (
    RELAY_MODE,
    CallContext,
    CallReplies,
    mark_answered,
    media_mode_of,
)
from rtcload.emulator.hangup import Hangup
from rtcload.emulator.midcall import MidCall
from rtcload.emulator.routing import MEDIA_KINDS, RouteError, RouteKind, route
from rtcload.emulator.session import Leg, LegState, Link, Session
from rtcload.protocol import messages
from rtcload.protocol.codes import RECOVERY_ON_TIMER_EXPIRE, RpcErrorCode
from rtcload.protocol.dialog import call_id_of, custom_headers_of
from rtcload.protocol.jsonrpc import Request
from rtcload.protocol.methods import Method
from rtcload.protocol.sdp import sdp_problem, static_sdp

log = logging.getLogger("rtcload.emulator")

__all__ = ["RELAY_MODE", "CallContext", "CallHandler", "media_mode_of"]


class CallHandler:
    """Every call request of every session, and the platform's side of each call; the server's one entry point."""

    def __init__(self, context: CallContext) -> None:
        self.ctx = context
        self.replies = CallReplies(context)
        self.hangup = Hangup(context, self.replies)
        self.bridge = Bridge(context, self.replies, self.hangup)
        self.midcall = MidCall(context, self.replies, self.hangup)

    def live_calls(self) -> int:
        """Calls in progress, counted once per call (the caller's leg), as a platform's capacity is."""
        return sum(1 for leg in self.ctx.legs.values() if not leg.ended and leg.direction == "outbound")

    # ---------------------------------------------------------------- dispatch

    async def handle(self, conn: Link, session: Session, request: Request) -> None:
        method = request.method
        if method == Method.INVITE:
            await self._invite(conn, session, request)
            return
        call_id = call_id_of(request.params)
        leg = session.legs.get(call_id) if call_id else None
        if leg is None or (leg.ended and method != Method.BYE):
            await self.replies.error(conn, request, RpcErrorCode.CALL_DOES_NOT_EXIST, call_id)
            return
        if method == Method.BYE:
            await self.hangup.client_bye(conn, leg, request)
        elif method == Method.ANSWER:
            await self.bridge.client_answer(conn, leg, request)
        elif method == Method.ATTACH:
            await self._client_attach(conn, leg, request)
        elif method == Method.MODIFY:
            await self.midcall.modify(conn, leg, request)
        elif method == Method.INFO:
            await self.midcall.info(conn, leg, request)
        elif method in (Method.CANDIDATE, Method.END_OF_CANDIDATES):
            await self.midcall.candidate(conn, leg, request)

    def _room_for_call(self, session: Session) -> str | None:
        """None if `session` may start another call, else why not (live calls, remembered legs)."""
        limits = self.ctx.config.limits
        if len(session.live_legs()) >= limits.max_calls_per_session:
            return f"this session already holds {limits.max_calls_per_session} calls, the emulator's limit"
        if len(session.legs) >= limits.max_legs_per_session:
            for ended in [leg for leg in session.legs.values() if leg.ended]:
                session.legs.pop(ended.call_id, None)  # forget ended calls early rather than refuse
                self.ctx.legs.pop(ended.call_id, None)
                if len(session.legs) < limits.max_legs_per_session:
                    break
        if len(session.legs) >= limits.max_legs_per_session:
            return f"this session already holds {limits.max_legs_per_session} calls, the emulator's limit"
        return None

    # ---------------------------------------------------------------- outbound invite

    async def _invite(self, conn: Link, session: Session, request: Request) -> None:
        params = request.params
        call_id = call_id_of(params)
        sdp = params.get("sdp")
        dialog = params.get("dialogParams") if isinstance(params.get("dialogParams"), dict) else {}
        destination = dialog.get("destination_number")
        if not call_id or not isinstance(sdp, str) or not isinstance(destination, str) or not destination:
            await self.replies.error(
                conn, request, RpcErrorCode.INVALID_PARAMS, call_id, "invite needs callID, sdp and destination_number"
            )
            return
        if call_id in self.ctx.legs:
            await self.replies.error(conn, request, RpcErrorCode.INVALID_PARAMS, call_id, "duplicate callID")
            return
        problem = sdp_problem(sdp)
        if problem is not None:
            await self.replies.error(conn, request, RpcErrorCode.INVALID_PARAMS, call_id, f"invite: {problem}")
            return
        full = self._room_for_call(session)
        if full is not None:
            await self.replies.refuse(conn, request, call_id, "calls_per_session", full)
            return
        try:
            target = route(destination, self.ctx.directory)
        except RouteError as exc:
            await self.replies.error(conn, request, RpcErrorCode.INVALID_PARAMS, call_id, str(exc))
            return
        caller_number = str(dialog.get("caller_id_number") or session.identity.number or session.identity.username)
        parties = messages.call_party_fields(
            caller_id_name=str(dialog.get("caller_id_name") or session.identity.username),
            caller_id_number=caller_number,
            callee_id_name=target.target or destination,
            callee_id_number=destination,
        )
        leg = Leg(
            call_id=call_id,
            session=session,
            direction="outbound",
            route=target,
            parties=parties,
            media=target.kind in MEDIA_KINDS,
            offer_sdp=sdp,
            custom_headers=custom_headers_of(params),
        )
        session.legs[call_id] = leg
        self.ctx.legs[call_id] = leg
        self.ctx.counters["calls_total"] += 1
        self.ctx.counters[f"calls_route_{target.kind}"] += 1
        self.ctx.changed()
        await self.replies.send_result(conn, request, messages.invite_result(request.id or "", call_id, session.sessid))
        self._leg_task(leg, self._drive(leg, params.get("trickle") is True), "drive")

    def _leg_task(self, leg: Leg, coro: Any, name: str) -> None:
        task = self.ctx.spawn(coro, f"{name}-{leg.call_id[:8]}")
        leg.tasks.add(task)
        task.add_done_callback(leg.tasks.discard)

    async def _drive(self, leg: Leg, trickle: bool) -> None:
        """What the platform does after CALL CREATED, by route."""
        assert leg.route is not None
        cfg = self.ctx.config
        rng = self.ctx.rng
        kind = leg.route.kind
        if cfg.max_calls is not None and self.live_calls() > cfg.max_calls:
            self.ctx.counters["calls_over_capacity"] += 1
            await self.hangup.remote_bye(leg, "NORMAL_CIRCUIT_CONGESTION")
            return
        ring = leg.route.delay("ring", cfg.ring_delay).sample(rng)
        answer_after = leg.route.delay("answer", cfg.answer_delay).sample(rng)
        if kind is RouteKind.UNALLOCATED:
            await asyncio.sleep(ring)
            await self.hangup.remote_bye(leg, "UNALLOCATED_NUMBER")
            return
        if kind is RouteKind.USER:
            await self.bridge.ring(leg, ring)
            return
        media_answer: asyncio.Task[str] | None = None
        if leg.media:
            # Build the answer while ringing: aiortc needs ~100 ms, a platform has it ready.
            media_answer = asyncio.ensure_future(
                self.ctx.answerer.answer(leg.call_id, leg.offer_sdp, leg.route.media_mode)
            )
            leg.tasks.add(media_answer)
        try:
            await asyncio.sleep(ring)
            if kind is RouteKind.BUSY:
                await self.hangup.remote_bye(leg, "USER_BUSY")
                return
            await self.replies.send_to(leg, messages.ringing(leg.call_id, leg.parties, leg.ids))
            if kind is RouteKind.NOANSWER:
                await asyncio.sleep(leg.route.float_knob("timeout", cfg.noanswer_timeout_s) or 0.0)
                await self.hangup.remote_bye(leg, "NO_ANSWER")
                return
            if kind is RouteKind.REJECT:
                await asyncio.sleep(answer_after)
                await self.hangup.remote_bye(leg, "CALL_REJECTED")
                return
            assert media_answer is not None
            sdp = await media_answer
            if leg.ended:
                return
            leg.answer_sdp = sdp
            if kind is RouteKind.EARLY:
                await self.replies.send_to(leg, messages.early_media(leg.call_id, sdp, leg.ids))
                if leg.ended:
                    return
                leg.move(LegState.EARLY, "early media")
                await asyncio.sleep(answer_after)
                if leg.ended:
                    return
                await self.replies.send_to(leg, messages.server_answer(leg.call_id, None, leg.ids))
            else:
                await asyncio.sleep(answer_after)
                if leg.ended:
                    return
                await self.replies.send_to(leg, messages.server_answer(leg.call_id, sdp, leg.ids))
            mark_answered(self.ctx, leg)
            hangup_after = leg.route.float_knob("hangup")
            if hangup_after is not None:
                await asyncio.sleep(hangup_after)
                await self.hangup.remote_bye(leg, "NORMAL_CLEARING")
        except Exception as exc:
            log.warning("call %s: media/answer failed: %s", leg.call_id, exc)
            self.ctx.counters["media_failures"] += 1
            await self.hangup.remote_bye(leg, "NORMAL_TEMPORARY_FAILURE")

    # ---------------------------------------------------------------- hangup (the server's entry points)

    async def remote_bye(self, leg: Leg, cause_name: str) -> None:
        """The platform ends a leg: bye with cause/causeCode/sipCode/sipReason, and the peer too."""
        await self.hangup.remote_bye(leg, cause_name)

    async def end_leg(
        self,
        leg: Leg,
        cause_name: str,
        ended_by: str,
        *,
        notify_peer: bool = True,
        send_bye: bool = False,
        cause_code: int | None = None,
    ) -> None:
        await self.hangup.end_leg(
            leg, cause_name, ended_by, notify_peer=notify_peer, send_bye=send_bye, cause_code=cause_code
        )

    # ---------------------------------------------------------------- reattach

    async def reattach(self, leg: Leg) -> None:
        """After a reconnection login: a fresh offer in telnyx_rtc.attach for a kept call."""
        if leg.media:
            with contextlib.suppress(Exception):
                await self.ctx.answerer.release(leg.call_id)
            offer = await self.ctx.answerer.reoffer(leg.call_id, media_mode_of(leg))
            if leg.ended:  # ended while the offer was built (grace expiry, a bye): its media was released before
                await self.ctx.answerer.release(leg.call_id)
                return
        else:
            offer = static_sdp()  # SDP-passthrough bridges re-attach signaling only
        frame = messages.server_invite(
            call_id=leg.call_id,
            sdp=offer,
            parties=leg.parties,
            ids=leg.ids,
            custom_headers=leg.custom_headers,
            method=Method.ATTACH,
        )
        leg.attach_offers += 1
        self.ctx.spawn(self._attach_unanswered(leg, leg.attach_offers, leg.reattached), "attach-timer")
        await self.replies.send_to(leg, frame)

    async def _attach_unanswered(self, leg: Leg, offer: int, answered: int) -> None:
        """An attach the client never answers (it no longer has the call: the SDK destroys a call whose
        bye could not be sent, then only acks the attach, 35002) ends the leg after the grace period, as
        a dropped session's calls do. Without this such a leg, and its offer's media, lived as long as
        the client's session: a leak in every soak."""
        await asyncio.sleep(self.ctx.config.grace_s)
        if leg.ended or leg.attach_offers != offer or leg.reattached != answered or leg.session.conn is None:
            return  # answered, ended, superseded by a newer attach, or the grace timer of a dropped session runs
        self.ctx.counters["attach_unanswered"] += 1
        await self.end_leg(leg, RECOVERY_ON_TIMER_EXPIRE.name, "attach unanswered")

    async def _client_attach(self, conn: Link, leg: Leg, request: Request) -> None:
        sdp = request.params.get("sdp")
        problem = sdp_problem(sdp)
        if problem is not None:
            await self.replies.error(conn, request, RpcErrorCode.INVALID_PARAMS, leg.call_id, f"attach: {problem}")
            return
        assert isinstance(sdp, str)
        if leg.media:
            if not await self.replies.media_ok(conn, request, leg, self.ctx.answerer.accept_answer(leg.call_id, sdp)):
                return
            if not await self.hangup.rejoin_or_end(conn, request, leg):
                return
        leg.reattached += 1
        self.ctx.counters["reattached"] += 1
        self.ctx.changed()
        await self.replies.reply(
            conn, request, {"message": "CALL ATTACHED", "callID": leg.call_id, "sessid": leg.session.sessid}
        )
