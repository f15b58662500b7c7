"""Generator health: how late the asyncio and gevent loops run timers, the media engine's send clock,
the process CPU, saturation.

A load generator must not become the bottleneck it measures. A periodic timer that fires late means
the loop is overloaded (every timing measured on it is inflated by about that much); high CPU on a
one-core process means the same. Probes run on their own loop and store plain numbers; the gevent
side reads them at scrape time, so no lock crosses threads.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field

from rtcload.metrics.lag import LagWindow

log = logging.getLogger("rtcload.loadgen")

PROBE_INTERVAL_S = 0.1
# Loop lag is judged at p95: the probes take 10 samples a second, so a 10 s window holds ~100, and their
# nearest-rank p99 is the worst or second-worst sample: one 60 ms stall (a full GC) read as "saturated".
LAG_QUANTILE = 0.95


async def asyncio_lag_probe(window: LagWindow, interval_s: float = PROBE_INTERVAL_S) -> None:
    """Runs on the bridge's loop until cancelled: sleep `interval_s`, record how late we woke."""
    loop = asyncio.get_running_loop()
    while True:
        start = loop.time()
        await asyncio.sleep(interval_s)
        window.record(max(0.0, loop.time() - start - interval_s))


def gevent_lag_probe(window: LagWindow, interval_s: float = PROBE_INTERVAL_S) -> None:
    """The same on the gevent hub (run as a greenlet): Locust's users and event handlers live there."""
    import gevent

    while True:
        start = time.monotonic()
        gevent.sleep(interval_s)
        window.record(max(0.0, time.monotonic() - start - interval_s))


@dataclass
class Health:
    """Latest health figures of this process and the thresholds that make it 'saturated'."""

    lag_threshold_s: float = 0.05
    cpu_threshold: float = 0.9
    send_late_threshold_s: float = 0.005  # a send tick 5 ms late is a quarter frame of self-made jitter
    asyncio_lag: LagWindow = field(default_factory=LagWindow)
    gevent_lag: LagWindow = field(default_factory=LagWindow)
    cpu_ratio: float = 0.0
    send_gaps: LagWindow | None = None  # gaps between RTP sends of pre-encoded tracks (lean path)
    send_lateness: LagWindow | None = None  # how late each media-engine tick ran (engine path)
    send_grid_s: float = 0.02
    cpu_intervals: int = 0  # CPU samples taken, and how many of them were over the CPU threshold
    cpu_saturated_intervals: int = 0
    cpu_sum: float = 0.0  # of the samples' ratios (their mean is the process's CPU over the run)
    cpu_peak: float = 0.0
    _warned_at: float = -1e9

    def send_spread(self, whole: bool = False, quantile: float = 0.99) -> float:
        """p99 (or `quantile`) of how late RTP sends run behind their 20 ms grid: the engine's tick lateness,
        or the lean path's send gaps minus the grid (0 when nothing is sending)."""
        late = self.send_lateness.p99(whole, quantile) if self.send_lateness is not None else 0.0
        if self.send_gaps is not None:
            late = max(late, self.send_gaps.p99(whole, quantile) - self.send_grid_s)
        return max(0.0, late)

    def loop_lag(self) -> tuple[float, float]:
        """(asyncio, gevent) loop lag of the last window at LAG_QUANTILE."""
        return self.asyncio_lag.p99(quantile=LAG_QUANTILE), self.gevent_lag.p99(quantile=LAG_QUANTILE)

    def saturated(self) -> bool:
        lag = max(self.loop_lag())
        return (
            lag > self.lag_threshold_s
            or self.send_spread() > self.send_late_threshold_s
            or self.cpu_ratio > self.cpu_threshold
        )

    def run_verdict(self) -> dict[str, float | bool]:
        """The whole run's health (every retained sample, not the last 10 s): what `rtcload run` reports.

        Loop lag is judged at p95: its probe takes 10 samples a second, so in a short run (a capacity step)
        p99 is the single worst sample, e.g. Locust's start-up. The send clock ticks 50 times a second: p99.
        `saturated` means the figures' tail includes the generator's own delay (said, not fatal);
        `saturated_whole_run` means it could not keep up at all: CPU over its limit for half the run, or
        the median tick or loop wake-up late (what the `generator` gate fails a run for).
        """
        lag = max(
            self.asyncio_lag.p99(whole=True, quantile=LAG_QUANTILE),
            self.gevent_lag.p99(whole=True, quantile=LAG_QUANTILE),
        )
        lag_p50 = max(self.asyncio_lag.p99(whole=True, quantile=0.5), self.gevent_lag.p99(whole=True, quantile=0.5))
        send_late = self.send_spread(whole=True)
        send_late_p50 = self.send_spread(whole=True, quantile=0.5)
        cpu_share = self.cpu_saturated_intervals / self.cpu_intervals if self.cpu_intervals else 0.0
        return {
            "loop_lag_p95_s": lag,
            "send_late_p99_s": send_late,
            "send_late_p50_s": send_late_p50,
            "cpu_saturated_share": cpu_share,
            # measured by the process itself (1 s samples, 100 = one core): a worker's own figure
            "cpu_mean": round(100 * self.cpu_sum / self.cpu_intervals, 1) if self.cpu_intervals else 0.0,
            "cpu_max": round(100 * self.cpu_peak, 1),
            # arrival times are stamped on the loop: a wake-up later than the send limit smears them as much
            "saturated": (
                lag > self.send_late_threshold_s or send_late > self.send_late_threshold_s or cpu_share > 0.1
            ),
            "saturated_whole_run": (
                lag_p50 > self.send_late_threshold_s or send_late_p50 > self.send_late_threshold_s or cpu_share > 0.5
            ),
        }

    def warn_if_saturated(self, every_s: float = 30.0) -> None:
        if self.saturated() and time.monotonic() - self._warned_at > every_s:
            self._warned_at = time.monotonic()
            log.warning(
                "generator saturated: loop lag p95 asyncio %.3f s / gevent %.3f s (limit %.3f), RTP send ticks "
                "late p99 %.4f s (limit %.4f), CPU %.0f%% (limit %.0f%%) -- timings are inflated; add processes "
                "or workers",
                *self.loop_lag(),
                self.lag_threshold_s,
                self.send_spread(),
                self.send_late_threshold_s,
                self.cpu_ratio * 100,
                self.cpu_threshold * 100,
            )


def cpu_sampler(health: Health, interval_s: float = 1.0) -> None:
    """Greenlet: this process' CPU over each interval (1.0 = one core), plus the saturation warning."""
    import gevent
    import psutil

    process = psutil.Process()
    process.cpu_percent(None)
    while True:
        gevent.sleep(interval_s)
        health.cpu_ratio = process.cpu_percent(None) / 100.0
        health.cpu_intervals += 1
        health.cpu_sum += health.cpu_ratio
        health.cpu_peak = max(health.cpu_peak, health.cpu_ratio)
        health.cpu_saturated_intervals += health.cpu_ratio > health.cpu_threshold
        health.warn_if_saturated()
