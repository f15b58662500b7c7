"""Run a load generator while sampling its CPU, so a verdict can tell a saturated generator from a broken target."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import IO, Any

import psutil

# One Locust process is one Python interpreter: past ~90 % of a core its timings measure itself.
SATURATED_CPU_PERCENT = 90.0


@dataclass(frozen=True)
class GeneratorLoad:
    processes: int  # Locust processes watched (a master and its workers, or one local process)
    cpu_mean: float  # % of one core, the busiest Locust process, averaged over the run
    cpu_max: float  # % of one core, the busiest Locust process, highest sample
    samples: int
    # from the Locust processes' own health (their media send clock and loop lag), when they wrote it
    send_late_p99_s: float | None = None
    loop_lag_p95_s: float | None = None
    clock_saturated: bool = False  # some process's clock tail was late: figures include its own delay
    clock_saturated_whole_run: bool = False  # some process's median tick or wake-up was late
    engine: str | None = None  # the media engine's per-packet path in the processes: native, python (or both)
    # every process that ran users (the local process, or each worker): its own health record
    # (process_health.py), plus `cpu_watched_mean` sampled from outside; `busiest` names the one with most CPU
    per_process: tuple[dict[str, Any], ...] = ()
    busiest: str | None = None
    gc: dict[str, Any] | None = None  # garbage-collection pauses over those processes (gc_pauses.merge_gc)
    cpu_by_pid: dict[int, float] = field(default_factory=dict)  # % of a core, mean over the run, per pid

    @property
    def saturated(self) -> bool:
        return self.cpu_mean >= SATURATED_CPU_PERCENT or self.clock_saturated

    @property
    def saturated_whole_run(self) -> bool:
        """Could not keep up at all (what the `generator` gate fails a run for), not only in its tail."""
        return self.cpu_mean >= SATURATED_CPU_PERCENT or self.clock_saturated_whole_run

    def to_json(self) -> dict[str, Any]:
        fields = asdict(self)
        fields.pop("cpu_by_pid")
        fields["per_process"] = list(self.per_process)
        return {
            **fields,
            "saturated": self.saturated,
            "saturated_whole_run": self.saturated_whole_run,
            "threshold": SATURATED_CPU_PERCENT,
        }


def run_watched(
    cmd: list[str],
    out: IO[str] | None,
    interval_s: float = 1.0,
    start: Callable[..., subprocess.Popen[Any]] = subprocess.Popen,
) -> tuple[int, GeneratorLoad]:
    """Run `cmd` to completion (stdout+stderr to `out`); sample each Locust process's CPU every interval.

    `start` launches it (rtcload run passes its process group's, so signals reach it in order)."""
    proc = start(cmd, stdout=out, stderr=subprocess.STDOUT if out is not None else None)
    watched: dict[int, psutil.Process] = {}
    totals: dict[int, list[float]] = {}
    try:
        root = psutil.Process(proc.pid)
    except psutil.NoSuchProcess:
        root = None
    while True:
        try:
            code = proc.wait(timeout=interval_s)
            break
        except subprocess.TimeoutExpired:
            pass
        if root is None:
            continue
        try:
            family = [root, *root.children(recursive=True)]
        except psutil.NoSuchProcess:
            continue
        for p in family:
            try:
                if p.pid not in watched:
                    watched[p.pid] = p
                    p.cpu_percent(None)  # first call only primes the counter
                    continue
                # the cached object: children() returns new ones, whose first cpu_percent() is always 0.0
                # (every worker of --processes N read 0 % CPU that way)
                totals.setdefault(p.pid, []).append(watched[p.pid].cpu_percent(None))
            except psutil.NoSuchProcess:
                continue
    busiest = max(totals.values(), key=lambda s: sum(s) / len(s), default=[])
    load = GeneratorLoad(
        processes=max(1, len(watched)),
        cpu_mean=round(sum(busiest) / len(busiest), 1) if busiest else 0.0,
        cpu_max=round(max(busiest), 1) if busiest else 0.0,
        samples=len(busiest),
        cpu_by_pid={pid: round(sum(s) / len(s), 1) for pid, s in totals.items() if s},
    )
    return code, load
