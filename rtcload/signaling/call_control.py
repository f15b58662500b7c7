"""Call control: dial, answer, hold, DTMF, hang up and update media; the server's frames about a call.

Everything here rides on a registered `Session` (requests out, `spawn`, `wait_signaling`) and never
touches the socket. What happens when a call must be recovered lives in recovery.py, which watches
this room through `CallObserver`: this module does not import it.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from enum import StrEnum
from typing import Any, Protocol

from rtcload.protocol import messages
from rtcload.protocol.call_state import CallState
from rtcload.protocol.codes import NORMAL_CLEARING, USER_BUSY, HangupCause, SdkCode, cause_by_name
from rtcload.protocol.dialog import DialogParams, call_id_of, custom_headers_of
from rtcload.protocol.jsonrpc import Request
from rtcload.protocol.methods import Method, ModifyAction
from rtcload.protocol.sdp import split_candidates, trickle_sdp
from rtcload.signaling.call import Call, Direction, EndedBy
from rtcload.signaling.errors import SignalingError
from rtcload.signaling.events import EventKind
from rtcload.signaling.media_port import InbandDtmf, MediaFactory, MediaPort, last_rtp_of
from rtcload.signaling.session import Session

log = logging.getLogger("rtcload.signaling")

PURGE = HangupCause("PURGE", 0)
REPLACED_CLOSE_WAIT_S = 10.0  # a replaced media's close: final stats (1 s) and ICE gathering in flight (5 s)


class InboundPolicy(StrEnum):
    MANUAL = "manual"  # calls wait in `incoming` for the application
    ANSWER = "answer"  # answer at once
    REJECT = "reject"  # bye USER_BUSY at once


class CallObserver(Protocol):
    """Told when a call's media starts or is rebuilt (recovery.py's watchdog and gap measurement)."""

    def call_established(self, call: Call) -> None: ...

    def media_rebuilt(self, call: Call, last_rtp: float | None, media: MediaPort) -> None: ...


class CallControl:
    """The calls of one client: what the application asks for, and what the platform says about them."""

    def __init__(self, session: Session, media_factory: MediaFactory, inbound_policy: InboundPolicy) -> None:
        self.session = session
        self.config = session.config
        self.label = session.label
        self.events = session.events
        self.media_factory = media_factory
        self.inbound_policy = inbound_policy
        self.calls: dict[str, Call] = {}
        self.incoming: asyncio.Queue[Call] = asyncio.Queue()
        self.observers: list[CallObserver] = []

    def _established(self, call: Call) -> None:
        for observer in self.observers:
            observer.call_established(call)

    # ================================================================ outbound

    def _new_dialog(
        self,
        call_id: str,
        destination: str,
        custom_headers: list[dict[str, str]] | None,
        caller_id_name: str | None,
        caller_id_number: str | None,
    ) -> DialogParams:
        return DialogParams(
            call_id=call_id,
            destination_number=destination,
            remote_caller_id_number=destination,
            caller_id_name=caller_id_name if caller_id_name is not None else self.config.caller_id_name,
            caller_id_number=caller_id_number if caller_id_number is not None else self.config.caller_id_number,
            custom_headers=list(custom_headers or []),
            trickle_ice=self.config.trickle_ice,
        )

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
        session = self.session
        await session.wait_signaling()
        call_id = str(uuid.uuid4())
        dialog = self._new_dialog(call_id, destination, custom_headers, caller_id_name, caller_id_number)
        dialog.client_state = client_state
        media = self.media_factory()
        call = Call(self, call_id, Direction.OUTBOUND, dialog, media)
        self.calls[call_id] = call
        try:
            offer = await media.create_offer()
        except Exception as exc:
            call.error = f"offer failed: {exc}"
            await self.finish(call, USER_BUSY, EndedBy.FAILED)
            raise SignalingError(int(SdkCode.SDP_SEND_FAILED), call.error, client=self.label, call_id=call_id) from exc
        candidates: list[str] = []
        if self.config.trickle_ice:
            offer, candidates = trickle_sdp(offer)
        assert session.sessid is not None
        request = messages.invite(
            sessid=session.sessid,
            sdp=offer,
            dialog=dialog,
            trickle=self.config.trickle_ice,
            user_agent=self.config.user_agent,
        )
        call.machine.to(CallState.REQUESTING, "invite sent")
        call.timings.invite_sent = self.events.emit(EventKind.INVITE_SENT, call_id=call_id).t

        def on_invite_result(_result: Any) -> None:
            call.timings.invite_result = self.events.emit(EventKind.INVITE_RESULT, call_id=call_id).t
            if call.state is CallState.REQUESTING:
                call.machine.to(CallState.TRYING, "invite result")

        sent = asyncio.Event()
        invite = asyncio.ensure_future(session.request(request, call_id=call_id, on_result=on_invite_result, sent=sent))
        if self.config.trickle_ice and await _sent(sent, invite):
            # as the SDK: each candidate goes out once the invite is on the wire, not after its result
            session.spawn(self._send_candidates(call, candidates), "trickle")
        try:
            await invite
        except SignalingError as exc:
            call.error = str(exc)
            if not call.ended:
                cause = cause_by_name("NORMAL_TEMPORARY_FAILURE")
                await self.finish(call, cause, EndedBy.FAILED)
            raise
        return call

    async def call(self, destination: str, *, answer_timeout_s: float = 60.0, **kwargs: Any) -> Call:
        """Dial and wait until the call is active; raises CallFailed with the cause otherwise."""
        call = await self.dial(destination, **kwargs)
        await call.wait_established(answer_timeout_s)
        return call

    async def _send_candidates(self, call: Call, candidates: list[str]) -> None:
        """`telnyx_rtc.candidate` per candidate, then `telnyx_rtc.endOfCandidates`, pipelined like the SDK's
        (each request is sent without waiting for the previous one's result; every result is awaited)."""
        sessid = self.session.sessid
        assert sessid is not None
        requests = [
            messages.candidate(sessid=sessid, candidate_line=line, sdp_mid="0", sdp_mline_index=0, dialog=call.dialog)
            for line in candidates
        ]
        requests.append(messages.end_of_candidates(sessid=sessid, dialog=call.dialog))
        pending: list[asyncio.Future[Any]] = []
        for request in requests:
            sent = asyncio.Event()
            pending.append(asyncio.ensure_future(self.session.request(request, call_id=call.id, sent=sent)))
            if not await _sent(sent, pending[-1]):
                break
        for outcome in await asyncio.gather(*pending, return_exceptions=True):
            if isinstance(outcome, BaseException):
                raise outcome

    # ================================================================ frames about a call

    def on_call_request(self, request: Request) -> None:
        """A server request about one call (ringing, media, answer, bye, candidate, display, invite)."""
        if request.method == Method.INVITE:
            self._on_inbound_invite(request)
            return
        call_id = call_id_of(request.params)
        call = self.calls.get(call_id) if call_id else None
        if call is None or call.ended:
            # The SDK logs and sends no ack for frames about calls it does not know.
            log.info("[%s] %s for unknown call %s: not acknowledged", self.label, request.method, call_id)
            self.events.emit(
                EventKind.PROTOCOL_ERROR, call_id=call_id, code=int(SdkCode.PROTOCOL_VIOLATION), method=request.method
            )
            return
        spawn = self.session.spawn
        spawn(self.session.send(messages.ack(request)), "ack")
        params = request.params
        call.dialog.telnyx.update_from_server(params)
        method = request.method
        if method == Method.RINGING:
            if call.state not in (CallState.REQUESTING, CallState.TRYING, CallState.RINGING, CallState.EARLY):
                self._wrong_state(call, method)  # ringing after the answer
                return
            call.timings.ringing = call.timings.ringing or self.events.emit(EventKind.RINGING, call_id=call.id).t
            if call.state in (CallState.RINGING, CallState.EARLY):
                return  # a repeated 180, or a 180 after a 183 (SIP allows it): timed, nothing else is new
            if call.state is CallState.REQUESTING:
                call.machine.to(CallState.TRYING, "ringing before invite result")
            call.machine.to(CallState.RINGING, "telnyx_rtc.ringing")
        elif method == Method.MEDIA:
            if call.state not in (CallState.REQUESTING, CallState.TRYING, CallState.RINGING, CallState.EARLY):
                self._wrong_state(call, method)
            elif call.timings.early_media is None:
                call.timings.early_media = self.events.emit(EventKind.EARLY_MEDIA, call_id=call.id).t
                spawn(self._apply_remote_sdp(call, params.get("sdp"), CallState.EARLY, "telnyx_rtc.media"), "media")
        elif method == Method.ANSWER:
            if call.timings.answered is not None:
                self._wrong_state(call, method)  # a second answer: the call is answered already
            else:
                call.timings.answered = self.events.emit(EventKind.ANSWERED, call_id=call.id).t
                sdp = params.get("sdp") if call.timings.early_media is None else None
                spawn(self._apply_remote_sdp(call, sdp, CallState.ACTIVE, "telnyx_rtc.answer"), "answer")
        elif method == Method.BYE:
            self._on_remote_bye(call, params)
        elif method == Method.CANDIDATE:
            spawn(self._add_candidate(call, params), "candidate")
        elif method == Method.DISPLAY:
            call.inbound_params["display_name"] = params.get("display_name")
            call.inbound_params["display_number"] = params.get("display_number")

    def _wrong_state(self, call: Call, method: str) -> None:
        """A peer frame the call's state does not allow: one answer for all of them, like h11's protocol
        errors. It is not applied (the state and timings stay true), and it is logged with the user and
        the call, and emitted as a typed event that the load generator counts under a bounded code."""
        log.warning(
            "[%s][call %s] %s in state %s: not applied (protocol_state)", self.label, call.id, method, call.state.value
        )
        self.events.emit(EventKind.FRAME_IN_WRONG_STATE, call_id=call.id, method=str(method), state=call.state.value)

    def _on_remote_bye(self, call: Call, params: dict[str, Any]) -> None:
        call.sip_code = params.get("sipCode")
        call.sip_reason = params.get("sipReason")
        cause_name = params.get("cause")
        cause = (
            cause_by_name(cause_name)
            if isinstance(cause_name, str)
            else (NORMAL_CLEARING if call.machine.was_answered else USER_BUSY)
        )
        if isinstance(params.get("causeCode"), int):
            cause = HangupCause(cause.name, params["causeCode"])
        self.events.emit(
            EventKind.REMOTE_BYE,
            call_id=call.id,
            cause=cause.name,
            cause_code=cause.code,
            sip_code=call.sip_code,
            sip_reason=call.sip_reason,
        )
        self.session.spawn(self.finish(call, cause, EndedBy.REMOTE), "remote-bye")

    async def _apply_remote_sdp(self, call: Call, sdp: Any, target: CallState, trigger: str) -> None:
        async with call.media_lock:
            if call.ended:
                return
            if isinstance(sdp, str) and sdp and call.media is not None:
                try:
                    await call.media.accept_answer(sdp)
                except Exception as exc:
                    call.error = f"remote SDP rejected: {exc}"
                    log.warning("[%s][call %s] %s", self.label, call.id, call.error)
                    await self.hangup_locked(call, USER_BUSY)
                    return
                call.timings.remote_sdp_applied = time.monotonic()
            if call.state is CallState.REQUESTING:
                call.machine.to(CallState.TRYING, f"{trigger} before invite result")
            if call.machine.can(target) or call.state is target:
                call.machine.to(target, trigger)
            else:  # the state moved on while the SDP was applied (a hangup races the answer)
                self._wrong_state(call, trigger)
                return
            if target is CallState.ACTIVE:
                self._established(call)

    async def _add_candidate(self, call: Call, params: dict[str, Any]) -> None:
        if call.media is None or not isinstance(params.get("candidate"), str):
            return
        async with call.media_lock:
            await call.media.add_remote_candidate(
                params["candidate"], params.get("sdpMid"), params.get("sdpMLineIndex")
            )

    # ================================================================ inbound

    def _on_inbound_invite(self, request: Request) -> None:
        params = request.params
        call_id = params.get("callID")
        if not isinstance(call_id, str) or not isinstance(params.get("sdp"), str):
            self.events.emit(
                EventKind.PROTOCOL_ERROR, code=int(SdkCode.PROTOCOL_VIOLATION), detail="invite without callID/sdp"
            )
            return
        dialog = DialogParams(
            call_id=call_id,
            destination_number=str(params.get("callee_id_number", "")),
            remote_caller_id_name=str(params.get("caller_id_name", "")),
            remote_caller_id_number=str(params.get("caller_id_number", "")),
            caller_id_name=str(params.get("callee_id_name", "")),
            caller_id_number=str(params.get("callee_id_number", "")),
            custom_headers=custom_headers_of(params),
            trickle_ice=self.config.trickle_ice,
        )
        dialog.telnyx.update_from_server(params)
        call = Call(self, call_id, Direction.INBOUND, dialog, None)
        call.remote_offer = params["sdp"]
        call.inbound_params = {k: v for k, v in params.items() if k != "sdp"}
        call.machine.to(CallState.RINGING, "telnyx_rtc.invite")
        call.timings.inbound_invite = self.events.emit(EventKind.INBOUND_INVITE, call_id=call_id).t
        self.calls[call_id] = call
        spawn = self.session.spawn
        spawn(self.session.send(messages.ack(request)), "ack")
        if self.inbound_policy is InboundPolicy.ANSWER:
            spawn(self.answer(call), "auto-answer")
        elif self.inbound_policy is InboundPolicy.REJECT:
            spawn(self.hangup(call), "auto-reject")
        else:
            self.incoming.put_nowait(call)

    async def next_incoming(self, timeout: float) -> Call:
        return await asyncio.wait_for(self.incoming.get(), timeout)

    async def answer(self, call: Call) -> None:
        """Answer an inbound call: SDP answer from the media, `telnyx_rtc.answer`, active on the result."""
        if call.direction is not Direction.INBOUND or call.state is not CallState.RINGING:
            raise SignalingError(
                int(SdkCode.PROTOCOL_VIOLATION),
                f"cannot answer a call in state {call.state}",
                client=self.label,
                call_id=call.id,
            )
        session = self.session
        async with call.media_lock:
            call.media = self.media_factory()
            try:
                sdp = await call.media.accept_offer(call.remote_offer or "")
            except Exception as exc:
                call.error = f"answer SDP failed: {exc}"
                await self.hangup_locked(call, USER_BUSY)
                raise SignalingError(
                    int(SdkCode.SDP_SEND_FAILED), call.error, client=self.label, call_id=call.id
                ) from exc
            candidates: list[str] = []
            if self.config.trickle_ice:
                sdp, candidates = trickle_sdp(sdp)
            await session.wait_signaling(call.id)
            assert session.sessid is not None
            call.machine.to(CallState.ANSWERING, "answer sent")
            call.timings.answer_sent = self.events.emit(EventKind.ANSWER_SENT, call_id=call.id).t
            request = messages.answer(
                sessid=session.sessid,
                sdp=sdp,
                dialog=call.dialog,
                trickle=self.config.trickle_ice,
                user_agent=self.config.user_agent,
            )
        try:
            await session.request(request, call_id=call.id)
        except SignalingError as exc:
            call.error = str(exc)
            # The SDK raises SDP_SEND_FAILED and sends a bye USER_BUSY.
            await self.hangup(call, "USER_BUSY")
            raise
        if self.config.trickle_ice:
            session.spawn(self._send_candidates(call, candidates), "trickle")
        if not call.ended:
            call.timings.answered = time.monotonic()
            call.machine.to(CallState.ACTIVE, "answer result")
            self._established(call)

    # ================================================================ call actions

    async def hangup(self, call: Call, cause: str | None = None) -> None:
        """Send a bye (NORMAL_CLEARING after answer, USER_BUSY before) and end the call."""
        if call.ended:
            return
        async with call.media_lock:
            await self.hangup_locked(call, cause_by_name(cause) if cause else None)

    async def hangup_locked(self, call: Call, cause: HangupCause | None) -> None:
        """hangup() for a caller that already holds the call's media lock."""
        if call.ended:
            return
        if cause is None:
            cause = NORMAL_CLEARING if call.machine.was_answered else USER_BUSY
        call.timings.bye_sent = self.events.emit(EventKind.BYE_SENT, call_id=call.id, cause=cause.name).t
        session = self.session
        try:
            await session.wait_signaling(call.id)
            assert session.sessid is not None
            await session.request(
                messages.bye(sessid=session.sessid, dialog=call.dialog, cause=cause),
                call_id=call.id,
                timeout=min(self.config.critical_timeout_s, self.config.bye_guard_s * 2),
            )
            call.timings.bye_result = self.events.emit(EventKind.BYE_RESULT, call_id=call.id).t
        except SignalingError as exc:
            call.error = f"bye failed: {exc}"
            log.info("[%s][call %s] %s", self.label, call.id, call.error)
        await self.finish(call, cause, EndedBy.LOCAL)

    async def hangup_all(self, timeout: float) -> None:
        """close(): a bye for every live call, in parallel, bounded by `timeout`."""
        live = [c for c in self.calls.values() if not c.ended]
        if live:
            await asyncio.wait([asyncio.create_task(self._safe_hangup(c)) for c in live], timeout=timeout)

    async def _safe_hangup(self, call: Call) -> None:
        try:
            await self.hangup(call)
        except Exception as exc:  # report, never raise out of close()
            log.warning("[%s][call %s] hangup during close failed: %s", self.label, call.id, exc)

    async def hold(self, call: Call, held: bool) -> None:
        session = self.session
        await session.wait_signaling(call.id)
        assert session.sessid is not None
        action = ModifyAction.HOLD if held else ModifyAction.UNHOLD
        result = await session.request(
            messages.modify(sessid=session.sessid, action=action, dialog=call.dialog), call_id=call.id
        )
        hold_state = result.get("holdState") if isinstance(result, dict) else None
        now_held = hold_state != "active"
        now = time.monotonic()
        if now_held and call.held_since is None:
            call.holds += 1
            call.held_since = now
        elif not now_held and call.held_since is not None:
            call.held_s += now - call.held_since
            call.held_since = None
            call.last_media_update = now  # the platform resumes media now: the watchdog counts from here
        if call.media is not None:
            call.media.set_hold(now_held)
        call.machine.to(CallState.HELD if now_held else CallState.ACTIVE, f"modify {action} result")
        self.events.emit(EventKind.HELD if now_held else EventKind.UNHELD, call_id=call.id)

    async def update_media(self, call: Call) -> None:
        """ICE restart (`modify` action updateMedia): a fresh offer, the platform's answer in the result.

        The SDK restarts ICE on its existing peer; aiortc has no restartIce, so the call's media is
        rebuilt (new peer, new ICE credentials) - on the wire the exchange is the same.
        """
        session = self.session
        await session.wait_signaling(call.id)
        assert session.sessid is not None
        async with call.media_lock:
            if call.ended:  # ended while this waited (signaling, the lock): a new peer would never be closed
                return
            old, call.media = call.media, self.media_factory()
            last_rtp = last_rtp_of(old)
            try:
                offer = await call.media.create_offer()
                if self.config.trickle_ice:
                    offer, _candidates = split_candidates(offer)
                result = await session.request(
                    messages.update_media(sessid=session.sessid, sdp=offer, dialog=call.dialog), call_id=call.id
                )
                sdp = result.get("sdp") if isinstance(result, dict) else None
                if not isinstance(sdp, str) or not sdp:
                    raise SignalingError(
                        int(SdkCode.ICE_RESTART_FAILED),
                        "updateMedia result has no sdp",
                        client=self.label,
                        call_id=call.id,
                    )
                await call.media.accept_answer(sdp)
            except BaseException:
                failed, call.media = call.media, old
                if failed is not None:
                    session.spawn(failed.close(), "failed-media-close")
                raise
        if old is not None:
            call.replaced_media.append(old)  # its samples are part of the call's rating
            session.spawn(old.close(), "old-media-close")
        call.media_restarts += 1
        call.notify()
        self.events.emit(EventKind.MEDIA_UPDATED, call_id=call.id)
        if call.media is not None:
            for observer in self.observers:
                observer.media_rebuilt(call, last_rtp, call.media)

    async def send_dtmf(self, call: Call, digits: str) -> None:
        """One `telnyx_rtc.info` per digit, as the SDK sends one per key press (and, when the call's media
        can, the digit in-band as RFC 4733 telephone-events)."""
        session = self.session
        await session.wait_signaling(call.id)
        assert session.sessid is not None
        media = call.media
        for digit in digits:
            if isinstance(media, InbandDtmf):  # media that can also send RFC 4733 events in RTP
                media.send_dtmf(digit)
            await session.request(
                messages.info_dtmf(sessid=session.sessid, dtmf=digit, dialog=call.dialog), call_id=call.id
            )
            self.events.emit(EventKind.DTMF_SENT, call_id=call.id, digit=digit)

    # ================================================================ the end of a call

    async def finish(self, call: Call, cause: HangupCause, ended_by: EndedBy) -> None:
        """End a call locally: record the cause, move to hangup/destroy, close its media."""
        if call.ended:
            return
        call.cause = call.cause or cause.name
        call.cause_code = call.cause_code if call.cause_code is not None else cause.code
        call.ended_by = call.ended_by or ended_by
        target = CallState.PURGE if ended_by is EndedBy.PURGED else CallState.HANGUP
        if call.machine.can(target):
            call.machine.to(target, f"ended ({ended_by})")
        if call.machine.can(CallState.DESTROY):
            call.machine.to(CallState.DESTROY, "finalized")
        call.timings.ended = self.events.emit(
            EventKind.CALL_ENDED, call_id=call.id, cause=call.cause, cause_code=call.cause_code, by=str(call.ended_by)
        ).t
        call.mark_ended()
        self.calls.pop(call.id, None)
        media, call.media = call.media, None
        call.earlier_media_reports = await _replaced_reports(call, self.label)
        if media is not None:
            try:
                call.media_report = await media.close()
            except Exception as exc:
                log.warning("[%s][call %s] media close failed: %s", self.label, call.id, exc)
            call.media = media

    async def purge(self) -> None:
        """The session is over (close, punt, reconnect exhausted): every call ends without a bye."""
        for call in list(self.calls.values()):
            await self.finish(call, PURGE, EndedBy.PURGED)


async def _replaced_reports(call: Call, label: str) -> list[object]:
    """The reports of the media a rebuild replaced (their close is idempotent: already under way, or
    done), oldest first; the call lets go of those media objects here."""
    replaced, call.replaced_media = call.replaced_media, []
    reports: list[object] = []
    for old in replaced:
        try:
            reports.append(await asyncio.wait_for(old.close(), REPLACED_CLOSE_WAIT_S))
        except Exception as exc:  # that part of the call goes unrated; the rest still counts
            log.warning("[%s][call %s] replaced media close failed: %r", label, call.id, exc)
    return reports


async def _sent(sent: asyncio.Event, request: asyncio.Future[Any]) -> bool:
    """Wait until `request`'s frame is on the socket (True) or the request ended without sending (False)."""
    waiter = asyncio.ensure_future(sent.wait())
    try:
        await asyncio.wait([waiter, request], return_when=asyncio.FIRST_COMPLETED)
    finally:
        waiter.cancel()
    return sent.is_set()
