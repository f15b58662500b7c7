"""Per-call records: one row per call with its timings, outcome and quality, for CSV and reports.

A record may carry the call id and destination (it is a file, not a metric label).
"""

from __future__ import annotations

import csv
import time
from pathlib import Path
from typing import Any

from rtcload.results.ledger import iso_utc
from rtcload.signaling import Call

COLUMNS = (
    "started_at",
    "ended_at",
    "call_id",
    "user",
    "direction",
    "destination",
    "outcome",
    "cause",
    "cause_code",
    "sip_code",
    "ended_by",
    "post_dial_delay_s",
    "call_setup_s",
    "inbound_answer_s",
    "first_rtp_s",
    "first_audio_s",
    "hangup_s",
    "duration_s",
    "codec",
    "ice_local",
    "ice_remote",
    "turn_allocation_s",
    "mos_mean",
    "mos_min",
    "mos_send_mean",
    "sdk_mos_mean",
    "r_mean",
    "rtt_mean_s",
    "jitter_mean_s",
    "loss_ratio_mean",
    "burst_r_mean",
    "verdict",
    "sdk_warnings",
    "reattaches",
    "media_gaps_s",
    "rx_rejected",
    "rx_rejected_kinds",
    "rx_stale_stamps",
    "send_gap_max_ms",  # the generator's own send timing (engine path): largest interval between our packets
    "send_gaps_over_30ms",  # intervals over the gap threshold (30 ms unless set otherwise)
    "send_drops",  # packets our socket refused or forwards too big to send: never the platform's loss
    "send_gap_starts",  # Unix seconds each of the latest gaps began, ';'-separated (the run's worst instant)
    "rtp_before_recovery",
    "socket_lost_at",
    "lost_before_answer",
    "fault",
    "fault_expected",
    "error",
    "error_code",
    # --- audio scores (issue 24, rtcload/loadgen/audio_calls.py): set on scored calls only
    "audio_mos",  # 1..5; what the method says (visqol-speech: MOS-LQO; plcmos: no-reference)
    # visqol-speech | plcmos | silent, or why none: too_short, not_speech (a tone), queue_full, over_budget,
    # unavailable (extra missing), failed
    "audio_mos_method",
)


def _wall(monotonic_s: float) -> str:
    return iso_utc(time.time() - (time.monotonic() - monotonic_s))


def failed_dial_record(user: str, destination: str, direction: str, error: str, error_code: str) -> dict[str, Any]:
    """A call that failed before the platform gave it an id (dial or answer refused): still one row."""
    now = iso_utc(time.time())
    return {
        "started_at": now,
        "ended_at": now,
        "user": user,
        "direction": direction,
        "destination": destination,
        "outcome": "failed",
        "error": error,
        "error_code": error_code,
    }


