"""Read Locust's `_stats_history.csv` (written with --csv-full-history) into per-metric time series."""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path

from rtcload.loadgen.summary import BY_LOCUST

# Locust's percentile columns in the stats CSV, in order (for distribution curves).
PERCENTILE_COLUMNS = ("50%", "66%", "75%", "80%", "90%", "95%", "98%", "99%", "99.9%", "100%")


@dataclass
class MetricHistory:
    """One metric over time: the mean of the samples recorded in each interval, in rtcload base units.

    Interval means come from differences of Locust's running totals (count x average), so they are
    exact per interval; Locust's own rolling percentile is blank for the first seconds of a run.
    """

    t: list[float] = field(default_factory=list)
    mean: list[float] = field(default_factory=list)  # one per interval that had samples (t_mean)
    t_mean: list[float] = field(default_factory=list)
    rps: list[float] = field(default_factory=list)
    fps: list[float] = field(default_factory=list)


@dataclass
class RunHistory:
    t: list[float] = field(default_factory=list)  # seconds since the first row
    users: list[float] = field(default_factory=list)
    metrics: dict[str, MetricHistory] = field(default_factory=dict)


def _float(text: str | None) -> float | None:
    try:
        return float(text) if text not in (None, "", "N/A") else None
    except ValueError:
        return None


def read_history(csv_prefix: str | Path) -> RunHistory:
    """Series per catalog metric from `<prefix>_stats_history.csv`; empty when the file is missing."""
    path = Path(f"{csv_prefix}_stats_history.csv")
    out = RunHistory()
    if not path.exists():
        return out
    with open(path, newline="") as handle:
        rows = list(csv.DictReader(handle))
    if not rows:
        return out
    start = min(float(r["Timestamp"]) for r in rows)
    totals: dict[str, tuple[float, float]] = {}
    for row in rows:
        t = float(row["Timestamp"]) - start
        if row["Name"] == "Aggregated":
            out.t.append(t)
            out.users.append(float(row["User Count"]))
            continue
        m = BY_LOCUST.get((row["Type"], row["Name"]))
        if m is None:
            continue
        series = out.metrics.setdefault(m.key, MetricHistory())
        count = _float(row["Total Request Count"]) or 0.0
        total = count * (_float(row["Total Average Response Time"]) or 0.0)
        last_count, last_total = totals.get(m.key, (0.0, 0.0))
        if count < last_count:  # statistics were reset (end of warm-up): start over
            last_count, last_total = 0.0, 0.0
        if count > last_count:
            series.t_mean.append(t)
            series.mean.append(m.from_locust_value((total - last_total) / (count - last_count)))
        totals[m.key] = (count, total)
        series.t.append(t)
        series.rps.append(_float(row["Requests/s"]) or 0.0)
        series.fps.append(_float(row["Failures/s"]) or 0.0)
    return out


def read_distributions(csv_prefix: str | Path) -> dict[str, list[tuple[float, float]]]:
    """Per metric: (percentile, value in base units) pairs from the final `<prefix>_stats.csv`."""
    path = Path(f"{csv_prefix}_stats.csv")
    out: dict[str, list[tuple[float, float]]] = {}
    if not path.exists():
        return out
    with open(path, newline="") as handle:
        for row in csv.DictReader(handle):
            m = BY_LOCUST.get((row.get("Type"), row.get("Name")))
            if m is None or row["Request Count"] == row["Failure Count"]:
                continue
            points = []
            for column in PERCENTILE_COLUMNS:
                value = _float(row.get(column))
                if value is not None:
                    points.append((float(column.rstrip("%")), m.from_locust_value(value)))
            out[m.key] = points
    return out
