"""open_calls: call attempts offered at a rate (CPS) on a pool of registered endpoints (an open model).

`rtcload run --cps 20 --holding exp:120` picks this scenario. Each Locust user registers once and
waits; the per-process scheduler (rtcload.loadgen.open_model) hands one call at a time to an idle
user at the due times of the arrival process, so the offered rate does not depend on how fast the
platform answers. `-u` is the pool size: enough endpoints for the calls in progress (Erlangs) plus
their setup time; a pool that runs dry is reported as the generator's shortage, never the platform's.
"""

from __future__ import annotations

import contextlib
from typing import Any

import gevent
from locust import events, task
from locust.env import Environment
from locust.exception import StopUser

from rtcload.loadgen import open_model
from rtcload.loadgen.user import WebRTCUser, process_metrics, process_settings, process_tag


class PooledEndpoint(WebRTCUser):
    """A registered softphone in the pool; it places calls only when the scheduler hands it one."""

    def wait_time(self) -> float:
        return 1.0

    def on_start(self) -> None:
        try:
            with contextlib.suppress(StopUser):
                if self.register():
                    open_model.pool().join(self)
        finally:
            open_model.pool().settle()

    calling = False

    def on_stop(self) -> None:
        open_model.pool().leave(self)
        super().on_stop()  # hangs up a call in progress (bye), which ends place_one_call
        deadline = 15.0
        while self.calling and deadline > 0:  # its record and samples land before the final counters
            gevent.sleep(0.05)
            deadline -= 0.05

    @task
    def stay_registered(self) -> None:
        """The user's own task only re-registers a lost endpoint; the scheduler places the calls."""
        if self.endpoint is None and self.ensure_registered():
            open_model.pool().join(self)

    def pick_destination(self) -> str:
        return self.settings.destinations.pick(self.rng)

    def place_one_call(self, holding_s: float | None) -> None:
        """One call to the destination pool, held `holding_s` after the answer (the scenario's -d)."""
        endpoint = self.endpoint
        if endpoint is None:
            return
        duration = holding_s if holding_s is not None else self.settings.call_duration.sample(self.rng)
        self.calling = True
        try:
            self.fire(self.bridge.run(endpoint.outbound_call(self.pick_destination(), duration)))
            self.write_records(endpoint)
        finally:
            self.calling = False


@events.test_start.add_listener
def _start(environment: Environment, **_kw: Any) -> None:
    settings = process_settings(environment)
    open_model.start_scheduler(environment, process_metrics(), process_tag(), settings.call_duration)
