"""Runtime control of a running emulator from another process (soak schedules, CI, the CLI).

A JSON-RPC method `rtcload.control` on the emulator's own WebSocket, enabled only when the
emulator has a control token; the token is compared in constant time and never logged. One
connection, no login: the token is the authorisation.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import random
from collections import Counter
from collections.abc import Coroutine
from typing import Any, Protocol

from websockets.asyncio.client import connect

from rtcload.emulator.faults import Faults
from rtcload.emulator.session import Leg, Session
from rtcload.media.answerer import MediaAnswerer

CONTROL_METHOD = "rtcload.control"
ACTIONS = ("snapshot", "drop", "half_open", "faults", "clear_faults", "restart", "hangup_all", "impair")


class ControlError(Exception):
    pass


class Controlled(Protocol):
    """What the control actions reach in an emulator (`server.Emulator` is the one that exists).

    Declared here, by the caller, so the control room does not import the server that imports it.
    """

    sessions: dict[str, Session]
    legs: dict[str, Leg]
    counters: Counter[str]
    faults: Faults
    answerer: MediaAnswerer

    def snapshot(self) -> dict[str, Any]: ...

    def drop_socket(self, sessid: str) -> bool: ...

    def set_half_open(self, sessid: str, half_open: bool = True) -> bool: ...

    async def restart(self, keep_sessions: bool = True, down_s: float = 0.0) -> None: ...

    async def hangup(self, call_id: str, cause: str = "NORMAL_CLEARING") -> bool: ...

    def spawn(self, coro: Coroutine[Any, Any, Any], name: str) -> asyncio.Task[Any]: ...


def token_ok(expected: str | None, given: Any) -> bool:
    return bool(expected) and isinstance(given, str) and hmac.compare_digest(expected.encode(), given.encode())


async def apply(emulator: Controlled, params: dict[str, Any], rng: random.Random) -> dict[str, Any]:
    """Carry out one control action; returns a small JSON-able result."""
    action = params.get("action")
    if action == "snapshot":
        return emulator.snapshot()
    if action == "drop":
        share = float(params.get("share", 1.0))
        sessids = [s.sessid for s in emulator.sessions.values() if s.connected and rng.random() < share]
        dropped = sum(1 for sessid in sessids if emulator.drop_socket(sessid))
        emulator.counters["fault_drops"] += dropped
        return {"dropped": dropped}
    if action == "half_open":
        share = float(params.get("share", 1.0))
        sessids = [s.sessid for s in emulator.sessions.values() if s.connected and rng.random() < share]
        return {"half_open": sum(1 for sessid in sessids if emulator.set_half_open(sessid))}
    if action == "faults":
        changes = params.get("set")
        if not isinstance(changes, dict):
            raise ControlError("faults needs set: {name: value}")
        emulator.faults.update(**changes)
        return {"faults": changes}
    if action == "clear_faults":
        emulator.faults.clear()
        return {"faults": {}}
    if action == "restart":
        # after the reply: a restart drops every socket, this control connection included
        keep = bool(params.get("keep_sessions", True))
        emulator.spawn(emulator.restart(keep_sessions=keep, down_s=float(params.get("down_s", 0.0))), "restart")
        return {"restarting": True, "keep_sessions": keep}
    if action == "hangup_all":
        ended = 0
        for leg in [leg for leg in emulator.legs.values() if not leg.ended and leg.direction == "outbound"]:
            ended += await emulator.hangup(leg.call_id, str(params.get("cause", "NORMAL_CLEARING")))
        return {"hung_up": ended}
    if action == "impair":
        set_profiles = getattr(emulator.answerer, "set_profiles", None)
        if set_profiles is None:
            raise ControlError("impair needs an emulator started with media impairment (--impair-up/--impair-down)")
        from rtcload.netem.impairment import parse_impairment

        up, down = params.get("up"), params.get("down")
        set_profiles(parse_impairment(str(up)) if up else None, parse_impairment(str(down)) if down else None)
        return {"impair": {"up": up, "down": down}}
    raise ControlError(f"unknown action {action!r}; known: {', '.join(ACTIONS)}")


async def send_control(url: str, token: str, action: str, timeout: float = 10.0, **params: Any) -> dict[str, Any]:
    """Client side: one control request to an emulator at `url`; raises ControlError on refusal."""
    async with connect(url, open_timeout=timeout, ping_interval=None) as ws:
        request = {
            "jsonrpc": "2.0",
            "id": "ctl",
            "method": CONTROL_METHOD,
            "params": {"token": token, "action": action, **params},
        }
        await ws.send(json.dumps(request))
        reply = json.loads(await ws.recv())
    if "error" in reply:
        raise ControlError(f"{reply['error'].get('code')} {reply['error'].get('message')}")
    return reply.get("result", {})
