"""One process's resources as a soak watches them: RSS, open FDs, UDP sockets, threads, asyncio tasks
and Python objects. Used inside the generator and the emulator (each samples itself, where asyncio
tasks and Python objects can be counted) and from outside by bench/soak.py (/proc only)."""

from __future__ import annotations

import asyncio
import gc
import os
import time
from typing import Any

import psutil

from rtcload import pymalloc


def udp_socket_count(pid: int | None = None) -> int:
    """UDP sockets (v4 and v6) the process holds open; a dup()ed descriptor counts once per fd.

    Read from /proc (the process's fds joined with its network namespace's UDP tables): no psutil
    permission quirks, and it works from outside the process as well as inside.
    """
    pid = pid or os.getpid()
    udp: set[str] = set()
    for table in ("udp", "udp6"):
        try:
            with open(f"/proc/{pid}/net/{table}") as f:
                next(f, None)
                udp.update(line.split()[9] for line in f if line.strip())
        except OSError:
            continue
    fd_dir = f"/proc/{pid}/fd"
    try:
        names = os.listdir(fd_dir)
    except OSError:
        return 0
    count = 0
    for name in names:
        try:
            link = os.readlink(f"{fd_dir}/{name}")
        except OSError:
            continue
        if link.startswith("socket:[") and link[8:-1] in udp:
            count += 1
    return count


def sample_self(count_objects: bool = True) -> dict[str, Any]:
    """This process, from inside: call on its asyncio thread (it counts that loop's tasks).

    `py_arena_bytes`/`py_block_bytes` split RSS growth into Python's allocator (rtcload/pymalloc.py)
    and the rest. `len(gc.get_objects())` costs a few ms per 100k objects: sample at soak intervals, not per tick.
    """
    proc = psutil.Process(os.getpid())
    heap = pymalloc.figures()
    try:
        tasks = len(asyncio.all_tasks())
    except RuntimeError:  # no running loop
        tasks = 0
    return {
        "t": time.monotonic(),
        "w": time.time(),  # wall clock: the soak's slopes stop at the run's planned end (not its wind-down)
        "rss_bytes": proc.memory_info().rss,
        "open_fds": proc.num_fds(),
        "udp_sockets": udp_socket_count(proc.pid),
        "threads": proc.num_threads(),
        "asyncio_tasks": tasks,
        "py_objects": len(gc.get_objects()) if count_objects else 0,
        "py_arena_bytes": heap.get("py_arena_bytes", 0),
        "py_block_bytes": heap.get("py_block_bytes", 0),
    }


class ProcessGauges:
    """This process's RSS, open FDs, UDP sockets and asyncio tasks for Prometheus gauges read at scrape
    time (`rtcload_process_*`, `rtcload_emulator_process_*`), so a soak's growth is watchable live.

    One /proc read serves every gauge of a scrape (at most one per `max_age_s`): a scrape reads the four
    gauges back to back, and counting UDP sockets walks the fd table. `loop` is the asyncio loop whose
    tasks count (None: the loop running where the gauges are read, if any); asyncio.all_tasks tolerates
    a call from another thread.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop | None = None, max_age_s: float = 1.0) -> None:
        self.loop = loop
        self.max_age_s = max_age_s
        self._proc = psutil.Process(os.getpid())
        self._at = float("-inf")
        self._values: dict[str, float] = {}

    def read(self) -> dict[str, float]:
        now = time.monotonic()
        if now - self._at >= self.max_age_s:
            with self._proc.oneshot():
                rss, fds = self._proc.memory_info().rss, self._proc.num_fds()
            tasks = _task_count(self.loop)
            self._values = {
                "rss_bytes": float(rss),
                "open_fds": float(fds),
                "udp_sockets": float(udp_socket_count(self._proc.pid)),
                "asyncio_tasks": float(tasks),
            }
            self._at = now
        return self._values

    def value(self, name: str) -> float:
        """One figure (rss_bytes, open_fds, udp_sockets, asyncio_tasks)."""
        return self.read()[name]


def _task_count(loop: asyncio.AbstractEventLoop | None) -> int:
    if loop is None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return 0
    return 0 if loop.is_closed() else len(asyncio.all_tasks(loop))
