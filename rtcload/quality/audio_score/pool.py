"""The process's audio-score pool: scored calls' audio goes to worker processes, never the media loop.

Used by rtcload/loadgen/audio_calls.py (sampled calls of a run) and `rtcload call` (issue 24).

Why this shape: scoring costs ~0.5 s of CPU per call and holds the GIL, so it runs in spawned worker
processes (worker.py). Each worker is fed by one real OS thread (started with
the unpatched `_thread` primitives, as the decode thread is: under Locust's gevent a patched thread would
be a greenlet) that blocks on the worker's pipe. The loop only appends to a bounded deque.

Bounded twice, and counted when it refuses (never queued without limit, never blocking the loop):
- `max_queued` jobs waiting; a call arriving when it is full is dropped (`queue_full`);
- a CPU budget in cores (`cpu_budget`): the workers' measured CPU may not run ahead of budget x elapsed
  (plus a small burst); past it a call is dropped (`over_budget`). The first-call warm-up (~10 s of JIT,
  paid once per worker at start, off every call) is not charged.
"""

from __future__ import annotations

import collections
import logging
import multiprocessing
import os
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

from rtcload.quality.audio_score.availability import EXTRA_HINT, missing_modules
from rtcload.quality.audio_score.worker import ScoreJob, ScoreResult, run

log = logging.getLogger("rtcload.audio")


def _original(module: str, name: str) -> Any:
    """The unpatched `_thread` primitive, even after gevent's monkey-patching (as in media/engine/decode.py)."""
    if "gevent.monkey" in sys.modules:
        from gevent import monkey

        return monkey.get_original(module, name)
    import _thread

    return getattr(_thread, name)


Callback = Callable[[ScoreResult], None]
RESULTS = ("scored", "failed", "queue_full", "over_budget", "unavailable")
BURST_CPU_S = 3.0  # budget a pool may spend ahead of its average (a few calls ending together)


