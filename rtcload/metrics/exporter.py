"""Prometheus side of the catalog: one registry per process, every metric built from its catalog entry.

Updates must come from one side of the process only (the gevent hub in Locust processes): after
gevent's monkey patching prometheus_client's locks are gevent locks, which must not be taken from
the asyncio thread. Values measured there are handed over as plain numbers and read at scrape time.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from rtcload.metrics.catalog import Kind, Measurement, generator_measurements, measurement
from rtcload.metrics.gc_pauses import GcPauseCollector, process_gc_pauses

# Label values created up front so rate()/increase() see a zero series from the first scrape.
KNOWN_LABEL_VALUES: dict[str, dict[str, tuple[str, ...]]] = {
    "calls": {"result": ("answered", "failed")},
    "reconnects": {"result": ("ok", "exhausted")},
    "reattach": {"result": ("reattached", "lost")},
    "errors": {"code": ("timeout", "no_rtp", "protocol_state")},
    "rtt": {"direction": ("receive",)},
    "jitter": {"direction": ("receive",)},
    "packet_loss": {"direction": ("receive",)},
    "mos": {"direction": ("receive",)},
    "loop_lag": {"loop": ("asyncio", "gevent")},
    "loop_lag_samples": {"loop": ("asyncio", "gevent")},
}

# catalog key -> rtcload.procstats.ProcessGauges figure: each Locust process's own resources (issue 22)
PROCESS_GAUGES: dict[str, str] = {
    "process_rss": "rss_bytes",
    "process_fds": "open_fds",
    "process_udp_sockets": "udp_sockets",
    "process_tasks": "asyncio_tasks",
}


def build_metric(m: Measurement, registry: CollectorRegistry) -> Any:
    """A prometheus_client metric for one catalog entry (name, help with unit, labels, buckets)."""
    doc = f"{m.help} [{m.unit}]"
    if m.kind is Kind.HISTOGRAM:
        return Histogram(m.prometheus_name, doc, m.labels, registry=registry, buckets=m.buckets)
    if m.kind is Kind.COUNTER:
        return Counter(m.prometheus_name, doc, m.labels, registry=registry)
    return Gauge(m.prometheus_name, doc, m.labels, registry=registry)


class GeneratorMetrics:
    """Every generator metric of the catalog in a private registry (tests may hold several)."""

    def __init__(self, registry: CollectorRegistry | None = None, measurements: Iterable[Measurement] = ()) -> None:
        self.registry = registry or CollectorRegistry()
        self._metrics: dict[str, Any] = {}
        for m in tuple(measurements) or generator_measurements():
            if m.key == "gc_pause":  # recorded inside collections (gc_pauses.py): read at scrape time
                self.registry.register(GcPauseCollector(m.key, process_gc_pauses()))
                continue
            self._metrics[m.key] = build_metric(m, self.registry)
            for label, values in KNOWN_LABEL_VALUES.get(m.key, {}).items():
                if m.labels == (label,):
                    for value in values:
                        self._metrics[m.key].labels(value)

    def _child(self, key: str, labels: dict[str, str]) -> Any:
        metric = self._metrics[key]
        names = measurement(key).labels
        if set(labels) != set(names):
            raise ValueError(f"{key} takes labels {names}, got {sorted(labels)}")
        return metric.labels(**labels) if names else metric

    def observe(self, key: str, value: float, **labels: str) -> None:
        self._child(key, labels).observe(value)

    def inc(self, key: str, amount: float = 1.0, **labels: str) -> None:
        self._child(key, labels).inc(amount)

    def set(self, key: str, value: float, **labels: str) -> None:
        self._child(key, labels).set(value)

    def set_function(self, key: str, fn: Callable[[], float], **labels: str) -> None:
        """The gauge reads `fn()` at scrape time (cheap, thread-agnostic state such as len())."""
        self._child(key, labels).set_function(fn)

    def exposition(self) -> bytes:
        return generate_latest(self.registry)
