"""One call as the client sees it: state, dialog, timings, media, and how it ended."""

from __future__ import annotations

import asyncio
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Protocol

from rtcload.protocol.call_state import CallState, CallStateMachine
from rtcload.protocol.dialog import DialogParams
from rtcload.protocol.redact import redact_text
from rtcload.signaling.errors import CallFailed
from rtcload.signaling.media_port import MediaPort


class CallOwner(Protocol):
    """Who carries out a call's actions (`call_control.CallControl`); a call knows no more of it."""

    label: str

    async def hangup(self, call: Call, cause: str | None = None) -> None: ...

    async def hold(self, call: Call, held: bool) -> None: ...

    async def send_dtmf(self, call: Call, digits: str) -> None: ...

    async def answer(self, call: Call) -> None: ...

    async def update_media(self, call: Call) -> None: ...


class Direction(StrEnum):
    OUTBOUND = "outbound"
    INBOUND = "inbound"


class EndedBy(StrEnum):
    LOCAL = "local"  # we sent the bye
    REMOTE = "remote"  # the platform sent the bye
    NOT_REATTACHED = "not_reattached"  # socket came back, the platform had lost the call
    PURGED = "purged"  # punt, reconnect exhausted, or client closed without a bye
    FAILED = "failed"  # setup failed locally (SDP, server error)


@dataclass
class CallTimings:
    """Monotonic timestamps; None until the step happens."""

    invite_sent: float | None = None
    invite_result: float | None = None
    ringing: float | None = None
    early_media: float | None = None
    answered: float | None = None  # answer frame received (outbound) / answer result (inbound)
    remote_sdp_applied: float | None = None
    inbound_invite: float | None = None
    answer_sent: float | None = None
    bye_sent: float | None = None
    bye_result: float | None = None
    ended: float | None = None

    @property
    def post_dial_delay(self) -> float | None:
        """invite sent -> first of ringing or early media (design.md)."""
        firsts = [t for t in (self.ringing, self.early_media) if t is not None]
        if self.invite_sent is None or not firsts:
            return None
        return min(firsts) - self.invite_sent

    @property
    def answer_delay(self) -> float | None:
        """invite sent -> answer received (call setup)."""
        if self.invite_sent is None or self.answered is None:
            return None
        return self.answered - self.invite_sent

    @property
    def inbound_answer_delay(self) -> float | None:
        """answer sent -> result (inbound leg becomes active)."""
        if self.answer_sent is None or self.answered is None:
            return None
        return self.answered - self.answer_sent

    @property
    def hangup_delay(self) -> float | None:
        if self.bye_sent is None or self.bye_result is None:
            return None
        return self.bye_result - self.bye_sent


