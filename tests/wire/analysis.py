"""Read a capture with tshark and compare the wire with what rtcload reported (calls.csv, summary.json).

Why: a self-measuring load generator must be checked by an analyser it did not write. tshark's RTP
heuristic finds the PCMU streams (static payload type 0: it knows the 8 kHz clock without SDP; SRTP
leaves the RTP header in the clear). Its `rtp,streams` table gives Wireshark's own per-stream mean
jitter; its per-packet fields (capture times) give every inter-packet gap on the wire. Not the table's
"Max Delta": Wireshark leaves out the interval before a packet with the marker bit (a new talkspurt after
silence suppression), and a sender that stalled marks its first packet after the stall (main's engine
does), so that column hides exactly the stalls this check is for. The driver's port book says which
process sent each stream: the generator's outgoing streams (their gaps are rtcload's own stalls) and the
streams it received from the emulator (their jitter is what rtcload must report).
"""

from __future__ import annotations

import csv
import json
import math
import re
import subprocess
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

GAP_MS = 30.0  # a gap the far end's jitter buffer notices
MIN_JITTER_PACKETS = 50  # 1 s of 20 ms packets: one stats interval
STOP_CUT_S = 1.0
SIGHTING_SLACK_S = 1.0  # a socket may live this long before/after the polls saw it
INSTANT_S = 0.05  # gaps starting within this of each other are one stall instant
SEND_GAP_FIELDS = (
    "threshold_ms",
    "gap_max_ms",
    "gaps_over_threshold",
    "calls_with_gaps",
    "worst_instant_calls",
    "worst_instant_at",
    "send_drops",
)
SEND_GAP_COLUMNS = ("send_gap_max_ms", "send_gaps_over_30ms", "send_drops")
TSHARK = ["tshark", "--enable-heuristic", "rtp_udp"]
STREAM_ROW = re.compile(
    r"^\s*(?P<start>[\d.]+)\s+(?P<end>[\d.]+)\s+(?P<src>\S+)\s+(?P<sport>\d+)\s+(?P<dst>\S+)\s+(?P<dport>\d+)\s+"
    r"(?P<ssrc>0x[0-9A-Fa-f]+)\s+(?P<payload>\S+)\s+(?P<pkts>\d+)\s+(?P<lost>-?\d+)\s+\([^)]*\)\s+"
    r"(?P<min_delta>[\d.]+)\s+(?P<mean_delta>[\d.]+)\s+(?P<max_delta>[\d.]+)\s+"
    r"(?P<min_jitter>[\d.]+)\s+(?P<mean_jitter>[\d.]+)\s+(?P<max_jitter>[\d.]+)"
)

StreamKey = tuple[int, int, int]  # (source port, destination port, SSRC)


