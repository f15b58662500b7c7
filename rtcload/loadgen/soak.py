"""Soak machinery for Locust runs: a fault schedule driven against the emulator's control channel
and a leak watch over the generator's own resources.

Fault spec: `every=10s,action=drop,share=0.3; every=45s,action=half_open,share=0.1;
every=120s,action=restart,keep_sessions=1` - each clause repeats on its own period, bounded by the
run (the schedule stops with the test).
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from rtcload.emulator.control import ACTIONS, send_control
from rtcload.loadgen.resources import DEFAULT_TOLERANCE, ResourceSample, Tolerance, growth, leaks, take_sample
from rtcload.options.kinds import parse_bool, parse_duration

log = logging.getLogger("rtcload.loadgen")


@dataclass(frozen=True)
class FaultClause:
    every_s: float
    action: str
    params: dict[str, Any] = field(default_factory=dict)


def parse_fault_schedule(spec: str) -> list[FaultClause]:
    clauses: list[FaultClause] = []
    for raw in (c.strip() for c in spec.split(";") if c.strip()):
        fields = dict(part.strip().split("=", 1) for part in raw.split(",") if "=" in part)
        if "every" not in fields or "action" not in fields:
            raise ValueError(f"fault clause {raw!r} needs every= and action=")
        action = fields.pop("action")
        if action not in ACTIONS:
            raise ValueError(f"unknown fault action {action!r}; known: {', '.join(ACTIONS)}")
        every = parse_duration(fields.pop("every"), "--rtc-faults every")
        if every <= 0:
            raise ValueError(f"fault clause {raw!r}: every must be > 0")
        params: dict[str, Any] = {}
        if "keep_sessions" in fields:  # a boolean word (`keep_sessions=no` is off, not the truthy string "no")
            params["keep_sessions"] = parse_bool(fields.pop("keep_sessions"), "--rtc-faults keep_sessions")
        for key, value in fields.items():
            try:
                params[key] = float(value)
            except ValueError:
                params[key] = value
        clauses.append(FaultClause(every, action, params))
    return clauses


async def run_fault_schedule(url: str, token: str, clauses: list[FaultClause], applied: list[dict[str, Any]]) -> None:
    """Run every clause on its own period until cancelled; results are appended to `applied`."""

    async def one(clause: FaultClause) -> None:
        while True:
            await asyncio.sleep(clause.every_s)
            started = time.time()  # wall clock: calls.csv's socket losses are matched against it
            try:
                result = await send_control(url, token, clause.action, **clause.params)
                applied.append({"action": clause.action, "t_start": started, "t_end": time.time(), **result})
            except Exception as exc:  # the platform may be mid-restart; the next period tries again
                log.warning("fault %s failed: %r", clause.action, exc)
                applied.append({"action": clause.action, "error": type(exc).__name__})

    await asyncio.gather(*(one(c) for c in clauses))


class ResourceWatch:
    """Samples the generator's resources every `interval_s` on the asyncio thread."""

    def __init__(self, interval_s: float = 5.0) -> None:
        self.interval_s = interval_s
        self.samples: list[ResourceSample] = []

    async def run(self) -> None:
        while True:
            self.samples.append(take_sample())
            await asyncio.sleep(self.interval_s)

    def rows(self) -> list[dict[str, Any]]:
        """The samples as dicts (the ledger's `resources.<tag>.json`; soak_summary fits the slopes)."""
        return [asdict(s) for s in self.samples]

    def report(self, tolerance: Tolerance = DEFAULT_TOLERANCE) -> dict[str, Any]:
        settle = 1 if len(self.samples) > 2 else 0
        return {
            "samples": len(self.samples),
            "growth": growth(self.samples, settle),
            "leaks": leaks(self.samples, tolerance, settle),
            "rss_mb_series": [round(s.rss_bytes / 2**20, 1) for s in self.samples],  # to tell warm-up from a leak
            "first": self.samples[settle].__dict__ if self.samples else None,
            "last": self.samples[-1].__dict__ if self.samples else None,
        }


def write_report(path: str, report: dict[str, Any]) -> None:
    Path(path).write_text(json.dumps(report, indent=2, default=str) + "\n")
