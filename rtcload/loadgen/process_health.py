"""Every Locust process's health reaches `rtcload run`: one JSON record per process in the ledger, and
a master that does not exit before its workers have stopped their users.

Why: with `--processes N` the users, their calls and their media clock live in the workers; the master
runs none. A worker's record (its clock, loop lag, CPU measured by itself, garbage-collection pauses) is
whatever `Health.run_verdict()` returns plus the process's identity, so a new field there reaches
summary.json's `generator.per_process` without more plumbing. Workers rewrite theirs every few seconds
(a worker killed before its end still leaves a recent one) and a last time when they quit.

Locust's master, once the run time is up, sends its workers "quit", waits 0.5 s and exits; its exit
hook then gives them 3 s before SIGINT. A worker's graceful stop takes as long as its calls in flight
(up to --stop-timeout): killed in between, those calls were neither hung up nor recorded (31 of 308 at
2 processes). So the master's `quitting` waits, bounded, for its workers to exit first.
"""

from __future__ import annotations

import json
import logging
import os
import time
from pathlib import Path
from typing import Any

from rtcload.loadgen.health import Health
from rtcload.metrics.gc_pauses import process_gc_pauses

log = logging.getLogger("rtcload.loadgen")

REWRITE_EVERY_S = 5.0
WORKER_EXIT_GRACE_S = 15.0  # beyond --stop-timeout: hang-ups, report uploads, the ledger's last lines


def health_record(health: Health, tag: str, role: str, engine: str | None, final: bool) -> dict[str, Any]:
    """This process's whole-run health as `rtcload run` reads it (`final`: written when it quit)."""
    return {
        "process": tag,
        "role": role,
        "pid": os.getpid(),
        **health.run_verdict(),
        "gc": process_gc_pauses().to_json(),
        "engine": engine,
        "final": final,
    }


def write_record(path: str | Path, record: dict[str, Any]) -> None:
    """Atomically (a reader never sees half a record)."""
    tmp = f"{path}.tmp"
    try:
        with open(tmp, "w") as out:
            json.dump(record, out)
        os.replace(tmp, path)
    except OSError as exc:
        log.warning("cannot write the health file %s: %s", path, exc)


def read_records(paths: list[Path]) -> list[dict[str, Any]]:
    records = []
    for path in sorted(paths):
        try:
            records.append(json.loads(path.read_text()))
        except (OSError, ValueError):
            continue
    return records


def worker_pids() -> list[int]:
    """The Locust workers this master forked (its child processes)."""
    import psutil

    try:
        return [child.pid for child in psutil.Process().children()]
    except psutil.Error:
        return []


def exited(pid: int) -> bool:
    """The child has exited (zombie or gone), without reaping it: Locust's own exit hook reaps it."""
    try:
        return os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None
    except ChildProcessError:
        return True


def wait_for_workers(runner: Any, timeout_s: float) -> list[int]:
    """On the master, at `quitting`: make sure the workers were told to quit, then wait until they have
    exited (at most `timeout_s`). Returns the pids still running at the deadline."""
    import gevent

    group = getattr(runner, "greenlet", None)  # a gevent Group, emptied by the master's quit()
    if group is not None and len(group) > 0:  # SIGTERM: `quitting` fires before Locust's own quit()
        runner.quit()
    pending = worker_pids()
    deadline = time.monotonic() + timeout_s
    while pending and time.monotonic() < deadline:
        gevent.sleep(0.2)
        pending = [pid for pid in pending if not exited(pid)]
    if pending:
        log.warning("%d Locust worker(s) still stopping after %.0f s: calls may be missing", len(pending), timeout_s)
    return pending
