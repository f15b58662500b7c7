"""Per-metric time series and distributions for the report: from the run's ledger (the same samples every
other output counts), or from Locust's `_stats_history.csv` for runs that have only Locust's files."""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path

from rtcload.results.ledger import SAMPLES_PART, SUMMARY_KEYS, percentile, read_samples
from rtcload.results.schema import BY_LOCUST

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


LEDGER_PERCENTILES = (50.0, 66.0, 75.0, 80.0, 90.0, 95.0, 98.0, 99.0, 99.9, 100.0)


def ledger_history(ledger: Path, users_from: RunHistory | None = None, bin_s: float = 2.0) -> RunHistory:
    """Series per metric from the ledger's samples, in bins of `bin_s`: interval means of the values,
    samples/s and failures/s. Users over time come from Locust's history (the ledger has no user count)."""
    samples = list(read_samples(ledger.glob(f"{SAMPLES_PART}.*.csv")))
    out = RunHistory()
    if users_from is not None:
        out.t, out.users = users_from.t, users_from.users
    if not samples:
        return out
    start = min(s["t"] for s in samples)
    bins: dict[str, dict[int, list[dict]]] = {}
    for s in samples:
        if s["key"] in SUMMARY_KEYS:
            bins.setdefault(s["key"], {}).setdefault(int((s["t"] - start) // bin_s), []).append(s)
    for key, by_bin in bins.items():
        series = out.metrics.setdefault(key, MetricHistory())
        for index in range(max(by_bin) + 1):
            group = by_bin.get(index, [])
            t = (index + 0.5) * bin_s
            values = [s["value"] for s in group if s["ok"] and s["value"] is not None]
            if values:
                series.t_mean.append(t)
                series.mean.append(sum(values) / len(values))
            series.t.append(t)
            series.rps.append(len(group) / bin_s)
            series.fps.append(sum(1 for s in group if not s["ok"]) / bin_s)
    return out


def ledger_distributions(ledger: Path) -> dict[str, list[tuple[float, float]]]:
    """Per metric: (percentile, value) from the raw samples of the ledger (nearest rank)."""
    values: dict[str, list[float]] = {}
    for s in read_samples(ledger.glob(f"{SAMPLES_PART}.*.csv")):
        if s["key"] in SUMMARY_KEYS and s["ok"] and s["value"] is not None:
            values.setdefault(s["key"], []).append(s["value"])
    out = {}
    for key, vals in values.items():
        ordered = sorted(vals)
        out[key] = [(p, percentile(ordered, p / 100.0)) for p in LEDGER_PERCENTILES]
    return out
