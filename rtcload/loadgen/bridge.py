"""The asyncio <-> gevent bridge: one real OS thread per Locust process runs a (uv)loop; greenlets
submit coroutines and wait for them without blocking the gevent hub.

Facts this relies on (../shared/engineering-notes.md section 4, each reproduced there):
- after Locust's monkey patching only `_thread.start_new_thread` still makes a real OS thread;
- a ref'd `hub.loop.async_()` watcher is the thread-safe doorbell back into gevent, and keeps the
  hub from raising LoopExit while it waits;
- nothing from concurrent.futures or asyncio.run_coroutine_threadsafe on the gevent side (their
  locks are patched): `loop.call_soon_threadsafe` in, the doorbell out;
- create the bridge once per process (events.init), never lazily from many greenlets.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import time
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

import gevent
from gevent import monkey
from gevent.event import AsyncResult

log = logging.getLogger("rtcload.loadgen")
T = TypeVar("T")


class Bridge:
    def __init__(self, use_uvloop: bool = True) -> None:
        self._hub = gevent.get_hub()
        self._done: collections.deque[tuple[AsyncResult, BaseException | None, Any]] = collections.deque()
        self._doorbell = self._hub.loop.async_()
        self._doorbell.start(self._drain)
        self.loop: asyncio.AbstractEventLoop | None = None
        self._ready = AsyncResult()
        self._use_uvloop = use_uvloop
        self._stopped = False
        self.overhead_s: collections.deque[float] = collections.deque(maxlen=10_000)
        start_new_thread = monkey.get_original("_thread", "start_new_thread")
        start_new_thread(self._thread_main, ())
        self._ready.get(timeout=10)

    # ---------------------------------------------------------------- asyncio thread

    def _thread_main(self) -> None:
        if self._use_uvloop:
            try:
                import uvloop

                loop: asyncio.AbstractEventLoop = uvloop.new_event_loop()
            except ImportError:  # pragma: no cover - uvloop is a dependency
                loop = asyncio.new_event_loop()
        else:
            loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        self.loop = loop
        self._complete(self._ready, None, True)
        try:
            loop.run_forever()
        finally:
            loop.close()

    def _complete(self, result: AsyncResult, exc: BaseException | None, value: Any) -> None:
        """Runs on the asyncio thread: hand a result to gevent and ring the doorbell."""
        self._done.append((result, exc, value))
        self._doorbell.send()

    # ---------------------------------------------------------------- gevent side

    def _drain(self) -> None:
        while self._done:
            result, exc, value = self._done.popleft()
            if exc is not None:
                result.set_exception(exc)
            else:
                result.set(value)

    def run(self, coro: Coroutine[Any, Any, T], timeout: float | None = None) -> T:
        """Run a coroutine on the loop thread and wait for it from a greenlet.

        If the greenlet is killed (Locust stopping a user), the coroutine is cancelled too, so no
        call keeps running on the asyncio side with nobody waiting for it.
        """
        if self.loop is None or self._stopped:
            coro.close()
            raise RuntimeError("bridge is stopped")
        result: AsyncResult = AsyncResult()
        holder: dict[str, asyncio.Task[Any]] = {}
        submitted = time.perf_counter()
        inner: dict[str, float] = {}

        def start() -> None:
            async def timed() -> Any:
                inner["start"] = time.perf_counter()
                try:
                    return await coro
                finally:
                    inner["end"] = time.perf_counter()

            task = asyncio.ensure_future(timed())
            holder["task"] = task

            def done(t: asyncio.Task[Any]) -> None:
                if t.cancelled():
                    self._complete(result, asyncio.CancelledError(), None)
                else:
                    self._complete(result, t.exception(), None if t.exception() else t.result())

            task.add_done_callback(done)

        self.loop.call_soon_threadsafe(start)
        try:
            value = result.get(timeout=timeout)
        except BaseException:
            self.loop.call_soon_threadsafe(lambda: holder["task"].cancel() if "task" in holder else None)
            raise
        if "end" in inner:
            wall = time.perf_counter() - submitted
            self.overhead_s.append(max(0.0, wall - (inner["end"] - inner["start"])))
        return value

    def submit(self, coro: Coroutine[Any, Any, Any]) -> None:
        """Fire and forget (long-lived work such as a stats poller)."""
        assert self.loop is not None
        self.loop.call_soon_threadsafe(lambda: asyncio.ensure_future(coro))

    def call_soon(self, fn: Callable[[], Any]) -> None:
        assert self.loop is not None
        self.loop.call_soon_threadsafe(fn)

    def stop(self, drain: Callable[[], Coroutine[Any, Any, Any]] | None = None, timeout: float = 30.0) -> None:
        """Run `drain` (hang up, close sockets), cancel what is left, stop the loop."""
        if self._stopped or self.loop is None:
            return
        if drain is not None:
            try:
                self.run(drain(), timeout=timeout)
            except Exception as exc:
                log.warning("bridge drain failed: %r", exc)

        async def cancel_rest() -> None:
            current = asyncio.current_task()
            rest = [t for t in asyncio.all_tasks() if t is not current]
            for task in rest:
                task.cancel()
            await asyncio.gather(*rest, return_exceptions=True)
            # Join the executor's threads from here: at interpreter exit Python would join them
            # with a gevent-patched lock on the hub thread and hang the Locust process.
            await asyncio.get_running_loop().shutdown_default_executor()

        try:
            self.run(cancel_rest(), timeout=10)
        except Exception as exc:
            log.warning("bridge cancel failed: %r", exc)
        self._stopped = True
        loop = self.loop
        loop.call_soon_threadsafe(loop.stop)
        self._doorbell.stop()

    def overhead_summary(self) -> dict[str, float]:
        values = sorted(self.overhead_s)
        if not values:
            return {}

        def pct(p: float) -> float:
            return values[min(len(values) - 1, int(p * len(values)))]

        return {"count": len(values), "p50_s": pct(0.5), "p99_s": pct(0.99), "max_s": values[-1]}
