"""Calls to a registered client: the platform rings the callee's session and bridges the two legs,
terminating both legs' media and relaying between them when its answerer relays media, or passing
the clients' SDP through when it does not.

Like a platform that avoids transcoding, it offers the callee the caller's codec first; when the
callee still answers another codec the relay transcodes (counted as `calls_transcoded`), and a media
path that cannot (the lean baseline) ends the call with INCOMPATIBLE_DESTINATION rather than relay noise.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid

from rtcload.emulator.call_context import (
    CANCEL,
    RELAY_CODECS,
    RELAY_MODE,
    CallContext,
    CallReplies,
    mark_answered,
)
from rtcload.emulator.hangup import Hangup
from rtcload.emulator.session import Leg, Link
from rtcload.protocol import messages
from rtcload.protocol.codes import RpcErrorCode
from rtcload.protocol.jsonrpc import Request
from rtcload.protocol.sdp import first_codec, sdp_problem

log = logging.getLogger("rtcload.emulator")


class Bridge:
    def __init__(self, context: CallContext, replies: CallReplies, hangup: Hangup) -> None:
        self.ctx = context
        self.replies = replies
        self.hangup = hangup

    async def ring(self, caller: Leg, ring: float) -> None:
        assert caller.route is not None
        username = caller.route.target
        candidates = [s for s in self.ctx.sessions_of(username) if s.connected and s is not caller.session]
        if not candidates:
            await asyncio.sleep(ring)
            await self.hangup.remote_bye(
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
            # the codec the caller's leg will use (the first of its offer the relay carries: an answerer
            # without a preference takes the offerer's order) goes first in the callee's offer
            codec = first_codec(caller.offer_sdp, RELAY_CODECS)
            try:
                caller.answer_sdp, offer_to_callee = await asyncio.gather(
                    self.ctx.answerer.answer(caller.call_id, caller.offer_sdp, RELAY_MODE),
                    self.ctx.answerer.reoffer(callee.call_id, RELAY_MODE, codec),
                )
            except Exception as exc:  # the caller's offer passed the SDP check but not aiortc: its fault, not ours
                log.info("call %s: relay media refused the offer: %s", caller.call_id, exc)
                self.ctx.counters["media_refused"] += 1
                with contextlib.suppress(Exception):
                    await self.ctx.answerer.release(callee.call_id)
                await self.hangup.remote_bye(caller, "INCOMPATIBLE_DESTINATION")
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
        if not await self.replies.send_to(callee, invite):
            await self.hangup.end_leg(callee, "NO_USER_RESPONSE", "platform", notify_peer=False)
            await self.hangup.remote_bye(caller, "NO_USER_RESPONSE")
            return
        await asyncio.sleep(ring)
        if caller.ended:
            return
        await self.replies.send_to(caller, messages.ringing(caller.call_id, caller.parties, caller.ids))
        await asyncio.sleep(caller.route.float_knob("timeout", self.ctx.config.noanswer_timeout_s) or 0.0)
        if not caller.ended and not caller.answered:
            await self.hangup.end_leg(callee, CANCEL, "platform", notify_peer=False, send_bye=True)
            await self.hangup.remote_bye(caller, "NO_ANSWER")

    async def client_answer(self, conn: Link, leg: Leg, request: Request) -> None:
        """The rung client answers: the caller gets the callee's SDP in telnyx_rtc.answer."""
        sdp = request.params.get("sdp")
        if leg.direction != "inbound" or leg.answered:
            await self.replies.error(
                conn, request, RpcErrorCode.INVALID_PARAMS, leg.call_id, "call is not ringing here"
            )
            return
        problem = sdp_problem(sdp)
        if problem is not None:
            await self.replies.error(conn, request, RpcErrorCode.INVALID_PARAMS, leg.call_id, f"answer: {problem}")
            return
        assert isinstance(sdp, str)
        caller = leg.peer
        if leg.media and caller is not None:
            if not await self.replies.media_ok(conn, request, leg, self.ctx.answerer.accept_answer(leg.call_id, sdp)):
                return
            if not await self._link(conn, request, caller, leg, sdp):
                return
        leg.answer_sdp = sdp
        mark_answered(self.ctx, leg)
        await self.replies.reply(
            conn, request, {"message": "CALL ANSWERED", "callID": leg.call_id, "sessid": leg.session.sessid}
        )
        if caller is not None and not caller.ended:
            if not leg.media:
                caller.answer_sdp = sdp  # SDP passthrough: media flows client to client
            await self.replies.send_to(caller, messages.server_answer(caller.call_id, caller.answer_sdp, caller.ids))
            mark_answered(self.ctx, caller)
            for task in list(caller.tasks):  # the no-answer timer
                if task is not asyncio.current_task():
                    task.cancel()

    async def _link(self, conn: Link, request: Request, caller: Leg, callee: Leg, answer: str) -> bool:
        """Relay the two legs' media; False (the call ended, the answer refused) when the media path cannot."""
        codecs = first_codec(caller.answer_sdp, RELAY_CODECS), first_codec(answer, RELAY_CODECS)
        try:
            self.ctx.answerer.link(caller.call_id, callee.call_id)
        except ValueError as exc:
            log.info("call %s: cannot relay %s to %s: %s", caller.call_id, *codecs, exc)
            self.ctx.counters["media_refused"] += 1
            message = f"the platform cannot relay {codecs[0]} to {codecs[1]} on this media path"
            await self.replies.error(conn, request, RpcErrorCode.INVALID_PARAMS, callee.call_id, message)
            await self.hangup.remote_bye(callee, "INCOMPATIBLE_DESTINATION")
            return False
        if codecs[0] != codecs[1]:
            self.ctx.counters["calls_transcoded"] += 1
            log.info("call %s: relayed %s <-> %s with transcoding", caller.call_id, *codecs)
        return True