class Call:
    """A call leg of one client. Use the methods; the client drives the state from frames."""

    def __init__(
        self,
        client: CallOwner,
        call_id: str,
        direction: Direction,
        dialog: DialogParams,
        media: MediaPort | None,
        on_state: Callable[[Call, CallState, CallState, str], None] | None = None,
    ) -> None:
        self.client = client
        self.id = call_id
        self.direction = direction
        self.dialog = dialog
        self.media = media
        self.timings = CallTimings()
        self.cause: str | None = None
        self.cause_code: int | None = None
        self.sip_code: int | None = None
        self.sip_reason: str | None = None
        self.ended_by: EndedBy | None = None
        self.error: str | None = None
        self.remote_offer: str | None = None
        self.inbound_params: dict[str, Any] = {}
        self.reattach_count = 0
        self.media_restarts = 0
        self.watchdog_started = False
        self.last_media_update: float | None = None
        self.media_gaps: list[float | None] = []  # per recovery: seconds without RTP (None = never resumed)
        self.gap_open_since: float | None = None  # last RTP before a fault whose gap is still being measured
        self.rtp_before_recovery = False  # a media object this call replaced had received RTP
        self.socket_losses: list[tuple[float, bool]] = []  # (wall time, answered by then) per signaling loss
        self.holds = 0  # times the platform confirmed a hold
        self.held_since: float | None = None  # monotonic, while held
        self.held_s = 0.0  # time on hold so far, not counting the current hold
        self.media_report: object | None = None
        # The media objects a rebuild (reattach, ICE restart) replaced, in order: each measured part of
        # the call's media, so the call is rated over all of them (`earlier_media_reports`, at its end).
        self.replaced_media: list[Any] = []
        self.earlier_media_reports: list[object] = []
        self.media_lock = asyncio.Lock()
        self._changed = asyncio.Event()
        self._ended = asyncio.Event()
        self._on_state = on_state
        self.machine = CallStateMachine(call_id, on_change=_weak_on_change(self))

    def held_total_s(self, now: float | None = None) -> float:
        """Seconds this call spent on hold (the current hold up to `now` included)."""
        current = 0.0 if self.held_since is None else (time.monotonic() if now is None else now) - self.held_since
        return self.held_s + current

    # ------------------------------------------------------------ state

    @property
    def state(self) -> CallState:
        return self.machine.state

    @property
    def ended(self) -> bool:
        return self._ended.is_set()

    def _state_changed(self, old: CallState, new: CallState, trigger: str) -> None:
        self._changed.set()
        if self._on_state is not None:
            self._on_state(self, old, new, trigger)

    def notify(self) -> None:
        """Something other than the state changed (reattach, media rebuilt): wake wait_until()."""
        self._changed.set()

    def mark_ended(self) -> None:
        self._ended.set()
        self._changed.set()

    async def wait_until(self, predicate: Callable[[Call], bool], timeout: float) -> bool:
        """Wait for a condition on this call; returns False on timeout."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not predicate(self):
            remaining = deadline - loop.time()
            if remaining <= 0:
                return False
            self._changed.clear()
            if predicate(self):
                return True
            try:
                await asyncio.wait_for(self._changed.wait(), remaining)
            except TimeoutError:
                return predicate(self)
        return True

    async def wait_established(self, timeout: float) -> None:
        """Until active/held; raises CallFailed if the call ended first, TimeoutError otherwise."""
        # a call error (SDP rejected, invite refused) ends the wait at once: the bye may take a while
        ok = await self.wait_until(lambda c: c.machine.established or c.ended or c.error is not None, timeout)
        failed = self.error is not None and not self.machine.established
        if self.ended or self.machine.ended or failed:
            raise CallFailed(
                self.cause or ("failed" if failed else "UNKNOWN"),
                self.cause_code or 0,
                client=self.client.label,
                call_id=self.id,
                ended_by=str(self.ended_by) if self.ended_by is not None else None,
                reason=redact_text(self.error)[:300] if self.error else None,
            )
        if not ok:
            raise TimeoutError(
                f"[{self.client.label}][call {self.id}] not answered within {timeout:g} s "
                f"(call state {self.state.value})"
            )

    async def wait_ended(self, timeout: float) -> bool:
        try:
            await asyncio.wait_for(self._ended.wait(), timeout)
        except TimeoutError:
            return False
        return True

    # ------------------------------------------------------------ actions (carried out by the owner)

    async def hangup(self, cause: str | None = None) -> None:
        await self.client.hangup(self, cause)

    async def hold(self) -> None:
        await self.client.hold(self, True)

    async def unhold(self) -> None:
        await self.client.hold(self, False)

    async def dtmf(self, digits: str) -> None:
        await self.client.send_dtmf(self, digits)

    async def answer(self) -> None:
        await self.client.answer(self)

    async def update_media(self) -> None:
        await self.client.update_media(self)

    async def reject(self) -> None:
        await self.client.hangup(self, "USER_BUSY")

    def __repr__(self) -> str:
        return f"<Call {self.id} {self.direction} {self.state}>"


def _weak_on_change(call: Call) -> Callable[[CallState, CallState, str], None]:
    """The machine reports to its call through a weak reference: a bound method would make the pair a
    reference cycle, which only a full garbage collection frees (rtcload/media/teardown.py says why)."""
    ref = weakref.ref(call)

    def on_change(old: CallState, new: CallState, trigger: str) -> None:
        owner = ref()
        if owner is not None:
            owner._state_changed(old, new, trigger)

    return on_change
