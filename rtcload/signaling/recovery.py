"""Call recovery: keep calls alive across faults, and measure what the user lost.

- reattach: after a reconnect the platform re-offers each kept call (`telnyx_rtc.attach`); the
  call's media is rebuilt and answered; calls the platform did not keep end (SESSION_NOT_REATTACHED);
- the media watchdog: an active call silent for `media_timeout_s` while signaling is up gets an ICE
  restart (the SDK's "no RTP" recovery);
- media gap: last RTP before the fault -> first RTP on the recovered media (design.md).

It drives call control (hang up, update media) and is told by it when media starts or is rebuilt.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from rtcload.protocol import messages
from rtcload.protocol.call_state import CallState
from rtcload.protocol.codes import USER_BUSY, HangupCause, SdkCode
from rtcload.protocol.jsonrpc import Request
from rtcload.signaling.call import Call, EndedBy
from rtcload.signaling.call_control import CallControl
from rtcload.signaling.errors import ConnectionLost, SignalingError
from rtcload.signaling.events import EventKind
from rtcload.signaling.media_port import MediaPort, RtpTimed, last_rtp_of

log = logging.getLogger("rtcload.signaling")

SESSION_NOT_REATTACHED = HangupCause("SESSION_NOT_REATTACHED", int(SdkCode.SESSION_NOT_REATTACHED))
MEDIA_GAP_TIMEOUT_S = 30.0


class CallRecovery:
    """Reattach, media watchdog and gap measurement for the calls of one `CallControl`."""

    def __init__(self, control: CallControl) -> None:
        self.control = control
        self.session = control.session
        self.config = control.config
        self.label = control.label
        self.events = control.events
        control.observers.append(self)

    # ================================================================ after a reconnect

    def on_client_ready(self, reattached: list[str]) -> None:
        """clientReady: live calls the platform did not keep are over (the SDK's SESSION_NOT_REATTACHED)."""
        live = [c for c in self.control.calls.values() if not c.ended]
        if live and not any(c.id in reattached for c in live):
            for call in live:
                self.events.emit(
                    EventKind.SESSION_NOT_REATTACHED, call_id=call.id, code=int(SdkCode.SESSION_NOT_REATTACHED)
                )
                self.session.spawn(self.control.finish(call, SESSION_NOT_REATTACHED, EndedBy.NOT_REATTACHED), "drop")

    def on_attach(self, request: Request) -> None:
        """`telnyx_rtc.attach` from the platform: acknowledge, and rebuild the call it names."""
        call_id = request.params.get("callID")
        call = self.control.calls.get(call_id) if isinstance(call_id, str) else None
        spawn = self.session.spawn
        if call is None or call.ended:
            if self.control.calls:
                self.events.emit(
                    EventKind.PROTOCOL_ERROR, call_id=call_id, code=int(SdkCode.UNKNOWN_REATTACHED_SESSION)
                )
            spawn(self.session.send(messages.ack(request)), "ack")
            return
        spawn(self.session.send(messages.ack(request)), "ack")
        spawn(self._reattach(call, request.params), "reattach")

    async def _reattach(self, call: Call, params: dict[str, Any]) -> None:
        """Rebuild the call's media from the platform's fresh offer and answer with `telnyx_rtc.attach`."""
        control, session = self.control, self.session
        was_held = call.state is CallState.HELD
        async with call.media_lock:
            if call.ended:  # ended while this waited for the lock: new media now would never be closed
                return
            if call.machine.can(CallState.RECOVERING):
                call.machine.to(CallState.RECOVERING, "telnyx_rtc.attach")
            old, call.media = call.media, control.media_factory()
            last_rtp = last_rtp_of(old)
            if old is not None:
                call.replaced_media.append(old)  # its samples are part of the call's rating
                session.spawn(old.close(), "old-media-close")
            try:
                sdp = await call.media.accept_offer(str(params.get("sdp", "")))
            except Exception as exc:
                call.error = f"reattach SDP failed: {exc}"
                await control.hangup_locked(call, USER_BUSY)
                return
            call.dialog.attach = True
            call.dialog.telnyx.update_from_server(params)
            assert session.sessid is not None
            request = messages.answer(
                sessid=session.sessid, sdp=sdp, dialog=call.dialog, user_agent=self.config.user_agent
            )
        try:
            await session.request(request, call_id=call.id)
        except ConnectionLost as exc:
            # The socket went again mid-attach (a second fault): no answer from the platform, so no reason
            # to end the call. As the SDK keeps its calls across a socket loss, this one stays recovering;
            # the next clientReady keeps it (and re-offers it with a new attach) or drops it (48501).
            log.info("[%s][call %s] attach answer not delivered (%s): waiting for the next reattach", self.label,
                     call.id, exc)  # fmt: skip
            return
        except SignalingError as exc:
            call.error = str(exc)
            await control.hangup(call, "USER_BUSY")
            return
        if call.media is not None:
            call.media.set_hold(was_held)
        call.machine.to(CallState.HELD if was_held else CallState.ACTIVE, "attach result")
        call.reattach_count += 1
        call.notify()
        self.events.emit(EventKind.CALL_REATTACHED, call_id=call.id)
        if call.media is not None:
            self.media_rebuilt(call, last_rtp, call.media)

    # ================================================================ CallObserver

    def media_rebuilt(self, call: Call, last_rtp: float | None, media: MediaPort) -> None:
        """Reattach or ICE restart done: time the gap from the old media's last packet.

        A second fault before the rebuilt media got RTP rebuilds it again: the gap still runs from the
        last packet before the first fault (`gap_open_since`), and the newer media measures it."""
        if last_rtp is not None:
            call.rtp_before_recovery = True
        start = last_rtp if last_rtp is not None else call.gap_open_since
        if start is not None:
            call.gap_open_since = start
            self.session.spawn(self._measure_media_gap(call, start, media), "media-gap")

    def call_established(self, call: Call) -> None:
        """A call became active: start its media watchdog (once) when `media_timeout_s` is set."""
        if self.config.media_timeout_s and not call.watchdog_started:
            call.watchdog_started = True
            self.session.spawn(self._media_watchdog(call, self.config.media_timeout_s), "media-watchdog")

    # ================================================================ media

    async def _measure_media_gap(
        self, call: Call, last_rtp: float, media: Any, timeout: float = MEDIA_GAP_TIMEOUT_S
    ) -> None:
        """design.md media_gap: last RTP before the fault -> first RTP on the recovered media.

        No verdict when the call ends, or its media is rebuilt again, before that media's first RTP:
        the gap was cut short by the call's own end (or is measured by the newer media), which is not
        "no media after recovery" (the soak of issue 22 blamed 4 such calls on the platform)."""
        if not isinstance(media, RtpTimed):
            return
        rtp = asyncio.ensure_future(media.wait_first_rtp(timeout))
        moved_on = asyncio.ensure_future(call.wait_until(lambda c: c.ended or c.media is not media, timeout))
        try:
            await asyncio.wait((rtp, moved_on), return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (rtp, moved_on):
                task.cancel()
        first = rtp.result() if rtp.done() and not rtp.cancelled() else None
        if first is None and moved_on.done() and not moved_on.cancelled() and moved_on.result():
            return  # cut short: the call ended or was rebuilt again first
        if call.gap_open_since == last_rtp:
            call.gap_open_since = None
        gap = None if first is None else max(0.0, first - last_rtp)
        call.media_gaps.append(gap)
        call.notify()
        self.events.emit(EventKind.MEDIA_GAP, call_id=call.id, gap_s=gap)

    async def _media_watchdog(self, call: Call, timeout: float) -> None:
        """The SDK's "no RTP" recovery: media silent for `timeout` while signaling is up -> ICE restart."""
        while not call.ended:
            await asyncio.sleep(timeout / 4)
            if call.state is not CallState.ACTIVE or not self.session.ready or call.media is None:
                continue
            last_rtp = last_rtp_of(call.media)
            reference = max(t for t in (last_rtp, call.timings.answered, call.last_media_update, 0.0) if t is not None)
            if time.monotonic() - reference < timeout:
                continue
            self.events.emit(EventKind.MEDIA_TIMEOUT, call_id=call.id, silent_s=time.monotonic() - reference)
            call.last_media_update = time.monotonic()
            try:
                await self.control.update_media(call)
            except SignalingError as exc:
                log.warning("[%s][call %s] ICE restart after media timeout failed: %s", self.label, call.id, exc)
