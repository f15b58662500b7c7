"""Freed native memory goes back to the kernel every minute (glibc `malloc_trim`), so a long run's RSS
is the memory in use, not the holes its churn left behind.

Why: every call allocates and frees native memory outside Python's view (OpenSSL's DTLS contexts,
libsrtp sessions, the engine's buffers, large Python objects). glibc returns a freed chunk to the
kernel only when it sits at the top of its heap; a chunk freed below one that is still in use stays
resident. Under reconnection churn those holes add up: in a 16-user soak, one `malloc_trim(0)` gave
back 5 MB of the emulator's RSS and 7.5 MB of the Locust process's after 12 minutes, memory that was
free but counted (issue 22; docs/benchmarks.md, soak section). Trimming walks the free lists and
`madvise`s free pages away: 2-4 ms for a fragmented 100 MB heap, run on its own OS thread with the GIL
released (ctypes), so neither the asyncio loop, the gevent hub nor the C send thread waits for it.

`RTCLOAD_MALLOC_TRIM` is the interval (default 60 s; 0 turns it off). Not glibc (musl, macOS): nothing
to call, nothing happens.
"""

from __future__ import annotations

import ctypes
import functools
import logging
from collections.abc import Callable
from typing import Any

from rtcload.options import env

ENV_INTERVAL = "RTCLOAD_MALLOC_TRIM"
DEFAULT_INTERVAL_S = 60.0

log = logging.getLogger(__name__)

_state: dict[str, Any] = {"started": False, "trims": 0, "released": 0}


@functools.cache  # looked up once per process, not at every trim
def _malloc_trim() -> Callable[[int], int] | None:
    try:
        trim = ctypes.CDLL(None).malloc_trim
    except (OSError, AttributeError):
        return None
    trim.argtypes = [ctypes.c_size_t]
    trim.restype = ctypes.c_int
    return trim


def _real_thread_tools() -> tuple[Callable[..., Any], Callable[[float], None]]:
    """An OS thread and a blocking sleep, even in a gevent-patched process (Locust): a greenlet would
    trim on the hub's thread, and only when the hub let it."""
    import _thread
    import time

    try:
        from gevent import monkey
    except ImportError:  # pragma: no cover - gevent comes with Locust
        return _thread.start_new_thread, time.sleep
    return monkey.get_original("_thread", "start_new_thread"), monkey.get_original("time", "sleep")


def trim_now() -> bool:
    """One trim; True if glibc gave memory back."""
    trim = _malloc_trim()
    if trim is None:
        return False
    released = bool(trim(0))
    _state["trims"] += 1
    _state["released"] += int(released)
    return released


def trims() -> tuple[int, int]:
    """(trims run, trims that gave memory back) in this process."""
    return _state["trims"], _state["released"]


def start_native_heap_trim() -> bool:
    """Trim every `RTCLOAD_MALLOC_TRIM` seconds for the life of the process (once per process); True if started."""
    interval = env.duration(ENV_INTERVAL, DEFAULT_INTERVAL_S)
    if _state["started"] or interval <= 0 or _malloc_trim() is None:
        return False
    _state["started"] = True
    start_thread, sleep = _real_thread_tools()

    def trim_forever() -> None:
        while True:  # a daemon thread: it ends with the process
            sleep(interval)
            try:
                trim_now()
            except Exception:  # pragma: no cover - malloc_trim does not fail; never let the thread die loudly
                log.debug("malloc_trim failed", exc_info=True)

    start_thread(trim_forever, ())
    return True