def call_record(
    call: Call, user: str, outcome: str, error: str | None = None, error_code: str | None = None
) -> dict[str, Any]:
    """Everything known about a finished (or failed) call, flattened to the CSV columns."""
    t = call.timings
    ended = t.ended or time.monotonic()
    started = t.invite_sent or t.inbound_invite or ended
    row: dict[str, Any] = {
        "started_at": _wall(started),
        "ended_at": _wall(ended),
        "error_code": error_code,
        "call_id": call.id,
        "user": user,
        "direction": str(call.direction),
        "destination": call.dialog.destination_number,
        "outcome": outcome,
        "cause": call.cause,
        "cause_code": call.cause_code,
        "sip_code": call.sip_code,
        "ended_by": str(call.ended_by) if call.ended_by else None,
        "post_dial_delay_s": t.post_dial_delay,
        "call_setup_s": t.answer_delay,
        "inbound_answer_s": t.inbound_answer_delay,
        "hangup_s": t.hangup_delay,
        "duration_s": (ended - t.answered) if t.answered else None,
        "reattaches": call.reattach_count,
        "rtp_before_recovery": "yes" if call.rtp_before_recovery else "no",
        "socket_lost_at": ";".join(f"{t:.3f}" for t, _answered in call.socket_losses),
        "lost_before_answer": ("no" if call.socket_losses[0][1] else "yes") if call.socket_losses else "",
        "media_gaps_s": ";".join("-" if g is None else f"{g:.3f}" for g in call.media_gaps),
        "holds": call.holds,
        "held_s": round(call.held_total_s(ended), 3),
        "error": error or call.error,
    }
    report = call.media_report
    if report is not None and hasattr(report, "timings"):
        from rtcload.media.rating import rate_report

        quality = rate_report(report, getattr(call, "earlier_media_reports", None))  # across rebuilds
        summaries = quality.summaries()

        def mean(key: str) -> float | None:
            s = summaries.get(key)
            return None if s is None else s["mean"]

        applied, first = report.timings.get("remote_sdp_applied"), report.timings.get("first_rtp")
        ice = getattr(report, "ice", None)
        allocations = [a.duration_s for a in (ice.turn if ice else []) if a.result == "ok" and a.duration_s is not None]
        timing = getattr(report, "send_timing", None)
        if timing is not None:
            offset = time.time() - time.monotonic()
            row.update(
                {
                    "send_gap_max_ms": round(timing.gap_max_s * 1000, 3),
                    "send_gaps_over_30ms": timing.gaps_over,
                    "send_drops": timing.drops + timing.oversized,
                    "send_gap_starts": ";".join(f"{start + offset:.3f}" for start, _gap in timing.gaps),
                }
            )
        row.update(
            {
                "codec": report.codec,
                "ice_local": ice.selected_local_type if ice else None,
                "ice_remote": ice.selected_remote_type if ice else None,
                "turn_allocation_s": min(allocations) if allocations else None,
                "first_rtp_s": None if applied is None or first is None else first - applied,
                "first_audio_s": report.first_audio_s,
                "mos_mean": mean("mos"),
                "mos_min": None if summaries.get("mos") is None else summaries["mos"]["min"],
                "mos_send_mean": mean("mos_send"),
                "sdk_mos_mean": mean("sdk_mos"),
                "r_mean": mean("r"),
                "rtt_mean_s": mean("rtt_s"),
                "jitter_mean_s": mean("jitter_s"),
                "loss_ratio_mean": mean("loss_ratio"),
                "burst_r_mean": mean("burst_r"),
                "verdict": quality.verdict,
                "sdk_warnings": ";".join(sorted({str(int(w.code)) for w in quality.warnings})),
                **datagram_columns(report),
            }
        )
    return row


def datagram_columns(report: Any) -> dict[str, Any]:
    """Stray datagrams dropped at the call's media ports (stray.KINDS: `empty:3;replayed:1`), and the
    datagrams stamped at the callback because their kernel stamp was unusable."""
    kinds: dict[str, int] = getattr(report, "rejected_datagrams", None) or {}
    return {
        "rx_rejected": sum(kinds.values()),
        "rx_rejected_kinds": ";".join(f"{kind}:{n}" for kind, n in kinds.items()),
        "rx_stale_stamps": getattr(report, "stale_stamps", 0),
    }


class CallRecordWriter:
    """Appends rows to one CSV per process (a header once); flushed per row so a crash loses nothing."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        new = not self.path.exists() or self.path.stat().st_size == 0
        self._handle = open(self.path, "a", newline="")  # noqa: SIM115 - lives for the run
        self._writer = csv.DictWriter(self._handle, fieldnames=COLUMNS, extrasaction="ignore")
        if new:
            self._writer.writeheader()
        self.rows = 0

    def write(self, row: dict[str, Any]) -> None:
        self._writer.writerow({k: _fmt(row.get(k)) for k in COLUMNS})
        self._handle.flush()
        self.rows += 1

    def close(self) -> None:
        self._handle.close()


def _fmt(value: Any) -> Any:
    if isinstance(value, float):
        return f"{value:.6g}"
    return "" if value is None else value


def merge_records(parts: list[Path], out: Path) -> int:
    """Concatenate per-process CSVs into one file (header once); returns the row count."""
    rows = 0
    with open(out, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=COLUMNS)
        writer.writeheader()
        for part in sorted(parts):
            with open(part, newline="") as src:
                for row in csv.DictReader(src):
                    writer.writerow(row)
                    rows += 1
    return rows


def csv_row(row: dict[str, Any]) -> dict[str, Any]:
    """A record as its calls.csv row shows it (every column, same number format): for the live view's links."""
    return {k: _fmt(row.get(k)) for k in COLUMNS}
