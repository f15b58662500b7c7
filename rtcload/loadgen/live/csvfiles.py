"""The quality figures as CSV beside Locust's own (`--csv PREFIX`): where the old QUALITY rows went.

Quality samples used to be Locust requests of type QUALITY (MOS x100, loss in permille, RTT and jitter in
whole ms) in `PREFIX_stats.csv` and `PREFIX_stats_history.csv`. They are now written, in base units
(seconds, ratio, MOS) and with sub-millisecond precision, to:
  PREFIX_quality.csv          final figures per metric (what summary.json says for the same samples)
  PREFIX_quality_history.csv  one row per metric per live-view tick: the run-so-far figures over time
"""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

from rtcload.metrics.catalog import measurement

STAT_COLUMNS = ("count", "failures", "mean", "p5", "p50", "p95", "p99", "min", "max")
FINAL_COLUMNS = ("name", "unit", *STAT_COLUMNS)
HISTORY_COLUMNS = ("timestamp", "users", "in_progress", "answered", "failed", *FINAL_COLUMNS)


def _cell(value: Any) -> str:
    if value is None:
        return ""
    return repr(value) if isinstance(value, float) else str(value)


def quality_rows(metrics: dict[str, dict[str, Any]]) -> list[dict[str, str]]:
    return [
        {"name": key, "unit": str(entry.get("unit", "")), **{c: _cell(entry.get(c)) for c in STAT_COLUMNS}}
        for key, entry in metrics.items()
    ]


def write_final(path: str | Path, metrics: dict[str, dict[str, Any]]) -> None:
    with open(path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=FINAL_COLUMNS)
        writer.writeheader()
        writer.writerows(quality_rows(metrics))


class HistoryWriter:
    """Appends the run-so-far figures of each tick (header once), flushed per tick."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._handle = open(self.path, "w", newline="")  # noqa: SIM115 - lives for the run
        self._writer = csv.DictWriter(self._handle, fieldnames=HISTORY_COLUMNS)
        self._writer.writeheader()

    def write(self, unix_t: float, point: dict[str, Any]) -> None:
        self._writer.writerows(history_rows(unix_t, point))
        self._handle.flush()

    def close(self) -> None:
        self._handle.close()


def history_rows(unix_t: float, point: dict[str, Any]) -> list[dict[str, str]]:
    """One row per metric of a live-view point, with the call counts of that moment."""
    calls = point.get("calls") or {}
    common = {
        "timestamp": f"{unix_t:.3f}",
        "users": _cell(point.get("users")),
        "in_progress": _cell(calls.get("in_progress")),
        "answered": _cell(calls.get("answered")),
        "failed": _cell(calls.get("failed")),
    }
    return [{**common, **row} for row in quality_rows(point.get("metrics") or {})]


def history_text(points: list[dict[str, Any]], started: float) -> str:
    """The history CSV of the points held in memory (the web UI's download)."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=HISTORY_COLUMNS)
    writer.writeheader()
    for point in points:
        writer.writerows(history_rows(started + point["t"], point))
    return out.getvalue()


def read_final(path: str | Path) -> dict[str, dict[str, Any]]:
    """`PREFIX_quality.csv` back into summary metrics entries (base units); empty when the file is missing."""
    path = Path(path)
    if not path.exists():
        return {}
    out: dict[str, dict[str, Any]] = {}
    with open(path, newline="") as handle:
        for row in csv.DictReader(handle):
            measurement(row["name"])  # a name this version does not know is an error, not a silent row
            entry: dict[str, Any] = {"unit": row["unit"]}
            for column in STAT_COLUMNS:
                text = row.get(column) or ""
                entry[column] = None if text == "" else (int(text) if column in ("count", "failures") else float(text))
            out[row["name"]] = entry
    return out
