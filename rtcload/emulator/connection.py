"""One client socket on the emulator side: send (honouring the half-open fault) and abort.

The `session.Link` a `Session` holds: this module imports session, never the other way round.
"""

from __future__ import annotations

import contextlib
import itertools
import logging

from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed

from rtcload.emulator.faults import Faults
from rtcload.emulator.session import Session
from rtcload.protocol.jsonrpc import Frame, encode_frame

log = logging.getLogger("rtcload.emulator")
_conn_ids = itertools.count(1)


class Connection:
    def __init__(self, ws: ServerConnection, faults: Faults) -> None:
        self.ws = ws
        self.faults = faults
        self.id = next(_conn_ids)
        self.session: Session | None = None
        self.query: dict[str, str] = {}
        self.half_open = False  # this socket only (the global knob lives in Faults)
        self.frames_in = 0
        self.frames_out = 0
        self.auth_failures = 0  # failed logins and control tokens on this socket (throttled, then closed)
        self.control_ok = False
        self.closing = False  # proved the control token: exempt from the login deadline

    @property
    def silent(self) -> bool:
        return self.half_open or self.faults.half_open

    async def send(self, frame: Frame) -> bool:
        """Send a frame; False when it was not sent (socket gone, or the half-open fault eats it)."""
        if self.silent:
            return False
        try:
            await self.ws.send(encode_frame(frame))
        except ConnectionClosed:
            return False
        self.frames_out += 1
        return True

    async def send_raw(self, text: str) -> None:
        """Send text as it is, past the half-open fault: how tests play a hostile or buggy platform."""
        await self.ws.send(text)

    def abort(self) -> None:
        """Vanish like a dead network path: no close frame."""
        with contextlib.suppress(Exception):
            self.ws.transport.abort()

    async def close(self, code: int = 1000, reason: str = "") -> None:
        self.closing = True  # frames still buffered from this socket are not handled any more
        with contextlib.suppress(Exception):
            await self.ws.close(code, reason)

    def __repr__(self) -> str:
        who = self.session.identity.username if self.session else "-"
        return f"<Connection #{self.id} {who}>"
