"""Locust plugin loaded next to a scenario (`-f scenario.py,warmup.py`): drops the warm-up from the statistics.

Locust's own --reset-stats resets when spawning completes; a warm-up is a fixed time instead, so ramp-up,
first registrations and cold caches never count against an SLO. With workers, the master resets its
aggregate; a worker's last unsent report (at most one report interval) can still carry warm-up samples.
"""

from __future__ import annotations

import logging
from typing import Any

import gevent
from locust import events
from locust.runners import WorkerRunner

from rtcload.options.build import add_locust_options

log = logging.getLogger("rtcload.warmup")


@events.init_command_line_parser.add_listener
def _add_option(parser: Any, **_kw: Any) -> None:
    add_locust_options(parser, "warm-up")  # --rtc-warmup, from the registry (rtcload/options/registry.toml)


@events.test_start.add_listener
def _schedule_reset(environment: Any, **_kw: Any) -> None:
    warmup = float(getattr(environment.parsed_options, "rtc_warmup", 0) or 0)
    if warmup <= 0 or isinstance(environment.runner, WorkerRunner):
        return

    def reset() -> None:
        log.info("warm-up of %.1f s over: statistics reset", warmup)
        environment.stats.reset_all()

    gevent.spawn_later(warmup, reset)
