"""The children of `rtcload run` (emulator, Locust and its workers) as one process group it owns.

Children run in a group of their own, so a terminal's Ctrl-C reaches only rtcload, which then stops
them in order: Locust first (it stops its users gracefully and writes the ledger), then the emulator.
A second signal kills the whole group at once. Nothing outlives the run: the group is killed on exit.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import threading
import time
from types import FrameType
from typing import Any

HANDLED = (signal.SIGINT, signal.SIGTERM)


class Interrupted(Exception):
    """A signal arrived before there was a Locust run to stop: nothing ran, nothing to write."""

    def __init__(self, signum: int) -> None:
        super().__init__(f"interrupted by {signal.Signals(signum).name}")
        self.signum = signum


class ProcessGroup:
    """Starts children in one process group and turns SIGINT/SIGTERM into an orderly stop."""

    def __init__(self) -> None:
        self.pgid: int | None = None
        self.signum: int | None = None  # the first signal received, if any
        self.forced = False  # a second signal killed the group
        self.locust: subprocess.Popen[Any] | None = None
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> ProcessGroup:
        if threading.current_thread() is not threading.main_thread():
            return self  # embedded in a program's worker thread: signals stay the program's business
        for sig in HANDLED:
            self._previous[sig] = signal.signal(sig, self._on_signal)
        return self

    def __exit__(self, *_exc: object) -> None:
        self.kill_all()
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)

    @property
    def exit_code(self) -> int | None:
        """The conventional code of the signal that ended the run (128 + n), if one did."""
        return None if self.signum is None else 128 + self.signum

    def popen(self, cmd: list[str], **kwargs: Any) -> subprocess.Popen[Any]:
        """A child in this run's group (the first child founds it)."""
        if self.pgid is not None and not group_alive(self.pgid):
            self.pgid = None  # everyone of the old group has exited (capacity: one Locust per step)
        try:
            proc = subprocess.Popen(cmd, process_group=self.pgid or 0, **kwargs)
        except PermissionError:  # the group emptied between the check and the fork: found a new one
            self.pgid = None
            proc = subprocess.Popen(cmd, process_group=0, **kwargs)
        if self.pgid is None:
            self.pgid = proc.pid
        return proc

    def _on_signal(self, signum: int, _frame: FrameType | None) -> None:
        if self.signum is not None:  # the second signal forces
            self.forced = True
            self.kill_all()
            raise Interrupted(signum)
        self.signum = signum
        if self.locust is not None and self.locust.poll() is None:
            # Locust's own SIGTERM path: stop users gracefully, write its statistics, exit.
            with contextlib.suppress(ProcessLookupError):
                self.locust.send_signal(signal.SIGTERM)
            return
        raise Interrupted(signum)

    def kill_all(self) -> None:
        """SIGKILL whatever of the group is still alive (a no-op after an orderly stop)."""
        if self.pgid is None:
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pgid, signal.SIGKILL)


def stop_process(proc: subprocess.Popen[Any] | None, timeout_s: float = 10.0) -> None:
    """SIGTERM, wait, then SIGKILL: the child gets its chance to report before it goes."""
    if proc is None or proc.poll() is not None:
        return
    proc.terminate()
    deadline = time.monotonic() + timeout_s
    while proc.poll() is None and time.monotonic() < deadline:
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(0.2)
    if proc.poll() is None:
        proc.kill()
        proc.wait()


def group_alive(pgid: int | None) -> bool:
    if pgid is None:
        return False
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True
