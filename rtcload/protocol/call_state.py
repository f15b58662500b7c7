"""The call state machine, with the official SDK's state names.

Illegal transitions raise `IllegalTransition` so a misbehaving peer (or a bug) is reported with
the call, the states and the trigger, instead of silently corrupting timings.
"""

from __future__ import annotations

from collections.abc import Callable
from enum import StrEnum


class CallState(StrEnum):
    NEW = "new"
    REQUESTING = "requesting"
    TRYING = "trying"
    RECOVERING = "recovering"
    RINGING = "ringing"
    ANSWERING = "answering"
    EARLY = "early"
    ACTIVE = "active"
    HELD = "held"
    HANGUP = "hangup"
    DESTROY = "destroy"
    PURGE = "purge"


S = CallState
_ENDING = {S.HANGUP, S.DESTROY, S.PURGE}

LEGAL_TRANSITIONS: dict[CallState, frozenset[CallState]] = {
    S.NEW: frozenset({S.REQUESTING, S.RINGING, S.RECOVERING} | _ENDING),
    S.REQUESTING: frozenset({S.TRYING} | _ENDING),
    # Outbound after the invite result: ringing, early media, or a straight answer.
    S.TRYING: frozenset({S.RINGING, S.EARLY, S.ACTIVE} | _ENDING),
    # Inbound ringing goes to answering; outbound ringing to early or active.
    S.RINGING: frozenset({S.ANSWERING, S.EARLY, S.ACTIVE} | _ENDING),
    S.ANSWERING: frozenset({S.ACTIVE} | _ENDING),
    S.EARLY: frozenset({S.ACTIVE} | _ENDING),
    S.ACTIVE: frozenset({S.HELD, S.RECOVERING} | _ENDING),
    S.HELD: frozenset({S.ACTIVE, S.RECOVERING} | _ENDING),
    S.RECOVERING: frozenset({S.ACTIVE, S.HELD} | _ENDING),
    S.HANGUP: frozenset({S.DESTROY}),
    S.PURGE: frozenset({S.DESTROY}),
    S.DESTROY: frozenset(),
}

ESTABLISHED_STATES = frozenset({S.ACTIVE, S.HELD})
TERMINAL_STATES = frozenset({S.HANGUP, S.DESTROY, S.PURGE})


class IllegalTransition(Exception):
    def __init__(self, call_id: str, current: CallState, target: CallState, trigger: str) -> None:
        super().__init__(f"call {call_id}: illegal transition {current.value} -> {target.value} (on {trigger})")
        self.call_id = call_id
        self.current = current
        self.target = target
        self.trigger = trigger


class CallStateMachine:
    """Tracks one call's state; optionally reports each change to `on_change(old, new, trigger)`."""

    def __init__(
        self,
        call_id: str,
        initial: CallState = CallState.NEW,
        on_change: Callable[[CallState, CallState, str], None] | None = None,
    ) -> None:
        self.call_id = call_id
        self.state = initial
        self.history: list[tuple[CallState, str]] = [(initial, "created")]
        self._on_change = on_change

    def can(self, target: CallState) -> bool:
        return target in LEGAL_TRANSITIONS[self.state]

    def to(self, target: CallState, trigger: str) -> None:
        if target == self.state and target in ESTABLISHED_STATES:
            return  # hold while held / active while active: idempotent, as in the SDK
        if not self.can(target):
            raise IllegalTransition(self.call_id, self.state, target, trigger)
        old = self.state
        self.state = target
        self.history.append((target, trigger))
        if self._on_change is not None:
            self._on_change(old, target, trigger)

    @property
    def ended(self) -> bool:
        return self.state in TERMINAL_STATES

    @property
    def established(self) -> bool:
        return self.state in ESTABLISHED_STATES

    @property
    def was_answered(self) -> bool:
        return any(state in ESTABLISHED_STATES for state, _ in self.history)
