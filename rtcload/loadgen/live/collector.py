"""The per-process half of the live view: what a load process saw since its last report to the master.

Fed from `WebRTCUser.fire` (every sample, beside the ledger and Prometheus) and `write_records` (every
call record, beside calls.csv). A report holds the raw values of the live metrics since the previous
report (so the master's percentiles are exact, nearest rank, as the ledger's), call outcome counts since
then, this process's worst calls since then, its gauges and counters from its Prometheus registry (one
catalog), and its health figures. Everything here runs on the gevent side: no lock is needed.
"""

from __future__ import annotations

from array import array
from collections import Counter
from collections.abc import Callable
from typing import Any

from rtcload.loadgen.live.worst import WorstCalls
from rtcload.results.ledger import call_outcome_cause

# Charted metrics: their raw values travel to the master (8 bytes + framing each).
LIVE_KEYS = ("mos", "rtt", "jitter", "packet_loss", "post_dial_delay", "call_setup")
# (Prometheus sample name, labels) -> report field: read from the process registry, the catalog's one source.
REGISTRY_FIELDS = {
    "in_progress": ("rtcload_active_calls", {}),
    "users": ("rtcload_users", {}),
    "registered": ("rtcload_registered_clients", {}),
    "offered_cps": ("rtcload_offered_cps", {}),
    "placed": ("rtcload_call_attempts_total", {"result": "placed"}),
    "refused_limit": ("rtcload_call_attempts_total", {"result": "refused_limit"}),
    "refused_pool": ("rtcload_call_attempts_total", {"result": "refused_pool"}),
}
# Extra generator-health figures: each source returns a flat dict of numbers (or a nested one, flattened),
# e.g. send gaps or stalls of a send thread; they appear in the view's health table and chart by name.
HEALTH_SOURCES: list[Callable[[], dict[str, Any]]] = []


def add_health_source(source: Callable[[], dict[str, Any]]) -> None:
    """Register a function whose figures join this process's live health (no other plumbing needed)."""
    HEALTH_SOURCES.append(source)


def flatten(figures: dict[str, Any], prefix: str = "") -> dict[str, float | bool | str]:
    """Nested health dicts to `a.b` keys; numbers, booleans and short strings only (the rest is dropped)."""
    out: dict[str, float | bool | str] = {}
    for key, value in figures.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(flatten(value, name + "."))
        elif isinstance(value, bool | int | float) or (isinstance(value, str) and len(value) <= 40):
            out[name] = value
    return out


def health_figures(health: Any) -> dict[str, float | bool | str]:
    """This process's health now (the last 10 s) and for the whole run so far (`run.*`, as summary.json's)."""
    out: dict[str, float | bool | str] = {}
    if health is not None:
        out.update(
            {
                "cpu": health.cpu_ratio,
                "loop_lag_asyncio_p99_s": health.asyncio_lag.p99(),
                "loop_lag_gevent_p99_s": health.gevent_lag.p99(),
                "send_late_p99_s": health.send_spread(),
                "saturated": health.saturated(),
            }
        )
        out.update(flatten(health.run_verdict(), "run."))
    for source in HEALTH_SOURCES:
        try:
            out.update(flatten(source()))
        except Exception as exc:  # one broken source must not take the view down
            out[f"error.{getattr(source, '__name__', 'source')}"] = repr(exc)[:40]
    return out


class LiveCollector:
    """Values, outcomes and worst calls since the last report, plus where to read gauges and health."""

    def __init__(self, worst_n: int = 20) -> None:
        self.values: dict[str, array[float]] = {key: array("d") for key in LIVE_KEYS}
        self.samples: Counter[str] = Counter()
        self.failures: Counter[str] = Counter()
        self.outcomes: Counter[str] = Counter()
        self.causes: Counter[str] = Counter()
        self.worst = WorstCalls(worst_n)
        self.registry: Any = None  # this process's prometheus_client registry
        self._figures: Any = None  # the registry restricted to REGISTRY_FIELDS' metrics
        self.health: Any = None  # rtcload.loadgen.health.Health
        self.tag = ""

    def attach(self, registry: Any, health: Any, tag: str) -> None:
        self.registry, self.health, self.tag = registry, health, tag
        names = {name for name, _labels in REGISTRY_FIELDS.values()}
        self._figures = registry.restricted_registry(names) if registry is not None else None

    def observe(self, key: str, value: float | None, ok: bool) -> None:
        """One sample as the ledger writes it: counted, and its value kept when it is a live metric."""
        if key not in self.values:
            return
        self.samples[key] += 1
        if not ok:
            self.failures[key] += 1
        elif value is not None:
            self.values[key].append(float(value))

    def record(self, row: dict[str, Any]) -> None:
        """One finished call's record (the calls.csv row): its outcome and, if it had media, a worst candidate."""
        outcome = str(row.get("outcome") or "")
        self.outcomes[outcome] += 1
        if outcome == "failed":
            self.causes[call_outcome_cause({k: "" if v is None else str(v) for k, v in row.items()})] += 1
        self.worst.offer(row, self.tag)

    def reset(self) -> None:
        """A new test (or the end of the warm-up): nothing collected so far counts."""
        self.take_report()
        self.worst = WorstCalls(self.worst.n)

    def registry_figures(self) -> dict[str, float]:
        """REGISTRY_FIELDS' samples, collected once from their own metrics only.

        Why not `registry.get_sample_value` per field (prometheus_client: "inefficient, intended only for
        use in unittests"): each call collects the whole registry, every histogram child and every
        function gauge, the saturation check and the loop-lag percentiles among them. In a 16-user soak
        the seven calls took ~11 ms of the gevent hub's CPU per 2 s tick with the percentiles as cheap as
        they are now, and most of a 15-35 ms tick before (issue 22: the hub's lag probe then reported the
        generator saturated at 4 % CPU); one restricted collection takes ~0.1 ms.
        """
        if self._figures is None:
            return {}
        out = {}
        for metric in self._figures.collect():
            for sample in metric.samples:
                field = _WANTED.get((sample.name, _label_key(sample.labels)))
                if field is not None:
                    out[field] = sample.value
        return out

    def take_report(self) -> dict[str, Any]:
        """Everything since the last report (values, outcomes, worst calls), then start over; gauges as they are."""
        report = {
            "tag": self.tag,
            "values": {key: list(values) for key, values in self.values.items() if values},
            "samples": dict(self.samples),
            "failures": dict(self.failures),
            "outcomes": dict(self.outcomes),
            "causes": dict(self.causes),
            "worst": self.worst.take(),
            "gauges": self.registry_figures(),
            "health": health_figures(self.health),
        }
        for values in self.values.values():
            del values[:]
        self.samples.clear()
        self.failures.clear()
        self.outcomes.clear()
        self.causes.clear()
        return report


def _label_key(labels: dict[str, str]) -> tuple[tuple[str, str], ...]:
    return tuple(sorted(labels.items()))


_WANTED = {(name, _label_key(labels)): field for field, (name, labels) in REGISTRY_FIELDS.items()}  # built once
COLLECTOR = LiveCollector()  # this process's collector (one Locust process = one collector)
