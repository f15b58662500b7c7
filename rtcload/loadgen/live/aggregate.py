"""The master's (or a local runner's) half of the live view: every process's reports, reduced to points.

Values are kept raw (8 bytes each, up to a cap per metric: live/values.py) and reduced with the ledger's
nearest-rank percentile over the whole run so far, so the latest point is what summary.json will say for
the same samples. A point is taken
every tick (2 s); the history keeps at most MAX_POINTS (older halves are thinned) so a long soak stays
bounded. A point is ~2.6 KB (every metric's percentiles): 1,800 points took an hour to fill and grew
the generator ~4.6 MB over a soak's first hour (issue 22, a tracemalloc diff). 300 points (~0.8 MB) fill
in 10 minutes, a soak's warm-up, and keep the last 5 minutes at full resolution and the rest of the run
thinned: still more points than a chart has pixels to spare.
Gauges (calls in progress, offered CPS) are each process's latest value, summed; call outcomes
and samples are counted as they arrive.
"""

from __future__ import annotations

import time
from collections import Counter
from typing import Any

from rtcload.loadgen.live.collector import LIVE_KEYS
from rtcload.loadgen.live.values import ValueStore
from rtcload.loadgen.live.worst import OPTIONAL_FIELDS, SHOWN, WorstCalls
from rtcload.metrics.catalog import measurement

SCHEMA = "rtcload.live/1"
MAX_POINTS = 300
CPS_WINDOW_S = 10.0  # achieved CPS now: attempts placed over the last 10 s
MAX_SHARE = 0.05  # at most 5 % of the master's time goes to recomputing percentiles


