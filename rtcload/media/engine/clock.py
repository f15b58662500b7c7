"""The engine's loop clock: a drift-corrected 20 ms tick on the event loop, its lateness recorded.

Streams on the C path are sent by the engine's own send thread (`_native.Sender`, which keeps the same
absolute deadlines in C); this loop clock sends the pure-Python path's streams and runs, for C streams,
what needs Python (RTCP due, a failed socket), which may be late without delaying a packet.

Why one clock: a timer per call puts N wake-ups per 20 ms on the loop and lets every call drift on
its own; one tick sends every call's frame in a stable order, so each stream's spacing is the tick's.
Deadlines are `origin + k * period` (never "now + period"), so lateness does not accumulate. A tick
that runs late by whole periods reports how many frames are due; the engine sends them (bounded) so
timestamps keep to the wall clock. How late each tick ran is the generator's own distortion: it is
recorded in `SEND_LATENESS`, the window generator health judges saturation by. Deadlines and lateness
use `time.monotonic()`, not `loop.time()`: uvloop's loop time is libuv's millisecond clock cached at
the start of each loop iteration, too coarse to see a millisecond of lateness. For the same reason
the timer is set 1 ms early and the last stretch is slept precisely (an unpatched `time.sleep`, even
under gevent): on this VM an idle uvloop ticker's interval spread (mean |interval - 20 ms|) drops from
~0.6 ms to ~0.2 ms (bench/tick_precision.py), at no CPU cost; the loop is held at most 1 ms per tick.

Under load the timer is not enough: uvloop runs timers only between batches of I/O callbacks, and at
hundreds of calls a batch is thousands of datagram callbacks (milliseconds). With a `gate` (the C
engine's TickGate, native.py) every datagram callback checks the next deadline and fires the tick itself
once it has passed; the pending timer is then cancelled and the next one scheduled exactly as after a
timer tick, so a tick never runs twice and its lateness is still measured against `origin + k * period`.
"""

from __future__ import annotations

import asyncio
import collections
import math
import sys
import time
from collections.abc import Callable
from typing import Any

from rtcload.metrics.lag import LagWindow

PERIOD_S = 0.02
EARLY_WAKE_S = 0.001  # libuv timers are millisecond-granular: wake this early, then sleep to the deadline
MAX_CATCH_UP_FRAMES = 5  # past 100 ms behind, older frames are skipped (timestamps still advance)

# How late every engine tick of this process ran behind its deadline (seconds).
SEND_LATENESS = LagWindow(capacity=100_000, unreported=collections.deque(maxlen=10_000))

TickHandler = Callable[[int, int], None]


def _unpatched_sleep() -> Any:
    """time.sleep as the OS provides it: gevent's patched sleep would start a hub in the loop's thread."""
    if "gevent.monkey" in sys.modules:
        from gevent import monkey

        return monkey.get_original("time", "sleep")
    return time.sleep  # (frames elapsed since the previous tick, frames to send)


class EngineClock:
    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        on_tick: TickHandler,
        period_s: float = PERIOD_S,
        lateness: LagWindow | None = SEND_LATENESS,
        gate: Any = None,
    ) -> None:
        self.loop = loop
        self.period_s = period_s
        self.lateness = lateness
        self._on_tick = on_tick
        self._origin = 0.0
        self._ticks = 0
        self._handle: asyncio.Handle | None = None
        self._sleep = _unpatched_sleep()
        self.gate = gate  # an object with `deadline` and `fire` the socket callbacks check, or None
        self.preempted = 0  # ticks fired from a socket callback instead of the timer

    @property
    def running(self) -> bool:
        return self._handle is not None

    def start(self) -> None:
        if self._handle is None:
            self._origin = time.monotonic()
            self._ticks = 0
            self._handle = self.loop.call_soon(self._on_timer)
            if self.gate is not None:
                self.gate.fire = self._on_preempt

    def stop(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
        if self.gate is not None:
            self.gate.deadline = math.inf
            self.gate.fire = None

    def _on_timer(self) -> None:
        self._handle = None
        self._fire()

    def _on_preempt(self) -> None:
        """The gate's deadline passed while the loop was handling datagrams: tick now, drop the timer."""
        if self._handle is None:  # stopped (a late call from a socket callback): nothing is due
            return
        self._handle.cancel()
        self._handle = None
        self.preempted += 1
        self._fire()

    def _fire(self) -> None:
        deadline = self._origin + self._ticks * self.period_s
        rest = deadline - time.monotonic()
        if rest > 0.0:  # woken early on purpose: sleep the last stretch with the OS's timer precision
            self._sleep(min(rest, 2 * EARLY_WAKE_S))
        now = time.monotonic()
        late = now - deadline
        elapsed = 1
        if late >= self.period_s:  # whole periods missed: those frames are due now as well
            missed = int(late // self.period_s)
            elapsed += missed
            self._ticks += missed
        self._ticks += 1
        next_deadline = self._origin + self._ticks * self.period_s
        delay = next_deadline - now - EARLY_WAKE_S
        self._handle = self.loop.call_later(delay if delay > 0.0 else 0.0, self._on_timer)
        if self.gate is not None:
            self.gate.deadline = next_deadline
        if self.lateness is not None:
            self.lateness.record(late if late > 0.0 else 0.0)
        self._on_tick(elapsed, min(elapsed, MAX_CATCH_UP_FRAMES))
