"""Leak watch for soak runs: a process's RSS, open FDs, UDP sockets, asyncio tasks, Python objects and
live peer connections sampled over time; growth per hour after a warm-up (least squares), and a verdict
on whether any of them keeps growing.

Why slopes and not last-minus-first: a soak's resource series is noisy (calls start and end, RSS
follows the allocator); a least-squares line through every sample after the warm-up is the figure the
issue asks for ("+27 FDs per hour") and does not hinge on where one sample happens to fall.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import psutil

from rtcload.media.session import live_peer_connections
from rtcload.procstats import sample_self, udp_socket_count

__all__ = ["udp_socket_count"]  # re-exported: bench/soak.py counts from outside


@dataclass(frozen=True)
class ResourceSample:
    t: float
    rss_bytes: int
    open_fds: int
    asyncio_tasks: int
    peer_connections: int
    threads: int
    udp_sockets: int = 0
    py_objects: int = 0
    py_arena_bytes: int = 0  # pymalloc's arenas (rtcload/pymalloc.py)
    py_block_bytes: int = 0  # ... of which live objects use
    w: float = 0.0  # wall clock (time.time())


def take_sample(process: psutil.Process | None = None, count_objects: bool = True) -> ResourceSample:
    """Call on the asyncio thread (it counts that loop's tasks)."""
    own = sample_self(count_objects)
    if process is not None and process.pid != os.getpid():
        own.update(rss_bytes=process.memory_info().rss, open_fds=process.num_fds(), threads=process.num_threads())
        own["udp_sockets"] = udp_socket_count(process.pid)
    return ResourceSample(peer_connections=live_peer_connections(), **own)


@dataclass(frozen=True)
class Tolerance:
    rss_bytes: int = 64 * 1024 * 1024
    open_fds: int = 32
    asyncio_tasks: int = 50
    peer_connections: int = 10
    threads: int = 16
    udp_sockets: int = 32
    py_objects: int = 10**9  # reported, never judged: the object count follows the load
    py_arena_bytes: int = 2**62  # reported, never judged: RSS is
    py_block_bytes: int = 2**62


DEFAULT_TOLERANCE = Tolerance()


def growth(samples: list[ResourceSample], settle: int = 1) -> dict[str, int]:
    """Last minus the `settle`-th sample (skip warm-up), per resource."""
    if len(samples) <= settle:
        return {}
    first, last = asdict(samples[settle]), asdict(samples[-1])
    return {k: int(last[k] - first[k]) for k in first if k not in ("t", "w")}


def leaks(samples: list[ResourceSample], tolerance: Tolerance = DEFAULT_TOLERANCE, settle: int = 1) -> dict[str, int]:
    """Resources whose growth exceeds the tolerance (empty = no leak found)."""
    limits = asdict(tolerance)
    return {k: v for k, v in growth(samples, settle).items() if v > limits[k]}


# ---------------------------------------------------------------- slopes per hour


def slope_per_hour(times_s: Sequence[float], values: Sequence[float]) -> float | None:
    """Least-squares slope of `values` against `times_s`, per hour; None with fewer than 3 points or
    no time spread (a slope from two points is one sample's noise)."""
    fit = fit_per_hour(times_s, values)
    return None if fit is None else fit[0]


def fit_per_hour(times_s: Sequence[float], values: Sequence[float]) -> tuple[float, float] | None:
    """(slope, its standard error), both per hour; None when there is no line to fit."""
    n = len(times_s)
    if n < 3 or n != len(values):
        return None
    mean_t = sum(times_s) / n
    mean_v = sum(values) / n
    var = sum((t - mean_t) ** 2 for t in times_s)
    if var <= 0:
        return None
    slope = sum((t - mean_t) * (v - mean_v) for t, v in zip(times_s, values, strict=True)) / var
    residual = sum((v - mean_v - slope * (t - mean_t)) ** 2 for t, v in zip(times_s, values, strict=True))
    stderr = (residual / (n - 2) / var) ** 0.5
    return slope * 3600.0, stderr * 3600.0


# summary key -> (sample field, scale): the per-hour figures of issue 22
SLOPE_FIELDS = {
    "fd_per_h": ("open_fds", 1.0),
    "udp_per_h": ("udp_sockets", 1.0),
    "mb_per_h": ("rss_bytes", 1.0 / 2**20),
    "tasks_per_h": ("asyncio_tasks", 1.0),
    "objects_per_h": ("py_objects", 1.0),
    "py_arena_mb_per_h": ("py_arena_bytes", 1.0 / 2**20),  # RSS growth that is Python's allocator
    "py_block_mb_per_h": ("py_block_bytes", 1.0 / 2**20),  # ... of which live objects (the rest: fragmentation)
}


def resource_slopes(rows: Sequence[dict[str, Any]], warmup_s: float, until_wall: float | None = None) -> dict[str, Any]:
    """Slopes per hour over the samples taken `warmup_s` or later after the first one (and, with
    `until_wall`, no later than that wall-clock time: a run's wind-down, calls ending at the stop, is
    no trend).

    `rows` are sample dicts (`ResourceSample` fields; missing fields are skipped), oldest first.
    """
    if until_wall is not None:
        rows = [r for r in rows if not r.get("w") or float(r["w"]) <= until_wall]
    if not rows:
        return {"samples": 0, "window_s": 0.0}
    t0 = float(rows[0]["t"])
    kept = [r for r in rows if float(r["t"]) - t0 >= warmup_s]
    out: dict[str, Any] = {
        "samples": len(kept),
        "warmup_s": warmup_s,
        "window_s": round(float(kept[-1]["t"]) - float(kept[0]["t"]), 1) if kept else 0.0,
    }
    times = [float(r["t"]) for r in kept]
    for key, (name, scale) in SLOPE_FIELDS.items():
        if not kept or any(name not in r for r in kept):
            continue
        fit = fit_per_hour(times, [float(r[name]) * scale for r in kept])
        out[key] = None if fit is None else round(fit[0], 2)
        if fit is not None and key in ("fd_per_h", "udp_per_h", "mb_per_h"):
            out[key.replace("_per_h", "_se_per_h")] = round(fit[1], 2)
    if kept:
        out["first"] = {k: kept[0][k] for k in kept[0] if k not in ("t", "w")}
        out["last"] = {k: kept[-1][k] for k in kept[-1] if k not in ("t", "w")}
    return out


@dataclass(frozen=True)
class GrowthLimits:
    """What the soak gate tolerates after warm-up, per hour (`rtcload run --soak-max-fd-per-h`).

    A series is judged as growing when even the low end of its slope (slope - 2 standard errors) is
    above the limit: calls starting and ending move the FD count by a few either way, which over a
    short window makes a large but uncertain slope; a real leak (issue 22 measured +27 FDs/h over 94
    minutes) stands well clear of it. Windows shorter than `min_window_s` are reported, not judged.
    RSS is judged only when asked: in a soak's first tens of minutes bounded structures still fill (the
    live view's history and values, Locust's statistics), so a default limit would fail short soaks.
    """

    fd_per_h: float = 4.0
    udp_per_h: float = 4.0
    mb_per_h: float | None = None  # RSS: reported, judged only when set (`--soak-max-mb-per-h`)
    min_window_s: float = 300.0


DEFAULT_LIMITS = GrowthLimits()


def growth_failures(slopes: dict[str, Any], limits: GrowthLimits = DEFAULT_LIMITS) -> list[str]:
    """Human-readable reasons the series grows beyond the limits (empty: flat, or too short to judge)."""
    if float(slopes.get("window_s") or 0.0) < limits.min_window_s:
        return []
    reasons = []
    for key, unit in (("fd_per_h", ""), ("udp_per_h", ""), ("mb_per_h", " MB")):
        value, limit = slopes.get(key), getattr(limits, key)
        if value is None or limit is None:
            continue
        low = value - 2 * float(slopes.get(key.replace("_per_h", "_se_per_h")) or 0.0)
        if low > limit:
            name = "rss" if key == "mb_per_h" else key.replace("_per_h", "")
            reasons.append(f"{name} {value:+.1f}{unit}/h (at least {low:+.1f}) > {limit:g}{unit}/h")
    return reasons