class LiveAggregate:
    """All processes' reports since the test started; `tick` appends a point to the history."""

    def __init__(self, worst_n: int = 20) -> None:
        self.worst_n = worst_n
        self.reset()

    def reset(self, now: float | None = None) -> None:
        self.started = time.time() if now is None else now
        self.values: dict[str, ValueStore] = {key: ValueStore() for key in LIVE_KEYS}
        self.samples: Counter[str] = Counter()
        self.failures: Counter[str] = Counter()
        self.outcomes: Counter[str] = Counter()
        self.causes: Counter[str] = Counter()
        self.gauges: dict[str, dict[str, float]] = {}  # process -> latest gauges/counters
        self.health: dict[str, dict[str, Any]] = {}  # process -> latest health figures
        self.worst = WorstCalls(self.worst_n)
        self.points: list[dict[str, Any]] = []
        self.seq = 0
        self._placed: list[tuple[float, float]] = []  # (t, placed) for the achieved-CPS window
        self._placed_base: dict[str, float] = {}  # counters at the reset: the run's CPS counts from there
        self._cached: dict[str, dict[str, Any]] | None = None
        self._cached_at = 0.0
        self._cost = 0.0

    def merge(self, report: dict[str, Any], process: str | None = None) -> bool:
        """One process's report (from a worker's stats message, or the local collector); True when it
        carried samples, outcomes or worst calls (not only gauges and health, which every report has)."""
        tag = process or str(report.get("tag") or "local")
        for key, values in (report.get("values") or {}).items():
            if key in self.values:
                self.values[key].extend(values)
        self.samples.update(report.get("samples") or {})
        self.failures.update(report.get("failures") or {})
        self.outcomes.update(report.get("outcomes") or {})
        self.causes.update(report.get("causes") or {})
        gauges = dict(report.get("gauges") or {})
        self._placed_base.setdefault(tag, gauges.get("placed", 0.0))
        self.gauges[tag] = gauges
        self.health[tag] = dict(report.get("health") or {})
        self.worst.merge(list(report.get("worst") or []))
        return bool(report.get("samples") or report.get("outcomes") or report.get("worst"))

    def _sum(self, field: str) -> float | None:
        values = [g[field] for g in self.gauges.values() if field in g]
        return sum(values) if values else None

    def calls(self) -> dict[str, Any]:
        """The summary's `calls` figures from the records so far, plus calls in progress now."""
        answered = self.outcomes["answered"]
        interrupted = self.outcomes["interrupted"]
        attempted = sum(self.outcomes.values())
        judged = attempted - interrupted
        return {
            "in_progress": self._sum("in_progress"),
            "attempted": attempted,
            "answered": answered,
            "failed": judged - answered,
            "interrupted": interrupted,
            "failed_by_cause": dict(sorted(self.causes.items())),
            "success_ratio": (answered / judged) if judged else None,
        }

    def cps(self, now: float) -> dict[str, Any] | None:
        """Offered (the plan, summed over schedulers) vs achieved (attempts placed) CPS; None when closed-model."""
        offered = self._sum("offered_cps")
        placed_total = self._sum("placed")
        if not offered and not placed_total:  # the gauges exist in every process; only --cps sets them
            return None
        placed = (placed_total or 0.0) - sum(self._placed_base.values())
        self._placed.append((now, placed))
        while len(self._placed) > 2 and self._placed[1][0] <= now - CPS_WINDOW_S:
            self._placed.pop(0)
        t0, p0 = self._placed[0]
        return {
            "offered": offered,
            "achieved": (placed - p0) / (now - t0) if now > t0 else None,
            "placed": placed,
            "refused_limit": self._sum("refused_limit"),
            "refused_pool": self._sum("refused_pool"),
        }

    def health_max(self) -> dict[str, float]:
        """Every numeric health figure, the worst (max) over processes: the chart's series."""
        out: dict[str, float] = {}
        for figures in self.health.values():
            for key, value in figures.items():
                if isinstance(value, bool | int | float):
                    out[key] = max(out.get(key, float("-inf")), float(value))
        return out

    def metrics(self) -> dict[str, dict[str, Any]]:
        out = {}
        for key in LIVE_KEYS:
            if not self.samples[key]:
                continue
            entry: dict[str, Any] = {
                "count": self.samples[key],
                "failures": self.failures[key],
                "unit": str(measurement(key).unit),
            }
            entry.update(self.values[key].statistics())
            out[key] = entry
        return out

    def current_metrics(self, exact: bool = False) -> dict[str, dict[str, Any]]:
        """`metrics()`, recomputed at most once per MAX_SHARE of the time it costs: a long run's millions of
        values must not make the master busy (1M values x 6 metrics: ~0.2 s); `exact` always recomputes."""
        now = time.monotonic()
        if exact or self._cached is None or now - self._cached_at >= self._cost / MAX_SHARE:
            self._cached = self.metrics()
            self._cost, self._cached_at = time.monotonic() - now, now
        return self._cached

    def tick(self, now: float | None = None, users: int | None = None, exact: bool = False) -> dict[str, Any]:
        """A point now: metrics over the run so far, calls, CPS, health; appended to the (bounded) history."""
        now = time.time() if now is None else now
        self.seq += 1
        point = {
            "seq": self.seq,
            "t": round(now - self.started, 3),
            "users": users if users is not None else self._sum("users"),
            "metrics": self.current_metrics(exact),
            "calls": self.calls(),
            "cps": self.cps(now),
            "health": self.health_max(),
        }
        self.points.append(point)
        if len(self.points) > MAX_POINTS:  # thin the older half: every other point goes
            half = len(self.points) // 2
            self.points = self.points[:half:2] + self.points[half:]
        return point

    def worst_table(self) -> dict[str, Any]:
        rows = [{k: v for k, v in e.items() if k != "row"} for e in self.worst.ranked()]
        optional = [k for k in OPTIONAL_FIELDS if any(r.get(k) not in (None, "") for r in rows)]
        return {"columns": [*SHOWN, *optional, "process"], "rows": rows}

    def snapshot(self, since: int = 0, state: str = "") -> dict[str, Any]:
        """The view's data: the points after `since` (seq), the latest point, processes' health, worst calls."""
        return {
            "schema": SCHEMA,
            "state": state,
            "started": self.started,
            "points": [p for p in self.points if p["seq"] > since],
            "latest": self.points[-1] if self.points else None,
            "processes": self.health,
            "worst": self.worst_table(),
        }