def pct(values: list[float], p: float) -> float | None:
    """Nearest-rank percentile; None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p * len(ordered)) - 1)]


@dataclass
class Stream:
    """One RTP stream on the wire: who sent it, its packets' times, and Wireshark's view of it."""

    key: StreamKey
    times: list[float] = field(default_factory=list)
    sender: str = "unknown"
    mean_jitter_ms: float | None = None  # Wireshark's (rtp,streams "Mean Jitter")

    @property
    def first(self) -> float:
        return self.times[0]

    @property
    def last(self) -> float:
        return self.times[-1]

    def gaps(self, over_ms: float) -> list[tuple[float, float]]:
        """(start epoch, gap ms) of every inter-packet gap longer than `over_ms`."""
        found = []
        for before, after in zip(self.times, self.times[1:], strict=False):
            gap = (after - before) * 1000
            if gap > over_ms:
                found.append((before, gap))
        return found

    def max_gap_ms(self) -> float:
        return max(((b - a) * 1000 for a, b in zip(self.times, self.times[1:], strict=False)), default=0.0)


def run_tshark(args: list[str], timeout: float = 600) -> str:
    proc = subprocess.run(TSHARK + args, capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
        raise RuntimeError(f"tshark {' '.join(args)} failed ({proc.returncode}): {proc.stderr[-800:]}")
    return proc.stdout


def read_streams(pcap: Path) -> dict[StreamKey, Stream]:
    """Every PCMU stream of the capture: per-packet times (tshark fields) plus Wireshark's stream stats."""
    streams: dict[StreamKey, Stream] = {}
    fields = ["-e", "frame.time_epoch", "-e", "udp.srcport", "-e", "udp.dstport", "-e", "rtp.ssrc"]
    out = run_tshark(["-r", str(pcap), "-Y", "rtp.p_type == 0", "-T", "fields", "-E", "separator=,", *fields])
    for line in out.splitlines():
        parts = line.split(",")
        if len(parts) != 4 or not parts[3]:
            continue
        key = (int(parts[1]), int(parts[2]), int(parts[3], 16))
        streams.setdefault(key, Stream(key)).times.append(float(parts[0]))
    for stream in streams.values():
        stream.times.sort()
    for line in run_tshark(["-r", str(pcap), "-q", "-z", "rtp,streams"]).splitlines():
        row = STREAM_ROW.match(line)
        if not row:
            continue
        key = (int(row["sport"]), int(row["dport"]), int(row["ssrc"], 16))
        if key in streams:
            streams[key].mean_jitter_ms = float(row["mean_jitter"])
    return streams


def owner(port_book: dict[str, list[list[Any]]], port: int, first: float, last: float) -> str:
    """The process that held `port` during [first, last]: the span that overlaps it most."""
    best, best_overlap = "unknown", 0.0
    for role, seen_from, seen_to in port_book.get(str(port), []):
        # a socket exists before its first and after its last packet; polls are POLL_S apart (more when busy)
        overlap = min(last, seen_to + SIGHTING_SLACK_S) - max(first, seen_from - SIGHTING_SLACK_S)  # 0: 1 packet
        if overlap >= 0 and (best == "unknown" or overlap > best_overlap):
            best, best_overlap = role, overlap
    return best


def label_senders(streams: dict[StreamKey, Stream], port_book: dict[str, list[list[Any]]]) -> None:
    for stream in streams.values():
        sender = owner(port_book, stream.key[0], stream.first, stream.last)
        if sender == "unknown":  # the far end's port tells too
            far = owner(port_book, stream.key[1], stream.first, stream.last)
            sender = {"generator": "emulator", "emulator": "generator"}.get(far, "unknown")
        stream.sender = sender


def gap_view(streams: list[Stream], over_ms: float = GAP_MS) -> dict[str, Any]:
    """Gaps over `over_ms` in these streams: how many, the largest, streams hit, the worst instant."""
    gaps = [(start, gap, s.key) for s in streams for start, gap in s.gaps(over_ms)]
    gaps.sort()
    instants: list[list[tuple[float, float, StreamKey]]] = []
    for gap in gaps:
        if instants and gap[0] - instants[-1][0][0] <= INSTANT_S:
            instants[-1].append(gap)
        else:
            instants.append([gap])
    worst = max(instants, key=lambda i: len({g[2] for g in i}), default=[])
    return {
        "streams": len(streams),
        "threshold_ms": over_ms,
        "gaps": len(gaps),
        "streams_with_gaps": len({g[2] for g in gaps}),
        "gap_max_ms": round(max((s.max_gap_ms() for s in streams), default=0.0), 3),
        "instants": len(instants),
        "worst_instant_streams": len({g[2] for g in worst}),
        "worst_instant_at": worst[0][0] if worst else None,
    }


def jitter_view(streams: list[Stream]) -> dict[str, Any]:
    """Wireshark's per-stream mean jitter p50/p95, for the streams rtcload can have a figure for.

    Left out: streams under MIN_JITTER_PACKETS (shorter than rtcload's stats interval) and streams cut
    by the run's stop (ending within STOP_CUT_S of the capture's last packet): rtcload records those
    calls without a media report, hence without jitter.
    """
    end = max((s.last for s in streams), default=0.0)
    kept = [s for s in streams if len(s.times) >= MIN_JITTER_PACKETS and s.last < end - STOP_CUT_S]
    values = [s.mean_jitter_ms for s in kept if s.mean_jitter_ms is not None]
    return {"streams": len(values), "p50_ms": pct(values, 0.50), "p95_ms": pct(values, 0.95)}


