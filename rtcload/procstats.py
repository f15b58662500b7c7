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

    `len(gc.get_objects())` costs a few ms per 100k objects: sample at soak intervals, not per tick.
    """
    proc = psutil.Process(os.getpid())
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
    }
