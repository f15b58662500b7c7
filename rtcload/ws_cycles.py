"""Free a closed WebSocket by reference counting: cut the cycle websockets leaves when a socket dies.

When a connection ends without a closing handshake (a dropped socket, a restart: the soak's faults),
websockets' parser catches `EOFError("unexpected end of stream")` and keeps it in `protocol.parser_exc`.
The exception's traceback holds the parser generator's frame, whose `self` is the protocol: a cycle
through the protocol, its stream reader and buffers, the transport and its socket object, the last
frame parsed, a logger adapter. rtcload's media processes run without automatic full collections
(media/heap.py), so each dropped socket stayed for good: ~100 connections' worth per 5 minutes in
both the generator and the emulator of a reconnection soak (issue 22, found by a tracemalloc diff).

`release(ws)` clears the frames of that traceback (which finishes the suspended parser generator) and
drops the traceback; the exception itself stays, so `close_exc`'s `__cause__` still says what happened.
It also cuts asyncio's own cycle in a closed socket transport (CPython 3.11: the transport keeps its
bound `_read_ready_cb`, so transport, socket object and extra-info dict wait for a full collection),
once asyncio has let go of the socket (`_sock` is None after connection_lost). Call it once the
connection is closed and its close details have been read.
"""

from __future__ import annotations

import asyncio
import traceback
from typing import Any


def release(ws: Any) -> None:
    """Cut the cycles of a websockets connection once it is closed: now if asyncio has already reported
    the connection lost, else when it does (a reader cancelled, or a handler that ended before the
    socket did, must not leave the cycle the EOF creates later)."""
    waiter = getattr(ws, "connection_lost_waiter", None)
    if isinstance(waiter, asyncio.Future) and not waiter.done():
        waiter.add_done_callback(lambda _done: _cut(ws))
        return
    _cut(ws)


def _cut(ws: Any) -> None:
    transport = getattr(ws, "transport", None)
    if transport is not None and getattr(transport, "_sock", True) is None and hasattr(transport, "_read_ready_cb"):
        transport._read_ready_cb = None
    protocol = getattr(ws, "protocol", None)
    exc = getattr(protocol, "parser_exc", None)
    if exc is None or exc.__traceback__ is None:
        return
    traceback.clear_frames(exc.__traceback__)
    exc.__traceback__ = None
