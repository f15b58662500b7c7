"""How a call ends on the emulator: the client's bye, the platform's bye (with cause, causeCode,
sipCode), and the bookkeeping every end shares (cause counters, media release, the bridged peer).

One place decides what the far end of a bridged call hears, so a cancel, a reject and a normal
hangup are reported the same way whichever handler ends the call.
"""

from __future__ import annotations

import asyncio
import contextlib

from rtcload.emulator.call_context import BUSY_LIKE, CANCEL, CallContext, CallReplies, rejoin_media
from rtcload.emulator.session import Leg, LegState, Link
from rtcload.protocol import messages
from rtcload.protocol.codes import cause_by_name, cause_label
from rtcload.protocol.jsonrpc import Request


class Hangup:
    def __init__(self, context: CallContext, replies: CallReplies) -> None:
        self.ctx = context
        self.replies = replies

    async def client_bye(self, conn: Link, leg: Leg, request: Request) -> None:
        params = request.params
        cause_name = params.get("cause") if isinstance(params.get("cause"), str) else "NORMAL_CLEARING"
        cause = cause_by_name(cause_name)
        code = params.get("causeCode") if isinstance(params.get("causeCode"), int) else cause.code
        await self.replies.send_result(
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
        await self.replies.send_to(leg, messages.server_bye(leg.call_id, cause, leg.ids))
        await self.end_leg(leg, cause.name, "platform", notify_peer=True)

    async def rejoin_or_end(self, conn: Link, request: Request, leg: Leg) -> bool:
        """After the leg's media was rebuilt (updateMedia, reattach): relay it to its partner again, or, when
        the media path cannot (codecs it does not transcode), refuse the request and end the call with
        INCOMPATIBLE_DESTINATION, since its old media is gone. True when the call goes on."""
        why = rejoin_media(self.ctx, leg)
        if why is None:
            return True
        await self.replies.refuse_media(conn, request, leg, why)
        await self.remote_bye(leg, "INCOMPATIBLE_DESTINATION")
        return False

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
            await self.replies.send_to(leg, messages.server_bye(leg.call_id, cause, leg.ids))
            if leg.ended:  # ended on another path while its bye was on the way: counted there, once
                return
        leg.move(LegState.ENDED, f"end {cause.name}")
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
