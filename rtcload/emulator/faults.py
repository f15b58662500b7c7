"""Fault knobs, changeable while the emulator runs (tests, soak runs and the CLI set them)."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Faults:
    drop_after_s: float | None = None  # abort every new socket this long after it opens
    half_open: bool = False  # stop sending anything (and answering pings) on every socket
    ignore_pings: bool = False  # answer everything but telnyx_rtc.ping
    gateway_state: str | None = None  # answer gatewayState with this (NOREG, FAILED, ...) ...
    gateway_state_count: int | None = None  # ... this many times (None = until cleared)
    login_reject_ratio: float = 0.0  # share of logins refused with -32001
    method_delay_s: dict[str, float] = field(default_factory=dict)  # method -> added delay
    forget_sessions: bool = False  # a reconnecting client finds its session gone (48501)

    def delay_for(self, method: str) -> float:
        return self.method_delay_s.get(method, self.method_delay_s.get("*", 0.0))

    def take_gateway_state(self) -> str | None:
        """The faulty gateway state to answer now, consuming one use of a counted fault."""
        if self.gateway_state is None:
            return None
        if self.gateway_state_count is not None:
            if self.gateway_state_count <= 0:
                self.gateway_state = None
                return None
            self.gateway_state_count -= 1
        return self.gateway_state

    def clear(self) -> None:
        fresh = Faults()
        self.__dict__.update(fresh.__dict__)

    def update(self, **changes: object) -> None:
        for key, value in changes.items():
            if not hasattr(self, key):
                raise ValueError(f"unknown fault {key!r}")
            setattr(self, key, value)
