"""Call handling on the emulator: routing, ringing/answer timing, bridging two clients' legs,
hold, DTMF, trickle ICE, hangup causes and reattach after a socket drop.

The server hands the handler a `CallContext` (the state and hooks calls need), not itself, so
this module never imports the server.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
import uuid
from collections import Counter
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any

from rtcload.emulator.config import EmulatorConfig
from rtcload.emulator.routing import MEDIA_KINDS, RouteError, RouteKind, route
from rtcload.emulator.session import Leg, LegState, Link, Session
from rtcload.media.answerer import MediaAnswerer
from rtcload.protocol import messages
from rtcload.protocol.codes import RpcErrorCode, cause_by_name, cause_label
from rtcload.protocol.dialog import call_id_of, custom_headers_of
from rtcload.protocol.jsonrpc import Request, Result, error_for
from rtcload.protocol.methods import Method, ModifyAction
from rtcload.protocol.sdp import candidate_problem, sdp_problem, static_sdp

log = logging.getLogger("rtcload.emulator")

# What the far end of a bridged call hears when this side ends it, by state.
CANCEL = "ORIGINATOR_CANCEL"
RELAY_MODE = "relay"  # media endpoint mode for the two legs of a bridged call
BUSY_LIKE = {"USER_BUSY", "CALL_REJECTED"}
DTMF_DIGITS = frozenset("0123456789*#ABCDabcd")
MAX_CHAT_MESSAGE_BYTES = 4096  # one telnyx_rtc.info msg kept per leg (from, to, body)
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


class CallHandler:
    def __init__(self, context: CallContext) -> None:
        self.ctx = context

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
            await self._reply_error(conn, request, RpcErrorCode.CALL_DOES_NOT_EXIST, call_id)
            return
        if method == Method.BYE:
            await self._client_bye(conn, leg, request)
        elif method == Method.ANSWER:
            await self._client_answer(conn, leg, request)
        elif method == Method.ATTACH:
            await self._client_attach(conn, leg, request)
        elif method == Method.MODIFY:
            await self._modify(conn, leg, request)
        elif method == Method.INFO:
            await self._info(conn, leg, request)
        elif method in (Method.CANDIDATE, Method.END_OF_CANDIDATES):
            await self._candidate(conn, leg, request)

    async def _reply_error(
        self, conn: Link, request: Request, code: RpcErrorCode, call_id: str | None, message: str | None = None
    ) -> None:
        self.ctx.counters[f"errors_{int(code)}"] += 1
        if request.id is not None:
            data = {"callID": call_id} if call_id else None
            await conn.send(error_for(code, request.id, message, data))

    async def _reply(self, conn: Link, request: Request, result: dict[str, Any]) -> None:
        if request.id is not None:
            await conn.send(Result(request.id, result))

    async def _send_result(self, conn: Link, request: Request, result: Result) -> None:
        """A built result frame, unless the request was a notification (JSON-RPC 2.0: never answered)."""
        if request.id is not None:
            await conn.send(result)

    async def _refuse(self, conn: Link, request: Request, leg_id: str | None, limit: str, message: str) -> None:
        """A request over one of the configured limits: counted as `refused_<limit>`, answered -32602."""
        self.ctx.counters[f"refused_{limit}"] += 1
        await self._reply_error(conn, request, RpcErrorCode.INVALID_PARAMS, leg_id, message)

    async def _media_ok(self, conn: Link, request: Request, leg: Leg, step: Coroutine[Any, Any, Any]) -> bool:
        """Run one media step for a client's SDP or candidate; a refusal is the client's error, not ours.

        aiortc answers input it cannot use with assorted exceptions (ValueError, assertion errors);
        their text is for our log, the client gets a JSON-RPC error naming what it sent.
        """
        try:
            await step
        except Exception as exc:
            self.ctx.counters["media_refused"] += 1
            log.info("call %s: media refused %s: %s: %s", leg.call_id, request.method, type(exc).__name__, exc)
            await self._reply_error(conn, request, RpcErrorCode.INVALID_PARAMS, leg.call_id, MEDIA_REFUSED)
            return False
        return True

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
            await self._reply_error(
                conn, request, RpcErrorCode.INVALID_PARAMS, call_id, "invite needs callID, sdp and destination_number"
            )
            return
        if call_id in self.ctx.legs:
            await self._reply_error(conn, request, RpcErrorCode.INVALID_PARAMS, call_id, "duplicate callID")
            return
        problem = sdp_problem(sdp)
        if problem is not None:
            await self._reply_error(conn, request, RpcErrorCode.INVALID_PARAMS, call_id, f"invite: {problem}")
            return
        full = self._room_for_call(session)
        if full is not None:
            await self._refuse(conn, request, call_id, "calls_per_session", full)
            return
        try:
            target = route(destination, self.ctx.directory)
        except RouteError as exc:
            await self._reply_error(conn, request, RpcErrorCode.INVALID_PARAMS, call_id, str(exc))
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
        await self._send_result(conn, request, messages.invite_result(request.id or "", call_id, session.sessid))
        self._leg_task(leg, self._drive(leg, params.get("trickle") is True), "drive")

    def _leg_task(self, leg: Leg, coro: Any, name: str) -> None:
        task = self.ctx.spawn(coro, f"{name}-{leg.call_id[:8]}")
        leg.tasks.add(task)
        task.add_done_callback(leg.tasks.discard)

    async def _send_to(self, leg: Leg, frame: Request) -> bool:
        conn = leg.session.conn
        if conn is None:
            return False
        return await conn.send(frame)

    async def _drive(self, leg: Leg, trickle: bool) -> None:
        """What the platform does after CALL CREATED, by route."""
        assert leg.route is not None
        cfg = self.ctx.config
        rng = self.ctx.rng
        kind = leg.route.kind
        if cfg.max_calls is not None and self.live_calls() > cfg.max_calls:
            self.ctx.counters["calls_over_capacity"] += 1
            await self.remote_bye(leg, "NORMAL_CIRCUIT_CONGESTION")
            return
        ring = leg.route.delay("ring", cfg.ring_delay).sample(rng)
        answer_after = leg.route.delay("answer", cfg.answer_delay).sample(rng)
        if kind is RouteKind.UNALLOCATED:
            await asyncio.sleep(ring)
            await self.remote_bye(leg, "UNALLOCATED_NUMBER")
            return
        if kind is RouteKind.USER:
            await self._bridge(leg, ring)
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
                await self.remote_bye(leg, "USER_BUSY")
                return
            await self._send_to(leg, messages.ringing(leg.call_id, leg.parties, leg.ids))
            if kind is RouteKind.NOANSWER:
                await asyncio.sleep(leg.route.float_knob("timeout", cfg.noanswer_timeout_s) or 0.0)
                await self.remote_bye(leg, "NO_ANSWER")
                return
            if kind is RouteKind.REJECT:
                await asyncio.sleep(answer_after)
                await self.remote_bye(leg, "CALL_REJECTED")
                return
            assert media_answer is not None
            sdp = await media_answer
            if leg.ended:
                return
            leg.answer_sdp = sdp
            if kind is RouteKind.EARLY:
                await self._send_to(leg, messages.early_media(leg.call_id, sdp, leg.ids))
                leg.state = LegState.EARLY
                await asyncio.sleep(answer_after)
                if leg.ended:
                    return
                await self._send_to(leg, messages.server_answer(leg.call_id, None, leg.ids))
            else:
                await asyncio.sleep(answer_after)
                if leg.ended:
                    return
                await self._send_to(leg, messages.server_answer(leg.call_id, sdp, leg.ids))
            self._mark_answered(leg)
            hangup_after = leg.route.float_knob("hangup")
            if hangup_after is not None:
                await asyncio.sleep(hangup_after)
                await self.remote_bye(leg, "NORMAL_CLEARING")
        except Exception as exc:
            log.warning("call %s: media/answer failed: %s", leg.call_id, exc)
            self.ctx.counters["media_failures"] += 1
            await self.remote_bye(leg, "NORMAL_TEMPORARY_FAILURE")

    def _mark_answered(self, leg: Leg) -> None:
        leg.answered_at = time.monotonic()
        leg.state = LegState.ACTIVE
        self.ctx.counters["calls_answered"] += 1
        self.ctx.changed()

    # ---------------------------------------------------------------- bridging to a registered client

    async def _bridge(self, caller: Leg, ring: float) -> None:
        assert caller.route is not None
        username = caller.route.target
        candidates = [s for s in self.ctx.sessions_of(username) if s.connected and s is not caller.session]
        if not candidates:
            await asyncio.sleep(ring)
            await self.remote_bye(
                caller, "USER_NOT_REGISTERED" if not self.ctx.sessions_of(username) else "NO_USER_RESPONSE"
            )
            return
        callee_session = max(candidates, key=lambda s: s.sessid if s.detached_at is None else "")
        relay = self.ctx.answerer.relays_media
        callee = Leg(
            call_id=str(uuid.uuid4()),
            session=callee_session,
            direction="inbound",
            route=None,
            parties=caller.parties,
            offer_sdp=caller.offer_sdp,
            custom_headers=caller.custom_headers,
            media=relay,
        )
        offer_to_callee = caller.offer_sdp
        if relay:
            # The platform terminates both legs' media and relays the audio between them.
            caller.media = True
            try:
                caller.answer_sdp, offer_to_callee = await asyncio.gather(
                    self.ctx.answerer.answer(caller.call_id, caller.offer_sdp, RELAY_MODE),
                    self.ctx.answerer.reoffer(callee.call_id, RELAY_MODE),
                )
            except Exception as exc:  # the caller's offer passed the SDP check but not aiortc: its fault, not ours
                log.info("call %s: relay media refused the offer: %s", caller.call_id, exc)
                self.ctx.counters["media_refused"] += 1
                with contextlib.suppress(Exception):
                    await self.ctx.answerer.release(callee.call_id)
                await self.remote_bye(caller, "INCOMPATIBLE_DESTINATION")
                return
            if caller.ended:
                await self.ctx.answerer.release(callee.call_id)
                return
        callee.ids.session_id = caller.ids.session_id  # one platform call, two legs
        caller.peer, callee.peer = callee, caller
        callee_session.legs[callee.call_id] = callee
        self.ctx.legs[callee.call_id] = callee
        self.ctx.changed()
        invite = messages.server_invite(
            call_id=callee.call_id,
            sdp=offer_to_callee,
            parties=caller.parties,
            ids=callee.ids,
            custom_headers=caller.custom_headers,
        )
        if not await self._send_to(callee, invite):
            await self.end_leg(callee, "NO_USER_RESPONSE", "platform", notify_peer=False)
            await self.remote_bye(caller, "NO_USER_RESPONSE")
            return
        await asyncio.sleep(ring)
        if caller.ended:
            return
        await self._send_to(caller, messages.ringing(caller.call_id, caller.parties, caller.ids))
        await asyncio.sleep(caller.route.float_knob("timeout", self.ctx.config.noanswer_timeout_s) or 0.0)
        if not caller.ended and not caller.answered:
            await self.end_leg(callee, CANCEL, "platform", notify_peer=False, send_bye=True)
            await self.remote_bye(caller, "NO_ANSWER")

    async def _client_answer(self, conn: Link, leg: Leg, request: Request) -> None:
        """The rung client answers: the caller gets the callee's SDP in telnyx_rtc.answer."""
        sdp = request.params.get("sdp")
        if leg.direction != "inbound" or leg.answered:
            await self._reply_error(conn, request, RpcErrorCode.INVALID_PARAMS, leg.call_id, "call is not ringing here")
            return
        problem = sdp_problem(sdp)
        if problem is not None:
            await self._reply_error(conn, request, RpcErrorCode.INVALID_PARAMS, leg.call_id, f"answer: {problem}")
            return
        assert isinstance(sdp, str)
        caller = leg.peer
        if leg.media and caller is not None:
            if not await self._media_ok(conn, request, leg, self.ctx.answerer.accept_answer(leg.call_id, sdp)):
                return
            self.ctx.answerer.link(caller.call_id, leg.call_id)
        leg.answer_sdp = sdp
        self._mark_answered(leg)
        await self._reply(
            conn, request, {"message": "CALL ANSWERED", "callID": leg.call_id, "sessid": leg.session.sessid}
        )
        if caller is not None and not caller.ended:
            if not leg.media:
                caller.answer_sdp = sdp  # SDP passthrough: media flows client to client
            await self._send_to(caller, messages.server_answer(caller.call_id, caller.answer_sdp, caller.ids))
            self._mark_answered(caller)
            for task in list(caller.tasks):  # the no-answer timer
                if task is not asyncio.current_task():
                    task.cancel()

    # ---------------------------------------------------------------- hangup

    async def _client_bye(self, conn: Link, leg: Leg, request: Request) -> None:
        params = request.params
        cause_name = params.get("cause") if isinstance(params.get("cause"), str) else "NORMAL_CLEARING"
        cause = cause_by_name(cause_name)
        code = params.get("causeCode") if isinstance(params.get("causeCode"), int) else cause.code
        await self._send_result(
            conn,
            request,
            messages.bye_result(request.id or "", leg.call_id, type(cause)(cause.name, code), leg.session.sessid),
        )
        if leg.ended:
            return
        was_answered = leg.answered
        await self.end_leg(leg, cause.name, "client", notify_peer=False, cause_code=code)
        peer = leg.peer
        if peer is None or peer.ended:
            return
        if was_answered:
            await self.remote_bye(peer, "NORMAL_CLEARING")
        elif leg.direction == "outbound":
            await self.remote_bye(peer, CANCEL)  # caller gave up while it rang
        else:
            await self.remote_bye(peer, cause.name if cause.name in BUSY_LIKE else "USER_BUSY")  # reject

    async def remote_bye(self, leg: Leg, cause_name: str) -> None:
        """The platform ends a leg: bye with cause/causeCode/sipCode/sipReason, and the peer too."""
        if leg.ended:
            return
        cause = cause_by_name(cause_name)
        await self._send_to(leg, messages.server_bye(leg.call_id, cause, leg.ids))
        await self.end_leg(leg, cause.name, "platform", notify_peer=True)

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
        if leg.ended:
            return
        cause = cause_by_name(cause_name)
        if send_bye:
            await self._send_to(leg, messages.server_bye(leg.call_id, cause, leg.ids))
        leg.state = LegState.ENDED
        leg.cause, leg.cause_code, leg.ended_by = (
            cause.name,
            cause_code if cause_code is not None else cause.code,
            ended_by,
        )
        self.ctx.counters[f"calls_ended_{cause_label(cause.name)}"] += 1  # client-chosen names -> OTHER
        for task in list(leg.tasks):
            if task is not asyncio.current_task():
                task.cancel()
        if leg.media:
            with contextlib.suppress(Exception):
                await self.ctx.answerer.release(leg.call_id)
        self.ctx.changed()
        peer = leg.peer
        if notify_peer and peer is not None and not peer.ended:
            peer_cause = "NORMAL_CLEARING" if leg.answered else (CANCEL if leg.direction == "outbound" else cause.name)
            await self.remote_bye(peer, peer_cause)
        self.ctx.spawn(self._forget_later(leg), "forget-leg")

    async def _forget_later(self, leg: Leg, after_s: float = 30.0) -> None:
        """Ended legs stay visible for a while (late byes get a result, tests can read them)."""
        await asyncio.sleep(after_s)
        leg.session.legs.pop(leg.call_id, None)
        self.ctx.legs.pop(leg.call_id, None)

    # ---------------------------------------------------------------- mid-call

    async def _modify(self, conn: Link, leg: Leg, request: Request) -> None:
        action = request.params.get("action")
        sessid = leg.session.sessid
        if action == ModifyAction.UPDATE_MEDIA:
            offer = request.params.get("sdp")
            problem = sdp_problem(offer)  # checked BEFORE the call's media is released: a bad offer keeps the call
            if problem is not None:
                await self._reply_error(
                    conn, request, RpcErrorCode.INVALID_PARAMS, leg.call_id, f"updateMedia: {problem}"
                )
                return
            assert isinstance(offer, str)
            if leg.media:
                with contextlib.suppress(Exception):
                    await self.ctx.answerer.release(leg.call_id)
                try:
                    sdp = await self.ctx.answerer.answer(leg.call_id, offer, media_mode_of(leg))
                except Exception as exc:  # the old media is gone: end the call, with a cause that says so
                    self.ctx.counters["media_refused"] += 1
                    log.info("call %s: updateMedia offer refused by the media endpoint: %s", leg.call_id, exc)
                    await self._reply_error(conn, request, RpcErrorCode.INVALID_PARAMS, leg.call_id, MEDIA_REFUSED)
                    await self.remote_bye(leg, "INCOMPATIBLE_DESTINATION")
                    return
                if leg.peer is not None and not leg.peer.ended:
                    self.ctx.answerer.link(leg.call_id, leg.peer.call_id)
            else:
                sdp = leg.answer_sdp or static_sdp()
            self.ctx.counters["ice_restarts"] += 1
            hold_state = "held" if leg.state is LegState.HELD else "active"
            result = messages.modify_result(request.id or "", leg.call_id, str(action), hold_state, sessid, sdp)
            await self._send_result(conn, request, result)
            return
        if action not in (ModifyAction.HOLD, ModifyAction.UNHOLD, ModifyAction.TOGGLE_HOLD):
            await self._reply_error(
                conn, request, RpcErrorCode.INVALID_PARAMS, leg.call_id, f"unknown action {action!r}"
            )
            return
        if not leg.answered:
            await self._reply_error(conn, request, RpcErrorCode.INVALID_PARAMS, leg.call_id, "call not answered")
            return
        held = leg.state is LegState.HELD
        if action == ModifyAction.HOLD:
            held = True
        elif action == ModifyAction.UNHOLD:
            held = False
        else:
            held = not held
        leg.state = LegState.HELD if held else LegState.ACTIVE
        if leg.media:
            self.ctx.answerer.hold(leg.call_id, held)
        self.ctx.counters[f"modify_{action}"] += 1
        self.ctx.changed()
        await self._send_result(
            conn,
            request,
            messages.modify_result(request.id or "", leg.call_id, str(action), "held" if held else "active", sessid),
        )

    async def _info(self, conn: Link, leg: Leg, request: Request) -> None:
        params = request.params
        digits = params.get("dtmf")
        msg = params.get("msg")
        max_items = self.ctx.config.limits.max_leg_items
        if isinstance(digits, str) and digits:
            if not set(digits) <= DTMF_DIGITS:
                await self._reply_error(
                    conn, request, RpcErrorCode.INVALID_PARAMS, leg.call_id, "dtmf must be digits 0-9, *, #, A-D"
                )
                return
            if len(leg.dtmf) + len(digits) > max_items:
                await self._refuse(
                    conn, request, leg.call_id, "leg_items", f"over {max_items} DTMF digits on this call"
                )
                return
            leg.dtmf.extend(digits)
            self.ctx.counters["dtmf_digits"] += len(digits)
        elif isinstance(msg, dict):
            kept = {k: msg.get(k) for k in ("from", "to", "body")}
            if len(repr(kept)) > MAX_CHAT_MESSAGE_BYTES:
                await self._refuse(conn, request, leg.call_id, "leg_items", f"msg over {MAX_CHAT_MESSAGE_BYTES} bytes")
                return
            if len(leg.messages) >= max_items:
                await self._refuse(conn, request, leg.call_id, "leg_items", f"over {max_items} messages on this call")
                return
            leg.messages.append(kept)
        else:
            await self._reply_error(conn, request, RpcErrorCode.INVALID_PARAMS, leg.call_id, "info needs dtmf or msg")
            return
        self.ctx.changed()
        await self._send_result(conn, request, messages.info_result(request.id or "", leg.session.sessid))
        peer = leg.peer
        if peer is not None and not peer.ended:
            forward: dict[str, Any] = {"callID": peer.call_id}
            forward.update({"dtmf": digits} if isinstance(digits, str) and digits else {"msg": msg})
            await self._send_to(peer, Request(Method.INFO, forward, messages.new_id()))

    async def _candidate(self, conn: Link, leg: Leg, request: Request) -> None:
        params = request.params
        if request.method == Method.END_OF_CANDIDATES:
            leg.end_of_candidates = True
        else:
            line = params.get("candidate")
            problem = candidate_problem(line)
            if problem is not None:
                await self._reply_error(conn, request, RpcErrorCode.INVALID_PARAMS, leg.call_id, problem)
                return
            assert isinstance(line, str)
            mid, index = params.get("sdpMid"), params.get("sdpMLineIndex")
            if not isinstance(mid, str | None) or not (index is None or type(index) is int):
                await self._reply_error(
                    conn, request, RpcErrorCode.INVALID_PARAMS, leg.call_id, "bad sdpMid/sdpMLineIndex"
                )
                return
            if len(leg.candidates) >= self.ctx.config.limits.max_leg_items:
                limit = self.ctx.config.limits.max_leg_items
                await self._refuse(conn, request, leg.call_id, "leg_items", f"over {limit} candidates on this call")
                return
            leg.candidates.append(line)
            if leg.media and not await self._media_ok(
                conn, request, leg, self.ctx.answerer.add_candidate(leg.call_id, line, mid, index)
            ):
                return
        await self._reply(conn, request, {"message": "CANDIDATE ACCEPTED", "callID": leg.call_id})
        peer = leg.peer
        if peer is not None and not peer.ended and not leg.media:
            forward = {k: v for k, v in params.items() if k not in ("sessid", "dialogParams")}
            forward["callID"] = peer.call_id
            await self._send_to(peer, Request(str(request.method), forward, messages.new_id()))

    # ---------------------------------------------------------------- reattach

    async def reattach(self, leg: Leg) -> None:
        """After a reconnection login: a fresh offer in telnyx_rtc.attach for a kept call."""
        if leg.media:
            with contextlib.suppress(Exception):
                await self.ctx.answerer.release(leg.call_id)
            offer = await self.ctx.answerer.reoffer(leg.call_id, media_mode_of(leg))
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
        await self._send_to(leg, frame)

    async def _client_attach(self, conn: Link, leg: Leg, request: Request) -> None:
        sdp = request.params.get("sdp")
        problem = sdp_problem(sdp)
        if problem is not None:
            await self._reply_error(conn, request, RpcErrorCode.INVALID_PARAMS, leg.call_id, f"attach: {problem}")
            return
        assert isinstance(sdp, str)
        if leg.media:
            if not await self._media_ok(conn, request, leg, self.ctx.answerer.accept_answer(leg.call_id, sdp)):
                return
            if leg.peer is not None and not leg.peer.ended:
                self.ctx.answerer.link(leg.call_id, leg.peer.call_id)
        leg.reattached += 1
        self.ctx.counters["reattached"] += 1
        self.ctx.changed()
        await self._reply(
            conn, request, {"message": "CALL ATTACHED", "callID": leg.call_id, "sessid": leg.session.sessid}
        )
