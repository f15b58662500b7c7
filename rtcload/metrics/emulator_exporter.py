"""The emulator's /metrics: `rtcload_emulator_*` families built at scrape time from its counters.

The emulator counts events in a plain Counter of strings (`logins_ok`, `calls_route_echo`,
`calls_ended_NORMAL_CLEARING`, ...); this collector turns those into labelled Prometheus families
when scraped, so the emulator's hot path never touches prometheus_client.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from rtcload.metrics.catalog import Kind, emulator_measurements, measurement
from rtcload.metrics.gc_pauses import GcPauseCollector, process_gc_pauses
from rtcload.procstats import ProcessGauges

_SAFE = re.compile(r"[^A-Za-z0-9_.-]")
MAX_VALUES_PER_LABEL = 50  # a guard: prefixed counters come from code literals, but never explode

# counter key prefix -> (catalog key, label); the rest of the key is the label value. Every rest is a
# value of a closed set in the emulator's code, never message or exception text: LoginRefusal
# (emulator/auth.py), RouteKind, cause_label(), JSON-RPC codes, limit names, stray-datagram kinds.
PREFIXED: tuple[tuple[str, str], ...] = (
    ("logins_failed_", "emulator_logins"),
    ("calls_route_", "emulator_calls"),
    ("calls_ended_", "emulator_calls_ended"),
    ("errors_", "emulator_errors"),
    ("refused_", "emulator_refused"),
    ("rejected_datagrams_", "emulator_rejected_datagrams"),  # kinds: rtcload.media.stray.KINDS (bounded)
)
# catalog key -> ProcessGauges figure (the emulator process's own resources, issue 22)
PROCESS: dict[str, str] = {
    "emulator_process_rss": "rss_bytes",
    "emulator_process_fds": "open_fds",
    "emulator_process_udp_sockets": "udp_sockets",
    "emulator_process_tasks": "asyncio_tasks",
}
# fault kind -> counter keys that count it
FAULTS: dict[str, tuple[str, ...]] = {
    "socket_drop": ("fault_drops",),
    "login_reject": ("logins_failed_rejected_by_fault_injection",),
    "session_lost": ("sessions_lost",),
    "gateway_state": ("gateway_NOREG", "gateway_FAILED", "gateway_UNREGED", "gateway_FAIL_WAIT", "gateway_TRYING"),
}


def _family(key: str) -> Metric:
    m = measurement(key)
    name = m.prometheus_name.removesuffix("_total") if m.kind is Kind.COUNTER else m.prometheus_name
    doc = f"{m.help} [{m.unit}]"
    if m.kind is Kind.COUNTER:
        return CounterMetricFamily(name, doc, labels=m.labels)
    return GaugeMetricFamily(name, doc, labels=m.labels)


def _label(text: str) -> str:
    return _SAFE.sub("_", text)[:64]


class EmulatorCollector(Collector):
    """Reads `counters()` and `state()` (connections, sessions, legs, media endpoints) on each scrape."""

    def __init__(self, counters: Callable[[], Mapping[str, int]], state: Callable[[], Mapping[str, Any]]) -> None:
        self._counters = counters
        self._state = state
        self._process = ProcessGauges()  # scraped on the emulator's loop: its tasks are the ones counted

    def collect(self) -> Iterator[Metric]:
        counters = dict(self._counters())
        state = self._state()
        families = {m.key: _family(m.key) for m in emulator_measurements() if m.kind is not Kind.HISTOGRAM}

        logins = families["emulator_logins"]
        logins.add_metric(["ok"], counters.get("logins_ok", 0))
        for prefix, key in PREFIXED:
            values: dict[str, float] = {}
            for name, value in sorted(counters.items()):
                if not name.startswith(prefix):
                    continue
                label = _label(name.removeprefix(prefix))
                if label not in values and len(values) >= MAX_VALUES_PER_LABEL:
                    label = "other"  # one overflow sample, summed: a label value appears once per family
                values[label] = values.get(label, 0) + value
            for label, value in values.items():
                families[key].add_metric([label], value)
        for fault, keys in FAULTS.items():
            families["emulator_faults"].add_metric([fault], sum(counters.get(k, 0) for k in keys))
        families["emulator_calls_answered"].add_metric([], counters.get("calls_answered", 0))
        families["emulator_media_failures"].add_metric([], counters.get("media_failures", 0))
        families["emulator_reattached"].add_metric([], counters.get("reattached", 0))
        families["emulator_internal_errors"].add_metric([], counters.get("internal_errors", 0))
        for result in ("accepted", "rejected"):
            families["emulator_call_reports"].add_metric([result], counters.get(f"call_reports_{result}", 0))
        families["emulator_connections"].add_metric([], state.get("connections", 0))
        families["emulator_sessions"].add_metric(["registered"], state.get("registered", 0))
        families["emulator_sessions"].add_metric(["detached"], state.get("detached_sessions", 0))
        live, answered = state.get("live_legs", 0), state.get("active_legs", 0)
        families["emulator_active_calls"].add_metric(["setup"], max(0, live - answered))
        families["emulator_active_calls"].add_metric(["answered"], answered)
        families["emulator_media_endpoints"].add_metric([], state.get("media_endpoints", 0))
        families["emulator_held_calls"].add_metric([], state.get("held_legs", 0))
        families["emulator_calls_transcoded"].add_metric([], counters.get("calls_transcoded", 0))
        gaps = (state.get("media_clock") or {}).get("send_gaps") or {}
        families["emulator_send_gap_max"].add_metric([], gaps.get("gap_max_ms", 0.0) / 1000.0)
        families["emulator_send_gaps"].add_metric([], gaps.get("gaps_over_threshold", 0))
        families["emulator_send_drops"].add_metric([], gaps.get("send_drops", 0))
        families["emulator_playout_late"].add_metric([], gaps.get("playout_late", 0))
        families["emulator_playout_dropped"].add_metric([], gaps.get("playout_dropped", 0))
        process = self._process.read()
        for key, name in PROCESS.items():
            families[key].add_metric([], process[name])
        yield from families.values()


def emulator_registry(
    counters: Callable[[], Mapping[str, int]], state: Callable[[], Mapping[str, Any]]
) -> CollectorRegistry:
    """A registry of its own per emulator, so several emulators in one process never collide."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(EmulatorCollector(counters, state))
    registry.register(GcPauseCollector("emulator_gc_pause", process_gc_pauses()))
    return registry


def exposition(registry: CollectorRegistry) -> bytes:
    return generate_latest(registry)
