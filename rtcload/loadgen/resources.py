"""Leak watch for soak runs: the generator's RSS, open FDs, asyncio tasks and live peer connections
sampled over time, and a verdict on whether any of them keeps growing."""

from __future__ import annotations

import asyncio
import os
import time
from dataclasses import asdict, dataclass

import psutil

from rtcload.media.session import live_peer_connections


@dataclass(frozen=True)
class ResourceSample:
    t: float
    rss_bytes: int
    open_fds: int
    asyncio_tasks: int
    peer_connections: int
    threads: int


def take_sample(process: psutil.Process | None = None) -> ResourceSample:
    """Call on the asyncio thread (it counts that loop's tasks)."""
    proc = process or psutil.Process(os.getpid())
    return ResourceSample(
        t=time.monotonic(),
        rss_bytes=proc.memory_info().rss,
        open_fds=proc.num_fds(),
        asyncio_tasks=len(asyncio.all_tasks()),
        peer_connections=live_peer_connections(),
        threads=proc.num_threads(),
    )


@dataclass(frozen=True)
class Tolerance:
    rss_bytes: int = 64 * 1024 * 1024
    open_fds: int = 32
    asyncio_tasks: int = 50
    peer_connections: int = 10
    threads: int = 16


DEFAULT_TOLERANCE = Tolerance()


def growth(samples: list[ResourceSample], settle: int = 1) -> dict[str, int]:
    """Last minus the `settle`-th sample (skip warm-up), per resource."""
    if len(samples) <= settle:
        return {}
    first, last = asdict(samples[settle]), asdict(samples[-1])
    return {k: int(last[k] - first[k]) for k in first if k != "t"}


def leaks(samples: list[ResourceSample], tolerance: Tolerance = DEFAULT_TOLERANCE, settle: int = 1) -> dict[str, int]:
    """Resources whose growth exceeds the tolerance (empty = no leak found)."""
    limits = asdict(tolerance)
    return {k: v for k, v in growth(samples, settle).items() if v > limits[k]}
