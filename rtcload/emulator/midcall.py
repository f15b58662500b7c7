"""Requests on an established call: hold/unhold and ICE restart (`telnyx_rtc.modify`), DTMF and chat
(`telnyx_rtc.info`) and trickle ICE candidates, each validated and bounded per leg.

Apart from call setup and hangup because these are what a live call receives many times: every
one checks its input and the leg's limits before it touches the leg or its media.
"""

from __future__ import annotations

import contextlib
import logging
from typing import Any

from rtcload.emulator.call_context import MEDIA_REFUSED, CallContext, CallReplies, media_mode_of
from rtcload.emulator.hangup import Hangup
from rtcload.emulator.session import Leg, LegState, Link
from rtcload.protocol import messages
from rtcload.protocol.codes import RpcErrorCode
from rtcload.protocol.jsonrpc import Request
from rtcload.protocol.methods import Method, ModifyAction
from rtcload.protocol.sdp import candidate_problem, sdp_problem, static_sdp

log = logging.getLogger("rtcload.emulator")

DTMF_DIGITS = frozenset("0123456789*#ABCDabcd")
MAX_CHAT_MESSAGE_BYTES = 4096  # one telnyx_rtc.info msg kept per leg (from, to, body)


class MidCall:
    def __init__(self, context: CallContext, replies: CallReplies, hangup: Hangup) -> None:
        self.ctx = context
        self.replies = replies
        self.hangup = hangup

    async def modify(self, conn: Link, leg: Leg, request: Request) -> None:
        action = request.params.get("action")
        sessid = leg.session.sessid
        if action == ModifyAction.UPDATE_MEDIA:
            offer = request.params.get("sdp")
            problem = sdp_problem(offer)  # checked BEFORE the call's media is released: a bad offer keeps the call
            if problem is not None:
                await self.replies.error(
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
                    await self.replies.error(conn, request, RpcErrorCode.INVALID_PARAMS, leg.call_id, MEDIA_REFUSED)
                    await self.hangup.remote_bye(leg, "INCOMPATIBLE_DESTINATION")
                    return
                if leg.ended:  # ended while the answer was built: its media was released before this one existed
                    await self.ctx.answerer.release(leg.call_id)
                    return
                if not await self.hangup.rejoin_or_end(conn, request, leg):
                    return
            else:
                sdp = leg.answer_sdp or static_sdp()
            self.ctx.counters["ice_restarts"] += 1
            hold_state = "held" if leg.state is LegState.HELD else "active"
            result = messages.modify_result(request.id or "", leg.call_id, str(action), hold_state, sessid, sdp)
            await self.replies.send_result(conn, request, result)
            return
        if action not in (ModifyAction.HOLD, ModifyAction.UNHOLD, ModifyAction.TOGGLE_HOLD):
            await self.replies.error(
                conn, request, RpcErrorCode.INVALID_PARAMS, leg.call_id, f"unknown action {action!r}"
            )
            return
        if not leg.answered:
            await self.replies.error(conn, request, RpcErrorCode.INVALID_PARAMS, leg.call_id, "call not answered")
            return
        held = leg.state is LegState.HELD
        if action == ModifyAction.HOLD:
            held = True
        elif action == ModifyAction.UNHOLD:
            held = False
        else:
            held = not held
        leg.move(LegState.HELD if held else LegState.ACTIVE, f"modify {action}")
        if leg.media:
            self.ctx.answerer.hold(leg.call_id, held)
        self.ctx.counters[f"modify_{action}"] += 1
        self.ctx.changed()
        await self.replies.send_result(
            conn,
            request,
            messages.modify_result(request.id or "", leg.call_id, str(action), "held" if held else "active", sessid),
        )

    async def info(self, conn: Link, leg: Leg, request: Request) -> None:
        params = request.params
        digits = params.get("dtmf")
        msg = params.get("msg")
        max_items = self.ctx.config.limits.max_leg_items
        if isinstance(digits, str) and digits:
            if not set(digits) <= DTMF_DIGITS:
                await self.replies.error(
                    conn, request, RpcErrorCode.INVALID_PARAMS, leg.call_id, "dtmf must be digits 0-9, *, #, A-D"
                )
                return
            if len(leg.dtmf) + len(digits) > max_items:
                await self.replies.refuse(
                    conn, request, leg.call_id, "leg_items", f"over {max_items} DTMF digits on this call"
                )
                return
            leg.dtmf.extend(digits)
            self.ctx.counters["dtmf_digits"] += len(digits)
        elif isinstance(msg, dict):
            kept = {k: msg.get(k) for k in ("from", "to", "body")}
            if len(repr(kept)) > MAX_CHAT_MESSAGE_BYTES:
                await self.replies.refuse(
                    conn, request, leg.call_id, "leg_items", f"msg over {MAX_CHAT_MESSAGE_BYTES} bytes"
                )
                return
            if len(leg.messages) >= max_items:
                await self.replies.refuse(
                    conn, request, leg.call_id, "leg_items", f"over {max_items} messages on this call"
                )
                return
            leg.messages.append(kept)
        else:
            await self.replies.error(conn, request, RpcErrorCode.INVALID_PARAMS, leg.call_id, "info needs dtmf or msg")
            return
        self.ctx.changed()
        await self.replies.send_result(conn, request, messages.info_result(request.id or "", leg.session.sessid))
        peer = leg.peer
        if peer is not None and not peer.ended:
            forward: dict[str, Any] = {"callID": peer.call_id}
            forward.update({"dtmf": digits} if isinstance(digits, str) and digits else {"msg": msg})
            await self.replies.send_to(peer, Request(Method.INFO, forward, messages.new_id()))

    async def candidate(self, conn: Link, leg: Leg, request: Request) -> None:
        params = request.params
        if request.method == Method.END_OF_CANDIDATES:
            leg.end_of_candidates = True
        else:
            line = params.get("candidate")
            problem = candidate_problem(line)
            if problem is not None:
                await self.replies.error(conn, request, RpcErrorCode.INVALID_PARAMS, leg.call_id, problem)
                return
            assert isinstance(line, str)
            mid, index = params.get("sdpMid"), params.get("sdpMLineIndex")
            if not isinstance(mid, str | None) or not (index is None or type(index) is int):
                await self.replies.error(
                    conn, request, RpcErrorCode.INVALID_PARAMS, leg.call_id, "bad sdpMid/sdpMLineIndex"
                )
                return
            if len(leg.candidates) >= self.ctx.config.limits.max_leg_items:
                limit = self.ctx.config.limits.max_leg_items
                await self.replies.refuse(
                    conn, request, leg.call_id, "leg_items", f"over {limit} candidates on this call"
                )
                return
            leg.candidates.append(line)
            if leg.media and not await self.replies.media_ok(
                conn, request, leg, self.ctx.answerer.add_candidate(leg.call_id, line, mid, index)
            ):
                return
        await self.replies.reply(conn, request, {"message": "CANDIDATE ACCEPTED", "callID": leg.call_id})
        peer = leg.peer
        if peer is not None and not peer.ended and not leg.media:
            forward = {k: v for k, v in params.items() if k not in ("sessid", "dialogParams")}
            forward["callID"] = peer.call_id
            await self.replies.send_to(peer, Request(str(request.method), forward, messages.new_id()))
