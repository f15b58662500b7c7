"""The end-of-run summary: read Locust's CSV statistics back into rtcload's units and print them."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

from rtcload.metrics.catalog import CATALOG, SUMMARY_KEYS

SCHEMA = "rtcload.summary/1"  # bump when a field changes meaning or goes away (docs/ci.md)
PERCENTILES = (("p50", "50%"), ("p95", "95%"), ("p99", "99%"))
# Read into the summary too (for SLOs and baselines) but not printed in the table.
EXTRA_COLUMNS = (("p90", "90%"), ("min", "Min Response Time"), ("max", "Max Response Time"))
BY_LOCUST = {(m.locust_type, m.locust_name): m for m in CATALOG if m.locust_type}


def _num(text: str | None) -> float | None:
    if text in (None, "", "N/A"):
        return None
    try:
        return float(text)
    except ValueError:
        return None


def read_summary(csv_prefix: str | Path) -> dict[str, Any]:
    """Summary dict from `<prefix>_stats.csv` and `<prefix>_failures.csv` (Locust --csv output)."""
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
    lines = [f"{'metric':<18}{'count':>7}{'fail':>6}{'p50':>12}{'p95':>12}{'p99':>12}   (MOS: p50, mean, min)"]
    metrics = summary["metrics"]
    for key in SUMMARY_KEYS:
        m = metrics.get(key)
        if m is None:
            continue
        # Higher is better for MOS: its bad tail is the minimum, not p95/p99.
        columns = ("p50", "mean", "min") if m["unit"] == "mos" else tuple(p for p, _c in PERCENTILES)
        lines.append(
            f"{key:<18}{m['count']:>7}{m['failures']:>6}" + "".join(f"{_fmt(m.get(c), m['unit']):>12}" for c in columns)
        )
    calls = summary["calls"]
    ratio = calls["success_ratio"]
    lines.append("")
    lines.append(
        f"calls: {calls['answered']}/{calls['attempted']} answered"
        + ("" if ratio is None else f" ({ratio * 100:.1f} %)")
        + f"; registrations: {summary['registrations']['attempted']} ({summary['registrations']['failed']} failed)"
    )
    if summary["failures"]:
        lines.append("failures by cause:")
        lines += [f"  {f['count']:>5} x {f['name']}: {f['error']}" for f in summary["failures"][:10]]
    return "\n".join(lines)


def write_summary(summary: dict[str, Any], path: str | Path) -> None:
    Path(path).write_text(json.dumps(summary, indent=2, sort_keys=True) + "\n")
