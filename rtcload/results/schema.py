"""The run summary's data contract: its schema tag, the statistics it holds and how Locust names them.

The summary is written by `rtcload run` (loadgen) and read by the gates, `rtcload compare` and the
reports; this module is the one place its shape is defined, so none of them imports another.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from rtcload.metrics.catalog import CATALOG, Measurement

SCHEMA = "rtcload.summary/1"  # bump when a field changes meaning or goes away (docs/ci.md)
# (summary key, Locust CSV column): the percentiles printed for every latency-like metric.
PERCENTILES = (("p50", "50%"), ("p95", "95%"), ("p99", "99%"))
# Read into the summary too (for SLOs and baselines) but not printed in the table.
EXTRA_COLUMNS = (("p90", "90%"), ("min", "Min Response Time"), ("max", "Max Response Time"))
# Higher is better for MOS: its bad tail is the low end, so it gets its own labelled columns.
MOS_COLUMNS = ("p50", "mean", "p5", "min")
STATISTICS = ("mean", "p5", "p50", "p90", "p95", "p99", "min", "max")
BY_LOCUST: dict[tuple[str | None, str | None], Measurement] = {
    (m.locust_type, m.locust_name): m for m in CATALOG if m.locust_type
}
# Exit codes of `rtcload run` (README, docs/ci.md): what a CI job branches on.
EXIT_OK = 0
EXIT_SLO_FAILED = 1
EXIT_USAGE = 2
EXIT_RUN_BROKEN = 3


def write_summary(summary: dict[str, Any], path: str | Path) -> None:
    Path(path).write_text(json.dumps(summary, indent=2, sort_keys=True) + "\n")


def load_summary(path: str | Path) -> dict[str, Any]:
    data = json.loads(Path(path).read_text())
    if not isinstance(data, dict):
        raise ValueError(f"{path}: not a run summary")
    return data
