"""Shared bench plumbing: a child process, CPU windows, loop-lag probes, percentiles. Loopback only."""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from typing import Any

import psutil

from rtcload.loadgen.health import asyncio_lag_probe
from rtcload.metrics.gc_pauses import GcPauses  # noqa: F401  (the benches' import; one copy, in rtcload)
from rtcload.metrics.lag import LagWindow


def call_media(kind: Any, source: str = "tone:440", **settings: Any) -> Any:
    """One call's media of class `kind` in the imported tree: a MediaSettings (issue 25), or keywords (a
    --tree baseline from before it), so A/B benches run against older commits too."""
    try:
        from rtcload.media.media_settings import MediaSettings
    except ImportError:
        return kind(source, **settings)
    return kind(source, MediaSettings(**settings))


def pct(values: list[float], p: float) -> float:
    """Nearest-rank percentile (0 for no values)."""
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p * len(ordered)) - 1)]


def new_loop(use_uvloop: bool) -> asyncio.AbstractEventLoop:
    if use_uvloop:
        import uvloop

        return uvloop.new_event_loop()
    return asyncio.new_event_loop()


def runqueue_wait_s(pid: int | None = None) -> float:
    """Seconds this process' threads spent runnable but waiting for a CPU (Linux /proc schedstat, all threads).

    The honest witness on a shared machine: a late tick with a high wait is other load, not the engine.
    """
    total = 0
    task_dir = f"/proc/{pid or os.getpid()}/task"
    try:
        for tid in os.listdir(task_dir):
            with contextlib.suppress(OSError), open(f"{task_dir}/{tid}/schedstat") as f:
                total += int(f.read().split()[1])
    except OSError:
        return 0.0
    return total / 1e9


@dataclass
class CpuWindow:
    """CPU of one process (all threads, user+sys) over a wall-clock window; 100 = one core."""

    process: psutil.Process
    started_cpu: float = 0.0
    started_wall: float = 0.0

    def start(self) -> None:
        times = self.process.cpu_times()
        self.started_cpu = times.user + times.system
        self.started_wall = time.monotonic()

    def percent(self) -> float:
        times = self.process.cpu_times()
        wall = time.monotonic() - self.started_wall
        return 100.0 * (times.user + times.system - self.started_cpu) / wall if wall > 0 else 0.0


class LagProbe:
    """asyncio loop lag (rtcload.loadgen.health probe) with a resettable measurement window."""

    def __init__(self, interval_s: float = 0.05) -> None:
        self.window = LagWindow(window_s=3600.0)
        self.interval_s = interval_s
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.ensure_future(asyncio_lag_probe(self.window, self.interval_s))

    def reset(self) -> None:
        self.window.samples.clear()

    def p99_ms(self) -> float:
        return 1000 * self.window.p99()

    def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()


class Child:
    """A bench server in another process, spoken to with newline-delimited JSON over loopback TCP."""

    def __init__(self, args: list[str]) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, *args],
            stdout=subprocess.PIPE,
            stderr=None,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
            text=True,
        )
        line = self.proc.stdout.readline() if self.proc.stdout else ""
        if not line.startswith("PORT "):
            self.proc.kill()
            raise RuntimeError(f"bench child did not start: {line!r}")
        self.port = int(line.split()[1])
        self.pid = self.proc.pid

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()


class Rpc:
    """One TCP connection to a Child; requests are serialised (one in flight per connection)."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        self.lock = asyncio.Lock()

    @classmethod
    async def open(cls, port: int) -> Rpc:
        reader, writer = await asyncio.open_connection("127.0.0.1", port, limit=2**22)
        return cls(reader, writer)

    async def call(self, **request: Any) -> dict[str, Any]:
        async with self.lock:
            self.writer.write((json.dumps(request) + "\n").encode())
            await self.writer.drain()
            return json.loads(await self.reader.readline())

    async def close(self) -> None:
        self.writer.close()


async def serve_rpc(handler: Any) -> asyncio.AbstractServer:
    """Start a loopback JSON-lines server and announce its port on stdout ("PORT n")."""

    async def client(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while line := await reader.readline():
            reply = await handler(json.loads(line))
            writer.write((json.dumps(reply) + "\n").encode())
            await writer.drain()

    server = await asyncio.start_server(client, "127.0.0.1", 0, limit=2**22)
    print(f"PORT {server.sockets[0].getsockname()[1]}", flush=True)
    return server
