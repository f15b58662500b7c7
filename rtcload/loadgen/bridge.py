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
        self._named: dict[str, asyncio.Future[Any]] = {}
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
                # the task's exception, re-raised in run() below, holds run()'s frame and so `holder`:
                # without this, task -> exception -> traceback -> frame -> holder -> task is a cycle
                holder.clear()

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

    def submit_task(self, coro: Coroutine[Any, Any, Any], name: str) -> None:
        """A named long-lived task on the loop (resource watch, fault schedule); see cancel_tasks()."""
        assert self.loop is not None

        def start() -> None:
            self._named[name] = asyncio.ensure_future(coro)

        self.loop.call_soon_threadsafe(start)

    def cancel_tasks(self, *names: str) -> None:
        """Cancel named tasks and wait until they have finished."""

        async def cancel() -> None:
            tasks = [t for n in names if (t := self._named.pop(n, None)) is not None]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

        self.run(cancel(), timeout=10)

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
            if rest:
                _done, pending = await asyncio.wait(rest, timeout=5)
                if pending:
                    names = sorted({_task_label(t) for t in pending})
                    log.warning("%d asyncio tasks ignored cancellation at stop: %s", len(pending), names[:10])
            _release_executor(asyncio.get_running_loop())

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


def _task_label(task: asyncio.Task[Any]) -> str:
    coro = task.get_coro()
    return getattr(coro, "__qualname__", None) or task.get_name()


def _release_executor(loop: asyncio.AbstractEventLoop) -> None:
    """Stop the loop's default executor without blocking on it.

    After Locust's monkey patching, the "threads" of that executor are greenlets of this OS
    thread's own gevent hub (a thread dump shows no extra OS threads), which only run when this
    thread blocks on a gevent primitive. Joining them - `shutdown_default_executor()`, or Python's
    exit hook from the main thread - can wait forever. So: signal shutdown and drop them from the
    exit hook's list; the process is exiting and they hold nothing that needs flushing.
    """
    import concurrent.futures.thread as cf_thread

    executor = getattr(loop, "_default_executor", None)
    if executor is not None:
        executor.shutdown(wait=False, cancel_futures=True)
    # every pool thread of this process was started from the loop thread (Locust's side uses
    # greenlets), so none of them may be joined by the exit hook
    cf_thread._threads_queues.clear()
