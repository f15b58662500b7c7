"""What a measurement is: its kind, unit, buckets and how Locust, Prometheus and the summary read it.

The definitions themselves live in catalog.py (the generator's) and emulator_catalog.py (the emulator's).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Kind(StrEnum):
    HISTOGRAM = "histogram"
    COUNTER = "counter"
    GAUGE = "gauge"


class Unit(StrEnum):
    SECONDS = "seconds"
    RATIO = "ratio"
    MOS = "mos"
    R_FACTOR = "r"
    COUNT = "count"
    BOOLEAN = "boolean"
    BYTES = "bytes"


LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0, 30.0)
RTT_BUCKETS = (0.001, 0.005, 0.01, 0.02, 0.05, 0.1, 0.15, 0.2, 0.3, 0.4, 0.6, 1.0)
JITTER_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.02, 0.03, 0.05, 0.075, 0.1, 0.2)
LOSS_BUCKETS = (0.0, 0.001, 0.005, 0.01, 0.02, 0.03, 0.05, 0.1, 0.2, 0.5, 1.0)
LAG_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
# Band edges of quality.md (poor < 3.6 <= fair < 4.0 <= good), the SDK warning (3.5) and finer steps near the top.
# garbage-collection pauses: a young collection takes ~0.1-1 ms; 5 ms is what the media clock tolerates
GC_PAUSE_BUCKETS = (0.0001, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5)
MOS_BUCKETS = (1.5, 2.0, 2.5, 3.0, 3.1, 3.5, 3.6, 3.8, 4.0, 4.1, 4.2, 4.3, 4.4, 4.5)


@dataclass(frozen=True)
class Measurement:
    key: str
    prometheus_name: str
    kind: Kind
    unit: Unit
    help: str
    buckets: tuple[float, ...] = ()
    locust_type: str | None = None  # request_type of the Locust event; None = not a Locust request
    locust_name: str | None = None
    labels: tuple[str, ...] = ()
    emulator: bool = False  # served by the emulator's /metrics, not by the Locust processes
    # A call-quality sample (one per stats interval per call): in the ledger, the summary, Prometheus and the
    # live Quality view, never a Locust request -- Locust's statistics are whole-ms response times, which
    # turned MOS x100 into a 440 "ms" p95 in its Aggregated row and chart and rounded jitter/RTT to 0.
    quality: bool = False

    @property
    def is_time(self) -> bool:
        return self.unit is Unit.SECONDS

    def locust_value(self, value: float) -> float:
        """What goes in Locust's `response_time` column: ms for times.

        Quality samples are no Locust requests any more (`quality`); the MOS x100 and loss-in-permille
        scalings remain so Locust CSVs of runs made before that still read back in base units.
        """
        if self.unit is Unit.SECONDS:
            return value * 1000.0
        if self.unit is Unit.MOS:
            return value * 100.0
        if self.unit is Unit.RATIO:
            return value * 1000.0
        return value

    def from_locust_value(self, value: float) -> float:
        if self.unit in (Unit.SECONDS, Unit.RATIO):
            return value / 1000.0
        if self.unit is Unit.MOS:
            return value / 100.0
        return value
