"""Free a closed WebSocket by reference counting: cut the cycles websockets and asyncio leave when a socket dies.

When a connection ends without a closing handshake (a dropped socket, a restart: the soak's faults, or a
handshake cut short), websockets' parser catches `EOFError("unexpected end of stream")` and keeps it in
`protocol.parser_exc`. The exception's traceback holds the parser generator's frame, whose `self` is the
protocol: a cycle through the protocol, its stream reader and buffers, the last frame parsed, a logger
adapter. Every connection, closed cleanly or not, also keeps its last parser generator in `protocol.parser`
(`discard()`, suspended at its final `yield`, its frame holding the protocol): a cycle that a collection frees
only by finalizing the generator (so a `gc.DEBUG_SAVEALL` check of `gc.garbage` does not see it). asyncio's
closed socket transport keeps its bound `_read_ready_cb` (CPython 3.11): a second cycle through the transport
and its socket object. rtcload's media processes run without automatic full collections (media/heap.py), so
each dropped socket stayed for good: ~100 connections' worth per 5 minutes in both the generator and the
emulator of a 16-user reconnection soak (issue 22, named by a tracemalloc diff).

`install()` wraps websockets' asyncio `Connection.connection_lost` (every client and server connection, those
whose handshake never finished included): once asyncio has let go of the socket, the closed protocol's parser
generator is closed, the parser exception's frames are cleared (which finishes the suspended parser generator)
and its traceback dropped (the exception stays: `close_exc.__cause__` still says what happened), and the
transport's callback is unset. Idempotent; called where rtcload opens or serves WebSockets.
"""

from __future__ import annotations

import inspect
import traceback
from typing import Any

from websockets.asyncio.connection import Connection

_ORIGINAL = Connection.connection_lost


def _connection_lost(self: Connection, exc: Exception | None) -> None:
    try:
        _ORIGINAL(self, exc)
    finally:
        self.loop.call_soon(cut, self)  # after asyncio's own connection_lost: the transport has let go


def install() -> None:
    """Cut every websockets connection's cycles when it closes (see the module's docstring)."""
    Connection.connection_lost = _connection_lost  # type: ignore[method-assign]


def cut(ws: Any) -> None:
    """Cut the cycles of one closed connection (no-op for what is not there)."""
    transport = getattr(ws, "transport", None)
    if transport is not None and getattr(transport, "_sock", True) is None and hasattr(transport, "_read_ready_cb"):
        transport._read_ready_cb = None
    protocol = getattr(ws, "protocol", None)
    parser = getattr(protocol, "parser", None)
    if inspect.isgenerator(parser) and getattr(getattr(protocol, "state", None), "name", "") == "CLOSED":
        parser.close()  # the suspended discard()/parse() frame holds the protocol: closing it lets go
    exc = getattr(protocol, "parser_exc", None)
    if exc is None or exc.__traceback__ is None:
        return
    traceback.clear_frames(exc.__traceback__)
    exc.__traceback__ = None
