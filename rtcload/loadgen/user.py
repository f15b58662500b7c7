"""The gevent side: Locust users that drive VirtualEndpoints through the bridge and fire events.

Events are fired here, from greenlets, never from the asyncio thread. Importing this module
registers rtcload's command-line options and the per-process bridge with Locust.
"""

from __future__ import annotations

import itertools
import logging
import random
from typing import Any

from locust import User, events, task
from locust.env import Environment
from locust.runners import MasterRunner, WorkerRunner

from rtcload.loadgen.bridge import Bridge
from rtcload.loadgen.credentials import CredentialPool, PoolEntry, load_pool
from rtcload.loadgen.endpoint import Sample, VirtualEndpoint, locust_fields
from rtcload.loadgen.settings import LoadSettings, add_locust_arguments, settings_from_options
from rtcload.signaling import PasswordCredentials

log = logging.getLogger("rtcload.loadgen")
logging.getLogger("aioice").setLevel(logging.WARNING)  # one INFO line per ICE check drowns Locust's log


class _Process:
    """Per-process state: the bridge, settings, credentials and every live endpoint."""

    bridge: Bridge | None = None
    settings: LoadSettings | None = None
    pool: CredentialPool | None = None
    endpoints: set[VirtualEndpoint] = set()
    agents: list[str] = []
    counter = itertools.count()
    process_tag = "p0"


@events.init_command_line_parser.add_listener
def _add_arguments(parser: Any, **_kw: Any) -> None:
    add_locust_arguments(parser)


@events.init.add_listener
def _on_init(environment: Environment, **_kw: Any) -> None:
    if isinstance(environment.runner, MasterRunner):
        return  # the master runs no users: no loop thread there
    if isinstance(environment.runner, WorkerRunner):
        _Process.process_tag = f"w{environment.runner.worker_index}x{random.randrange(36**4):04x}"
    else:
        _Process.process_tag = f"p{random.randrange(36**4):04x}"
    _Process.bridge = Bridge()


@events.test_stop.add_listener
def _on_test_stop(environment: Environment, **_kw: Any) -> None:
    """Safety net: whatever users did not clean up is hung up (bye) and closed here."""
    bridge = _Process.bridge
    if bridge is None or not _Process.endpoints:
        return
    leftovers = list(_Process.endpoints)
    _Process.endpoints.clear()

    async def close_all() -> None:
        import asyncio

        await asyncio.gather(*(e.unregister() for e in leftovers), return_exceptions=True)

    try:
        bridge.run(close_all(), timeout=30)
    except Exception as exc:
        log.warning("closing %d leftover endpoints failed: %r", len(leftovers), exc)


@events.quitting.add_listener
def _on_quitting(environment: Environment, **_kw: Any) -> None:
    if _Process.bridge is not None:
        overhead = _Process.bridge.overhead_summary()
        if overhead:
            log.info("bridge overhead: %s", overhead)
        _Process.bridge.stop()
        _Process.bridge = None


def process_settings(environment: Environment) -> LoadSettings:
    if _Process.settings is None:
        options = environment.parsed_options
        target = environment.host or getattr(options, "host", None)
        if not target:
            raise ValueError("no target: pass --host ws(s)://... (rtcload run starts an emulator for you)")
        _Process.settings = settings_from_options(options, target)
        if _Process.settings.credentials_file:
            _Process.pool = CredentialPool(load_pool(_Process.settings.credentials_file))
    return _Process.settings


def next_credentials(settings: LoadSettings, role: str) -> PoolEntry:
    """A credential of this user's own: from the pool file, or a generated open-mode user."""
    if _Process.pool is not None:
        return _Process.pool.take()
    name = f"{settings.user_prefix}-{role}-{_Process.process_tag}-{next(_Process.counter):05d}"
    return PoolEntry(PasswordCredentials(name, settings.open_password), name, name)


class WebRTCUser(User):
    """One softphone: registers on start, closes (bye on live calls) on stop."""

    abstract = True
    role = "caller"
    inbound = False

    def __init__(self, environment: Environment) -> None:
        super().__init__(environment)
        self.settings = process_settings(environment)
        self.rng = random.Random()
        self.endpoint: VirtualEndpoint | None = None
        self.identity = ""

    def wait_time(self) -> float:
        return self.settings.think_time.sample(self.rng)

    @property
    def bridge(self) -> Bridge:
        assert _Process.bridge is not None, "rtcload bridge not started (events.init did not run)"
        return _Process.bridge

    def fire(self, samples: list[Sample]) -> None:
        for sample in samples:
            request_type, name, value = locust_fields(sample)
            self.environment.events.request.fire(
                request_type=request_type,
                name=name,
                response_time=value,
                response_length=0,
                exception=None if sample.ok else RuntimeError(sample.error),
                context={"user": self.identity},
            )

    def on_start(self) -> None:
        self.register()

    def register(self) -> bool:
        entry = next_credentials(self.settings, self.role)
        self.identity = entry.identity
        endpoint = VirtualEndpoint(self.settings, entry.credentials, entry.identity, inbound=self.inbound)
        samples = self.bridge.run(endpoint.register())
        self.fire(samples)
        if all(s.ok for s in samples):
            self.endpoint = endpoint
            _Process.endpoints.add(endpoint)
            return True
        return False

    def unregister(self) -> None:
        endpoint, self.endpoint = self.endpoint, None
        if endpoint is not None:
            _Process.endpoints.discard(endpoint)
            self.bridge.run(endpoint.unregister(), timeout=30)

    def on_stop(self) -> None:
        try:
            self.unregister()
        except Exception as exc:  # stopping must go on for the other users
            log.warning("[%s] unregister on stop failed: %r", self.identity, exc)

    def ensure_registered(self) -> bool:
        return self.endpoint is not None or self.register()


class CallerUser(WebRTCUser):
    """Places calls of a sampled duration to the destination pool, one after another."""

    abstract = True

    @task
    def place_call(self) -> None:
        if not self.ensure_registered():
            return
        assert self.endpoint is not None
        destination = self.pick_destination()
        duration = self.settings.call_duration.sample(self.rng)
        self.fire(self.bridge.run(self.endpoint.outbound_call(destination, duration)))

    def pick_destination(self) -> str:
        return self.settings.destinations.pick(self.rng)


class AgentUser(WebRTCUser):
    """Registers and answers inbound calls (a contact-centre agent)."""

    abstract = True
    role = "agent"
    inbound = True

    def wait_time(self) -> float:
        return 0.0

    def on_start(self) -> None:
        if self.register():
            _Process.agents.append(self.identity)

    def on_stop(self) -> None:
        if self.identity in _Process.agents:
            _Process.agents.remove(self.identity)
        super().on_stop()

    @task
    def take_calls(self) -> None:
        if not self.ensure_registered():
            return
        assert self.endpoint is not None
        self.fire(self.bridge.run(self.endpoint.answer_next(wait_s=2.0, max_talk_s=600.0)))


class AgentCallerUser(CallerUser):
    """Dials a registered agent of this process by username."""

    abstract = True

    def pick_destination(self) -> str:
        return self.rng.choice(_Process.agents) if _Process.agents else "echo"


class RegistrationUser(WebRTCUser):
    """Registers and unregisters at the think-time rate; no calls, no media."""

    abstract = True
    role = "reg"

    def on_start(self) -> None:
        pass

    @task
    def register_cycle(self) -> None:
        if self.register():
            self.unregister()