def read_calls(results: Path) -> list[dict[str, str]]:
    with open(results / "calls.csv", newline="") as handle:
        return list(csv.DictReader(handle))


def rtcload_jitter(calls: list[dict[str, str]]) -> dict[str, Any]:
    """rtcload's per-call jitter (calls.csv `jitter_mean_s`, what the generator received), in ms."""
    values = [float(c["jitter_mean_s"]) * 1000 for c in calls if c.get("jitter_mean_s")]
    return {"calls": len(values), "p50_ms": pct(values, 0.50), "p95_ms": pct(values, 0.95)}


def rtcload_send_gaps(results: Path, calls: list[dict[str, str]]) -> dict[str, Any]:
    """What rtcload says about its own send gaps; `missing` lists the agreed fields it does not report."""
    summary = json.loads((results / "summary.json").read_text())
    reported = (summary.get("generator") or {}).get("send_gaps")
    missing = []
    if not isinstance(reported, dict):
        missing.append("summary.json generator.send_gaps")
        reported = {}
    missing += [f"summary.json generator.send_gaps.{k}" for k in SEND_GAP_FIELDS if reported and k not in reported]
    header = set(calls[0]) if calls else set()
    missing += [f"calls.csv column {c}" for c in SEND_GAP_COLUMNS if c not in header]
    per_call = [float(c["send_gap_max_ms"]) for c in calls if c.get("send_gap_max_ms")]
    with_gaps = [c for c in calls if c.get("send_gaps_over_30ms") and float(c["send_gaps_over_30ms"]) > 0]
    return {
        "missing": missing,
        "summary": reported,
        "calls_csv_gap_max_ms": max(per_call, default=None),
        "calls_csv_calls_with_gaps_over_30ms": len(with_gaps),
    }


def within(rtcload: float | None, wire: float | None, abs_ms: float = 0.3, rel: float = 0.30) -> bool:
    """rtcload's figure agrees with the wire's: within max(abs_ms, rel x wire)."""
    if rtcload is None or wire is None:
        return False
    return abs(rtcload - wire) <= max(abs_ms, rel * wire)


def analyse(out: Path) -> dict[str, Any]:
    """Everything the checks need from one driver run directory (cap.pcap, driver.json, res/)."""
    driver = json.loads((out / "driver.json").read_text())
    streams = read_streams(out / "cap.pcap")
    label_senders(streams, driver.get("ports", {}))
    by_sender: dict[str, list[Stream]] = defaultdict(list)
    for stream in streams.values():
        by_sender[stream.sender].append(stream)
    calls = read_calls(out / "res")
    return {
        "driver": {k: v for k, v in driver.items() if k != "ports"},
        "streams": {role: len(items) for role, items in by_sender.items()},
        "wire_gaps": {role: gap_view(by_sender[role]) for role in ("generator", "emulator")},
        "wire_jitter_received": jitter_view(by_sender["emulator"]),
        "wire_jitter_sent": jitter_view(by_sender["generator"]),
        "rtcload_jitter": rtcload_jitter(calls),
        "rtcload_send_gaps": rtcload_send_gaps(out / "res", calls),
        "calls": len(calls),
        "_generator_streams": by_sender["generator"],
        "_streams": list(streams.values()),
    }


def streams_near(streams: list[Stream], start: float, end: float, margin_s: float = 0.1) -> int:
    """Streams that began or ended within `margin_s` of [start, end]: set up or torn down during a stall."""
    lo, hi = start - margin_s, end + margin_s
    return sum(1 for s in streams if lo <= s.first <= hi or lo <= s.last <= hi)
