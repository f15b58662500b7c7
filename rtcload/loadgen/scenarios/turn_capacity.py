"""turn_capacity: every call relayed through TURN while concurrent relayed calls step up, to find a
TURN deployment's knee (allocation time and failures, media quality through the relay).

Needs `--rtc-ice-servers turn:USER:PASS@HOST:PORT?transport=udp`; relay-only is forced. Steps as in
`capacity` (RTCLOAD_STEP_USERS, RTCLOAD_STEP_SECONDS, RTCLOAD_MAX_USERS).
"""

from __future__ import annotations

from typing import Any

from locust import events
from locust.env import Environment
from locust.runners import MasterRunner

from rtcload.loadgen.scenarios.capacity import StepShape as TurnStepShape
from rtcload.loadgen.user import CallerUser

__all__ = ["TurnCaller", "TurnStepShape"]


@events.init.add_listener
def _require_turn(environment: Environment, **_kw: Any) -> None:
    if isinstance(environment.runner, MasterRunner) or environment.parsed_options is None:
        return
    servers = str(getattr(environment.parsed_options, "rtc_ice_servers", "") or "")
    if not any(part.strip().startswith(("turn:", "turns:")) for part in servers.split(",")):
        raise ValueError("turn_capacity needs --rtc-ice-servers turn:USER:PASS@HOST:PORT (RTCLOAD_ICE_SERVERS)")
    environment.parsed_options.rtc_relay_only = True


class TurnCaller(CallerUser):
    pass
