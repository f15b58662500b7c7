"""Opt-in allocation tracing for soaks: with `RTCLOAD_TRACEMALLOC=<dir>`, a process traces its Python
allocations (tracemalloc, 10 frames) and writes, every `RTCLOAD_TRACEMALLOC_EVERY` (default 5 min), a
snapshot and its GC-tracked object counts by type to that directory.

Why: issue 22's soak showed RSS and Python objects growing by the hour with FDs flat. Slopes say *that*
something grows, not *what*; two snapshots some minutes apart, diffed by traceback
(`python bench/memdiff.py DIR`), name the line that keeps allocating. Tracing costs CPU and memory
(roughly 2x on allocation-heavy code), so it is never on by default and never in a benchmark's figures.

Files: `<role>-<pid>-<n>.tracemalloc` (tracemalloc.Snapshot.dump) and `<role>-<pid>-<n>.types.json`
({"t": wall clock, "traced": [current, peak], "types": {"module.Type": count}, "ws_referrers": [...]}:
the referrer chains of a few closed WebSocket protocols still alive, rtcload/memtrace_refs.py).
"""

from __future__ import annotations

import asyncio
import gc
import json
import logging
import os
import time
import tracemalloc
from collections import Counter
from pathlib import Path

from rtcload.memtrace_refs import protocol_referrers
from rtcload.options import env

ENV_DIR = "RTCLOAD_TRACEMALLOC"
ENV_EVERY = "RTCLOAD_TRACEMALLOC_EVERY"
FRAMES = 10
MAX_SNAPSHOTS = 100  # a bound on what one process writes, whatever the run's length

log = logging.getLogger(__name__)


def type_counts() -> dict[str, int]:
    """GC-tracked objects by `module.qualname`, largest first."""
    counts: Counter[str] = Counter()
    for obj in gc.get_objects():
        kind = type(obj)
        counts[f"{kind.__module__}.{kind.__qualname__}"] += 1
    return dict(counts.most_common())


def write_snapshot(directory: Path, role: str, index: int) -> Path:
    """One snapshot and its type counts; returns the snapshot's path."""
    stem = directory / f"{role}-{os.getpid()}-{index:03d}"
    snapshot = tracemalloc.take_snapshot().filter_traces(
        (tracemalloc.Filter(False, tracemalloc.__file__), tracemalloc.Filter(False, __file__))
    )
    snapshot.dump(f"{stem}.tracemalloc")
    current, peak = tracemalloc.get_traced_memory()
    stem.with_suffix(".types.json").write_text(
        json.dumps(
            {
                "t": time.time(),
                "traced": [current, peak],
                "types": type_counts(),
                "ws_referrers": protocol_referrers(),
            }
        )
    )
    return Path(f"{stem}.tracemalloc")


async def trace_from_env(role: str) -> None:
    """Trace this process while the task runs, if `RTCLOAD_TRACEMALLOC` names a directory; else return.

    `role` names the files (generator, emulator). Run it as a task on the process's event loop.
    """
    directory = env.path(ENV_DIR)
    if directory is None:
        return
    every_s = env.duration(ENV_EVERY, 300.0)
    directory.mkdir(parents=True, exist_ok=True)
    if not tracemalloc.is_tracing():
        tracemalloc.start(FRAMES)
    log.warning("tracing allocations (%s): snapshots every %.0f s to %s", ENV_DIR, every_s, directory)
    for index in range(MAX_SNAPSHOTS):
        await asyncio.sleep(every_s)
        try:
            write_snapshot(directory, role, index)
        except OSError as exc:  # a full or vanished directory ends the tracing, not the run
            log.warning("%s: cannot write a snapshot to %s: %s", ENV_DIR, directory, exc)
            break
    tracemalloc.stop()
