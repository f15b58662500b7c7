"""The worst calls so far: answered calls ranked by MOS (then loss, then jitter), with their calls.csv row.

A call that was answered but rated no MOS (no RTP came back) ranks worst of all. Calls refused before
answer are not here: the view counts them by cause. Each entry keeps the call's calls.csv row (same
columns, same formatting) so the view can link the call to its row; calls.csv is merged only at the end.
Optional fields (an audio score, a recording) are carried when a record has them: the view shows their
column as soon as one entry has a value.
"""

from __future__ import annotations

import heapq
from typing import Any

from rtcload.loadgen.records import csv_row

# Shown when present in a record (the audio score and recording of the audio-scoring issue, not yet written).
OPTIONAL_FIELDS = ("audio_score", "audio_mos", "recording")
SHOWN = (
    "call_id",
    "started_at",
    "user",
    "destination",
    "mos_mean",
    "mos_min",
    "loss_ratio_mean",
    "jitter_mean_s",
    "rtt_mean_s",
    "verdict",
    "cause",
)


def _num(value: Any) -> float | None:
    try:
        return None if value in (None, "") else float(value)
    except (TypeError, ValueError):
        return None


def badness(entry: dict[str, Any]) -> tuple[float, float, float]:
    """Sort key, larger = worse: no MOS is the worst, then lower MOS, then more loss, then more jitter."""
    mos = _num(entry.get("mos_mean"))
    return (
        -(mos if mos is not None else 0.0),
        _num(entry.get("loss_ratio_mean")) or 0.0,
        _num(entry.get("jitter_mean_s")) or 0.0,
    )


def entry_of(row: dict[str, Any], process: str) -> dict[str, Any] | None:
    """The table entry of one call record, or None when the call never got as far as media."""
    if row.get("outcome") not in ("answered", "interrupted") or not row.get("call_id"):
        return None
    entry: dict[str, Any] = {key: row.get(key) for key in SHOWN}
    entry["cause"] = row.get("cause") or row.get("error_code") or row.get("ended_by") or ""
    entry["process"] = process
    for key in OPTIONAL_FIELDS:
        if row.get(key) not in (None, ""):
            entry[key] = row[key]
    entry["row"] = {**csv_row(row), **{k: row[k] for k in OPTIONAL_FIELDS if k in row}}
    return entry


class WorstCalls:
    """The `n` worst entries seen (a bounded heap); `take` hands over the worst since the last take."""

    def __init__(self, n: int = 20) -> None:
        self.n = n
        self._heap: list[tuple[tuple[float, float, float], int, dict[str, Any]]] = []
        self._seq = 0

    def offer(self, row: dict[str, Any], process: str = "") -> None:
        """A call record of this process."""
        entry = entry_of(row, process)
        if entry is not None:
            self._push(entry)

    def _push(self, entry: dict[str, Any]) -> None:
        self._seq += 1
        item = (badness(entry), self._seq, entry)
        if len(self._heap) < self.n:
            heapq.heappush(self._heap, item)
        elif item[0] > self._heap[0][0]:
            heapq.heapreplace(self._heap, item)

    def merge(self, entries: list[dict[str, Any]]) -> None:
        """Entries already built by a collector (from a worker's report)."""
        for entry in entries:
            self._push(entry)

    def ranked(self) -> list[dict[str, Any]]:
        """Worst first."""
        return [entry for _k, _s, entry in sorted(self._heap, key=lambda item: (item[0], -item[1]), reverse=True)]

    def take(self) -> list[dict[str, Any]]:
        out = self.ranked()
        self._heap.clear()
        return out

    def find(self, call_id: str) -> dict[str, Any] | None:
        return next((entry for _k, _s, entry in self._heap if entry.get("call_id") == call_id), None)
