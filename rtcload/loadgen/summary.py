"""The end-of-run summary as printed; and Locust's CSV statistics read back into rtcload's units.

`rtcload run` builds its summary from the ledger (rtcload.results.ledger); `read_summary` remains for
plain Locust runs and benches that have only Locust's CSV files.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

from rtcload.loadgen.live.csvfiles import read_final
from rtcload.metrics.catalog import SUMMARY_KEYS
from rtcload.results.schema import BY_LOCUST, EXTRA_COLUMNS, MOS_COLUMNS, PERCENTILES, SCHEMA, write_summary

__all__ = ["read_summary", "render_summary", "write_summary"]


def _num(text: str | None) -> float | None:
    if text in (None, "", "N/A"):
        return None
    try:
        return float(text)
    except ValueError:
        return None


def read_summary(csv_prefix: str | Path) -> dict[str, Any]:
    """Summary dict from `<prefix>_stats.csv`, `<prefix>_quality.csv` and `<prefix>_failures.csv` (--csv output)."""
    prefix = str(csv_prefix)
    metrics: dict[str, dict[str, Any]] = {}
    with open(f"{prefix}_stats.csv", newline="") as handle:
        for row in csv.DictReader(handle):
            m = BY_LOCUST.get((row.get("Type"), row.get("Name")))
            if m is None:
                continue
            entry: dict[str, Any] = {
                "count": int(row["Request Count"]),
                "failures": int(row["Failure Count"]),
                "unit": str(m.unit),
                "mean": None if (v := _num(row["Average Response Time"])) is None else m.from_locust_value(v),
            }
            for key, column in (*PERCENTILES, *EXTRA_COLUMNS):
                value = _num(row.get(column))
                entry[key] = (
                    None if value is None or entry["count"] == entry["failures"] else m.from_locust_value(value)
                )
            metrics[m.key] = entry
    # quality samples are no Locust requests: their figures are in PREFIX_quality.csv (rtcload.loadgen.live)
    for key, entry in read_final(f"{prefix}_quality.csv").items():
        metrics.setdefault(key, entry)
    failures: list[dict[str, Any]] = []
    failures_path = Path(f"{prefix}_failures.csv")
    if failures_path.exists():
        with open(failures_path, newline="") as handle:
            for row in csv.DictReader(handle):
                failures.append({"name": row["Name"], "error": row["Error"], "count": int(row["Occurrences"])})
    failures.sort(key=lambda f: -f["count"])
    setup = metrics.get("call_setup", {})
    attempts = setup.get("count", 0)
    ok = attempts - setup.get("failures", 0)
    return {
        "schema": SCHEMA,
        "metrics": metrics,
        "calls": {"attempted": attempts, "answered": ok, "success_ratio": (ok / attempts) if attempts else None},
        "registrations": {
            "attempted": metrics.get("registration", {}).get("count", 0),
            "failed": metrics.get("registration", {}).get("failures", 0),
        },
        "failures": failures,
    }


def _fmt(value: float | None, unit: str) -> str:
    if value is None:
        return "-"
    if unit == "seconds":
        return f"{value * 1000:.1f} ms"
    if unit == "ratio":
        return f"{value * 100:.2f} %"
    return f"{value:.2f}"


def render_summary(summary: dict[str, Any]) -> str:
    """The table a person reads; MOS (higher is better, its bad tail is the low end) gets its own columns."""
    head = f"{'metric':<18}{'count':>7}{'fail':>6}"
    lines = [head + "".join(f"{p:>12}" for p, _c in PERCENTILES)]
    metrics = summary["metrics"]
    mos_rows = []
    for key in SUMMARY_KEYS:
        m = metrics.get(key)
        if m is None:
            continue
        columns = MOS_COLUMNS if m["unit"] == "mos" else tuple(p for p, _c in PERCENTILES)
        row = f"{key:<18}{m['count']:>7}{m['failures']:>6}" + "".join(
            f"{_fmt(m.get(c), m['unit']):>12}" for c in columns
        )
        (mos_rows if m["unit"] == "mos" else lines).append(row)
    if mos_rows:
        lines += ["", head + "".join(f"{c:>12}" for c in MOS_COLUMNS), *mos_rows]
    calls = summary["calls"]
    ratio = calls["success_ratio"]
    lines.append("")
    lines.append(
        f"calls: {calls['answered']}/{calls['attempted']} answered"
        + ("" if ratio is None else f" ({ratio * 100:.1f} %)")
        + f"; registrations: {summary['registrations']['attempted']} ({summary['registrations']['failed']} failed)"
    )
    if calls.get("failed_by_cause"):
        lines.append("failed calls by cause: " + ", ".join(f"{n} x {c}" for c, n in calls["failed_by_cause"].items()))
    if summary["failures"]:
        lines.append("failures by cause:")
        lines += [f"  {f['count']:>5} x {f['name']}: {f['error']}" for f in summary["failures"][:10]]
    return "\n".join(lines)