class AudioScorePool:
    """Submit from the loop (`submit`), callbacks from the feeding threads (hop to the loop yourself)."""

    def __init__(
        self, workers: int = 1, max_queued: int = 4, cpu_budget: float = 0.25, burst_cpu_s: float = BURST_CPU_S
    ) -> None:
        self.workers = max(1, workers)
        self.max_queued = max(1, max_queued)
        self.cpu_budget = cpu_budget
        self.burst_cpu_s = burst_cpu_s
        self.counts: collections.Counter[str] = collections.Counter()
        self.cpu_s = 0.0  # charged CPU (jobs only)
        self.warm_cpu_s = 0.0  # warm-up CPU, not charged
        self._ready = _original("_thread", "allocate_lock")()  # released when a worker is warm (or failed)
        self._ready.acquire()
        self._ready_set = False
        self.broken = ""  # why the workers cannot score (the extra is missing or broken)
        self._jobs: collections.deque[tuple[ScoreJob, Callback]] = collections.deque()
        self._wake = _original("_thread", "allocate_lock")()
        self._started_at = 0.0
        self._running = 0
        self._closed = False
        self._processes: list[Any] = []
        self._connections: list[Any] = []

    def start(self) -> None:
        """Start the workers and their warm-up now (returns at once); idempotent."""
        if self._started_at:
            return
        self._started_at = time.monotonic()
        missing = missing_modules()
        if missing:
            self.broken = f"{EXTRA_HINT} (missing: {', '.join(missing)})"
            self._set_ready()
            return
        self._wake.acquire()
        for _ in range(self.workers):
            _original("_thread", "start_new_thread")(self._feed, ())

    def _spawn(self) -> Any:
        context = multiprocessing.get_context("spawn")
        parent, child = context.Pipe()
        for conn in (parent, child):  # a socketpair made by gevent's patched socket is non-blocking
            os.set_blocking(conn.fileno(), True)
        process = context.Process(target=run, args=(child,), daemon=True, name="rtcload-audio-score")
        process.start()
        child.close()
        self._processes.append(process)
        self._connections.append(parent)
        return parent

    def _feed(self) -> None:
        """A feeding thread: one worker process, warm it, then send it jobs one by one."""
        try:
            conn = self._spawn()
            kind, detail = conn.recv()
        except (OSError, EOFError) as exc:
            kind, detail = "broken", f"worker did not start: {exc!r}"
        if kind != "ready":
            self.broken = str(detail)
            log.warning("audio scores off: %s", self.broken)
            self._set_ready()
            return
        self.warm_cpu_s += float(detail)
        self._set_ready()
        while not self._closed:
            if not self._jobs:
                self._wake.acquire()
                continue
            try:
                job, callback = self._jobs.popleft()
            except IndexError:
                continue
            self._running += 1
            try:
                conn.send(job)
                result: ScoreResult = conn.recv()
            except (OSError, EOFError) as exc:  # the worker died (OOM killer, a crash in a native library)
                result = ScoreResult(None, 0.0, f"worker lost: {exc!r}")
                self.broken = result.error  # later calls are counted unavailable, not queued for nobody
                log.warning("audio scores off: %s", self.broken)
            finally:
                self._running -= 1
            self.cpu_s += result.cpu_s
            self.counts["scored" if result.score is not None else "failed"] += 1
            self._answer(callback, result)
            if self.broken:  # what is still queued gets its answer too: failed
                while self._jobs:
                    _job, waiting = self._jobs.popleft()
                    self.counts["failed"] += 1
                    self._answer(waiting, ScoreResult(None, 0.0, self.broken))
                return

    @staticmethod
    def _answer(callback: Callback, result: ScoreResult) -> None:
        try:
            callback(result)
        except Exception as exc:  # a callback's bug must not stop scoring
            log.warning("audio score callback failed: %r", exc)

    def _set_ready(self) -> None:
        if not self._ready_set:
            self._ready_set = True
            self._ready.release()

    def wait_ready(self, timeout: float) -> bool:
        """Block (not on the loop) until a worker is warm or the pool is known broken; False on timeout."""
        if self._ready_set:
            return True
        if self._ready.acquire(True, timeout):
            self._ready.release()
            return True
        return False

    def over_budget(self) -> bool:
        elapsed = time.monotonic() - self._started_at if self._started_at else 0.0
        return self.cpu_s > self.cpu_budget * elapsed + self.burst_cpu_s

    def submit(self, job: ScoreJob, callback: Callback) -> str:
        """Queue a job (on the loop; never blocks). Returns "queued" or why it was dropped (counted)."""
        self.start()
        if self.broken:
            verdict = "unavailable"
        elif len(self._jobs) >= self.max_queued:
            verdict = "queue_full"
        elif self.over_budget():
            verdict = "over_budget"
        else:
            self._jobs.append((job, callback))
            try:
                self._wake.release()
            except RuntimeError:  # already signalled
                pass
            return "queued"
        self.counts[verdict] += 1
        return verdict

    @property
    def pending(self) -> int:
        return len(self._jobs) + self._running

    def close(self) -> None:
        self._closed = True
        for conn in self._connections:
            try:
                conn.close()
            except OSError:
                pass
        for process in self._processes:
            process.join(timeout=2)
            if process.is_alive():
                process.terminate()


_POOL: AudioScorePool | None = None
_POOL_LOCK = threading.Lock()


def process_pool(cpu_budget: float = 0.25, workers: int = 1) -> AudioScorePool:
    """The process's pool (created and warmed at the first call; later arguments are ignored)."""
    global _POOL
    with _POOL_LOCK:
        if _POOL is None:
            _POOL = AudioScorePool(workers=workers, cpu_budget=cpu_budget)
            _POOL.start()
            if _POOL.broken:
                log.warning("audio scores off: %s", _POOL.broken)
    return _POOL
