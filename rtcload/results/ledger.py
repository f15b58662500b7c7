"""The ledger of a run: every sample and every call record, written by each Locust process as it happens.

Every output of `rtcload run` (summary.json, calls.csv, the report, JUnit, the gates) is computed
from these files, and the same samples feed Locust's statistics and Prometheus as they are fired,
so all outputs count the same calls, including those that end during Locust's graceful stop.
Percentiles come from the raw values here, not from histogram buckets.
"""

from __future__ import annotations

import csv
import math
from collections import Counter
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rtcload.metrics.catalog import CATALOG, Unit
from rtcload.results.schema import SCHEMA, STATISTICS

SAMPLE_COLUMNS = ("t", "key", "value", "ok", "error", "code", "cause", "outcome", "label")
SAMPLES_PART = "samples-part"  # per-process sample files: <results>/samples-part.<process>.csv
CALLS_PART = "calls-part"  # per-process call records, merged into calls.csv at the end
# what the summary's metrics table holds: Locust's timings and the quality samples (no Locust requests)
SUMMARY_KEYS = {m.key: m for m in CATALOG if m.locust_type or m.quality}
_QUANTILES = {"p5": 0.05, "p50": 0.5, "p90": 0.9, "p95": 0.95, "p99": 0.99}


class SampleWriter:
    """Appends one row per sample to this process' part file; flushed per row so a crash loses nothing."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        new = not self.path.exists() or self.path.stat().st_size == 0
        self._handle = open(self.path, "a", newline="")  # noqa: SIM115 - lives for the run
        self._writer = csv.writer(self._handle)
        if new:
            self._writer.writerow(SAMPLE_COLUMNS)
        self.rows = 0

    def write(self, t: float, key: str, value: float | None, error: str | None, **labels: str) -> None:
        row = [f"{t:.3f}", key, "" if value is None else repr(float(value)), "0" if error else "1", error or ""]
        row += [labels.get(k, "") for k in ("code", "cause", "outcome", "label")]
        self._writer.writerow(row)
        self._handle.flush()
        self.rows += 1

    def close(self) -> None:
        self._handle.close()


def read_samples(parts: Iterable[Path]) -> Iterator[dict[str, Any]]:
    for part in sorted(parts):
        with open(part, newline="") as handle:
            for row in csv.DictReader(handle):
                yield {
                    **row,
                    "t": float(row["t"]),
                    "value": float(row["value"]) if row["value"] else None,
                    "ok": row["ok"] == "1",
                }


def read_records(path: Path) -> list[dict[str, str]]:
    if not path.exists():
        return []
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def percentile(ordered: list[float], q: float) -> float:
    """Nearest-rank percentile of sorted raw values: always a value that was measured."""
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


def statistics(values: list[float]) -> dict[str, float | None]:
    ordered = sorted(values)
    if not ordered:
        return dict.fromkeys(STATISTICS)
    out: dict[str, float | None] = {key: percentile(ordered, q) for key, q in _QUANTILES.items()}
    # fsum, then clamped: a plain sum of n equal values can divide back to one ulp above them (mean > max)
    mean = min(max(math.fsum(ordered) / len(ordered), ordered[0]), ordered[-1])
    out.update({"mean": mean, "min": ordered[0], "max": ordered[-1]})
    return out


def iso_utc(unix_s: float) -> str:
    """ISO 8601 UTC with milliseconds: what calls.csv writes, sortable and unambiguous."""
    return datetime.fromtimestamp(unix_s, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def record_time(record: dict[str, str], column: str) -> float:
    text = record.get(column) or ""
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp() if text else 0.0


def call_outcome_cause(record: dict[str, str]) -> str:
    """Why a failed call failed, as the failure tables show it: the hangup cause, else the error code."""
    return record.get("cause") or record.get("error_code") or "unknown"


def parse_kinds(text: str | None) -> dict[str, int]:
    """`empty:3;replayed:1` (calls.csv's rx_rejected_kinds) back to counts; malformed parts are skipped."""
    out: Counter[str] = Counter()
    for part in (text or "").split(";"):
        kind, _, count = part.partition(":")
        if kind and count.isdigit():
            out[kind] += int(count)
    return dict(out)


def datagram_summary(records: list[dict[str, str]]) -> dict[str, Any]:
    """Stray datagrams the generator's calls dropped at their media ports (calls.csv rx_rejected_kinds)."""
    kinds: Counter[str] = Counter()
    for r in records:
        kinds.update(parse_kinds(r.get("rx_rejected_kinds")))
    return {
        "total": sum(kinds.values()),
        "calls": sum(1 for r in records if parse_kinds(r.get("rx_rejected_kinds"))),
        "by_kind": dict(sorted(kinds.items())),
    }


def stale_stamps(records: list[dict[str, str]]) -> int:
    """Datagrams stamped at the socket callback because their kernel stamp was unusable (calls.csv)."""
    return sum(int(r.get("rx_stale_stamps") or 0) for r in records if (r.get("rx_stale_stamps") or "0").isdigit())


def had_media(record: dict[str, str]) -> bool:
    """RTP arrived on the call's media, or on a media object a recovery replaced (a call rebuilt just
    before its hangup has no RTP on the last one, yet it had media)."""
    return bool(record.get("first_rtp_s")) or record.get("rtp_before_recovery") == "yes"


def build_summary(
    samples: Iterable[dict[str, Any]], records: list[dict[str, str]], since: float = 0.0
) -> dict[str, Any]:
    """The run summary from the ledger; samples (and calls decided) before `since` (warm-up) are left out."""
    values: dict[str, list[float]] = {}
    counts: Counter[str] = Counter()
    fails: Counter[str] = Counter()
    failures: Counter[tuple[str, str]] = Counter()
    decided: Counter[str] = Counter()
    warm: Counter[str] = Counter()  # registrations the warm-up left out: the `registered` gate still judges them
    for s in samples:
        if s["t"] < since and s["key"] == "registration":
            warm["attempted"] += 1
            warm["failed"] += 0 if s["ok"] else 1
        if s["t"] < since or s["key"] not in SUMMARY_KEYS:
            continue
        key = s["key"]
        counts[key] += 1
        if s["outcome"]:
            decided[s["outcome"]] += 1
        if s["ok"]:
            if s["value"] is not None:
                values.setdefault(key, []).append(s["value"])
        else:
            fails[key] += 1
            failures[(SUMMARY_KEYS[key].locust_name or key, s["error"])] += 1
    metrics: dict[str, dict[str, Any]] = {}
    for key in counts:
        entry: dict[str, Any] = {"count": counts[key], "failures": fails[key], "unit": str(SUMMARY_KEYS[key].unit)}
        entry.update(statistics(values.get(key, [])))
        metrics[key] = entry
    counted = [r for r in records if not since or record_time(r, "ended_at") >= since]
    answered = sum(1 for r in counted if r["outcome"] == "answered")
    interrupted = sum(1 for r in counted if r["outcome"] == "interrupted")
    failed = Counter(call_outcome_cause(r) for r in counted if r["outcome"] == "failed")
    attempted = len(counted)
    judged = attempted - interrupted  # calls the generator cut short at its stop are no verdict on the target
    media_calls = [r for r in counted if r["outcome"] == "answered" and r.get("codec")]
    registrations: dict[str, Any] = {
        "attempted": counts["registration"],
        "failed": fails["registration"],
        "succeeded": counts["registration"] - fails["registration"],
    }
    calls: dict[str, Any] = {}
    if since:
        registrations["in_warmup"] = {"attempted": warm["attempted"], "failed": warm["failed"]}
        early = [r for r in records if record_time(r, "ended_at") < since and r["outcome"] != "interrupted"]
        calls["in_warmup"] = {
            "attempted": len(early),
            "answered": sum(1 for r in early if r["outcome"] == "answered"),
        }
    return {
        "schema": SCHEMA,
        "metrics": metrics,
        "calls": {
            "attempted": attempted,
            "answered": answered,
            "failed": judged - answered,
            "interrupted": interrupted,
            "failed_by_cause": dict(sorted(failed.items())),
            "success_ratio": (answered / judged) if judged else None,
            "with_media": sum(1 for r in media_calls if had_media(r)),
            "without_media": sum(1 for r in media_calls if not had_media(r)),
            "decided_samples": dict(decided),
            "rx_rejected": datagram_summary(counted),
            "rx_stale_stamps": stale_stamps(counted),
            **calls,
        },
        "registrations": registrations,
        "failures": [
            {"name": name, "error": error, "count": n}
            for (name, error), n in sorted(failures.items(), key=lambda item: (-item[1], item[0]))
        ],
    }


def format_stat(value: float | None, unit: str) -> str:
    if value is None:
        return "-"
    if unit == Unit.SECONDS:
        return f"{value * 1000:.1f} ms"
    if unit == Unit.RATIO:
        return f"{value * 100:.2f} %"
    return f"{value:.2f}"
