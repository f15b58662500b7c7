"""Generator health: how late the asyncio and gevent loops run timers, the process CPU, saturation.

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
    asyncio_lag: LagWindow = field(default_factory=LagWindow)
    gevent_lag: LagWindow = field(default_factory=LagWindow)
    cpu_ratio: float = 0.0
    send_gaps: LagWindow | None = None  # gaps between RTP sends of pre-encoded tracks (lean path)
    send_grid_s: float = 0.02
    _warned_at: float = -1e9

    def send_spread(self) -> float:
        """p99 of how late sends run behind their 20 ms grid (0 when no lean track is sending)."""
        if self.send_gaps is None:
            return 0.0
        return max(0.0, self.send_gaps.p99() - self.send_grid_s)

    def saturated(self) -> bool:
        lag = max(self.asyncio_lag.p99(), self.gevent_lag.p99(), self.send_spread())
        return lag > self.lag_threshold_s or self.cpu_ratio > self.cpu_threshold

    def warn_if_saturated(self, every_s: float = 30.0) -> None:
        if self.saturated() and time.monotonic() - self._warned_at > every_s:
            self._warned_at = time.monotonic()
            log.warning(
                "generator saturated: loop lag p99 asyncio %.3f s / gevent %.3f s, RTP send spread %.3f s "
                "(limit %.3f), CPU %.0f%% (limit %.0f%%) -- timings are inflated; add processes or workers",
                self.asyncio_lag.p99(),
                self.gevent_lag.p99(),
                self.send_spread(),
                self.lag_threshold_s,
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
        health.warn_if_saturated()
