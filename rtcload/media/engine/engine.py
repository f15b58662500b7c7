"""The media engine of one event loop: the registry of live streams and the clocks that drive them.

Streams on the C path (native.py) are sent by the engine's send thread (`_native.Sender`): absolute
deadlines, pack + protect + sendto without the GIL, so a collection, a call setup or teardown or a slow
callback on the loop never delays a packet. The loop keeps its own 20 ms clock (clock.py) for what needs
Python: the streams the thread hands back (RTCP due, a failed socket), the thread's tick lateness (into
SEND_LATENESS), and every stream of the pure-Python path (RTCLOAD_ENGINE_NATIVE=0, TURN-relayed calls),
which it still sends itself. Received datagrams reach their stream straight from the socket callback
(takeover.py). No per-call task, timer or thread exists, so one call and a thousand behave the same,
under Locust's gevent patching too (the loop is the bridge's, a real OS thread).
"""

from __future__ import annotations

import asyncio
import atexit
import logging
import time
import weakref
from typing import Any

from rtcload.media.engine import native
from rtcload.media.engine.clock import SEND_LATENESS, EngineClock
from rtcload.media.engine.stream import EngineStream

log = logging.getLogger("rtcload.media.engine")

_ENGINES: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, MediaEngine] = weakref.WeakKeyDictionary()


@atexit.register
def _stop_send_threads() -> None:
    """Join every engine's send thread before the interpreter tears down the objects it reads."""
    for engine in list(_ENGINES.values()):
        if engine.sender is not None:
            engine.sender.stop()


class MediaEngine:
    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.sender = native.sender()  # the C path's send thread, or None (loop clock: RTCLOAD_SEND_THREAD=0)
        # the loop's clock times sends only for Python-path streams: its lateness is the send clock's then
        self.clock = EngineClock(
            loop, self._tick, gate=native.tick_gate(), lateness=SEND_LATENESS if self.sender is None else None
        )
        self._native_loop: tuple[native.NativeEngineStream, ...] = ()  # C streams the loop ticks (no thread)
        self._native_loop_txs: tuple[object, ...] = ()
        self._streams: dict[int, EngineStream] = {}
        self._order: tuple[EngineStream, ...] = ()  # the Python-path streams, ticked one by one
        self._by_tx: dict[int, native.NativeEngineStream] = {}  # id(ntx) -> stream, for the thread's hand-backs
        self.ticks = 0

    def __len__(self) -> int:
        return len(self._streams)

    def __contains__(self, stream: object) -> bool:
        return id(stream) in self._streams and self._streams[id(stream)] is stream

    def add(self, stream: EngineStream) -> None:
        self._streams[id(stream)] = stream
        if self.sender is not None and isinstance(stream, native.NativeEngineStream):
            self._by_tx[id(stream.ntx)] = stream
            self.sender.add(stream.ntx)  # the thread's: the loop's own tick lists stay as they are
        else:
            self._reorder()
        self.clock.start()

    def remove(self, stream: EngineStream) -> None:
        if self._streams.pop(id(stream), None) is not None:
            if isinstance(stream, native.NativeEngineStream) and self._by_tx.pop(id(stream.ntx), None) is not None:
                self.sender.remove(stream.ntx)  # type: ignore[union-attr]
            else:
                self._reorder()
        if not self._streams:
            self.clock.stop()

    def _reorder(self) -> None:
        """The loop's tick lists, rebuilt from every stream: O(calls up), so only when a stream the loop
        itself ticks comes or goes (the send thread's streams never enter them: a setup or hang-up with
        500 calls up does not walk the 500)."""
        self._order = tuple(s for s in self._streams.values() if id(getattr(s, "ntx", None)) not in self._by_tx)
        if self.sender is None:  # C streams without the thread: one C call per loop tick, as before it
            self._native_loop = tuple(s for s in self._order if isinstance(s, native.NativeEngineStream))
            self._native_loop_txs = tuple(s.ntx for s in self._native_loop)
            self._order = tuple(s for s in self._order if not isinstance(s, native.NativeEngineStream))
        if self.sender is not None:  # Python-path streams inside a native engine: their clock is the loop's
            self.clock.lateness = SEND_LATENESS if self._order else None

    def _tick(self, elapsed: int, send: int) -> None:
        self.ticks += 1
        now = time.monotonic()
        if self.sender is not None:
            attention, lateness = self.sender.drain()
            for late in lateness:
                SEND_LATENESS.record(late)
            for tx in attention:
                stream = self._by_tx.get(id(tx))
                if stream is not None:
                    self._run(stream.on_native, stream, elapsed, send, now)
        if self._native_loop_txs:
            handed_back = native.tick(self._native_loop_txs, elapsed, send, now)
            if handed_back is not None:
                streams = self._native_loop
                for index in handed_back:
                    self._run(streams[index].on_native, streams[index], elapsed, send, now)
        for stream in self._order:
            self._run(stream.on_tick, stream, elapsed, send, now)

    def _run(self, step: Any, stream: EngineStream, elapsed: int, send: int, now: float) -> None:
        try:
            step(elapsed, send, now)
        except Exception as exc:  # one broken call must not stop everybody's clock
            log.warning("media engine: stream %08x dropped: %r", stream.ssrc, exc)
            self.remove(stream)
            stream.close()


def engine_for(loop: asyncio.AbstractEventLoop | None = None) -> MediaEngine:
    """The engine of `loop` (default: the running loop), created on first use."""
    loop = loop or asyncio.get_running_loop()
    engine = _ENGINES.get(loop)
    if engine is None:
        engine = _ENGINES[loop] = MediaEngine(loop)
    return engine
