"""The gevent side: Locust users that drive VirtualEndpoints through the bridge and fire events.

Events are fired here, from greenlets, never from the asyncio thread. Importing this module
registers rtcload's command-line options and the per-process bridge with Locust.
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import logging
import random
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gevent.event
from locust import User, events, task
from locust.env import Environment
from locust.exception import StopUser
from locust.runners import MasterRunner, WorkerRunner

from rtcload.loadgen import health as health_mod
from rtcload.loadgen import process_health
from rtcload.loadgen.audio_keep import AUDIO_DIR, AudioKeeper
from rtcload.loadgen.bridge import Bridge
from rtcload.loadgen.credentials import CredentialPool, PoolEntry, load_pool
from rtcload.loadgen.endpoint import Sample, VirtualEndpoint, locust_fields
from rtcload.loadgen.live import plugin as live
from rtcload.loadgen.locust_trim import trim_forever
from rtcload.loadgen.observe import record
from rtcload.loadgen.records import CallRecordWriter
from rtcload.loadgen.settings import (
    LoadSettings,
    metrics_settings_from_options,
    settings_from_options,
)
from rtcload.metrics.catalog import measurement
from rtcload.metrics.exporter import PROCESS_GAUGES, GeneratorMetrics
from rtcload.options.build import add_locust_options
from rtcload.procstats import ProcessGauges
from rtcload.results.ledger import CALLS_PART, SAMPLES_PART, SampleWriter
from rtcload.signaling import PasswordCredentials

log = logging.getLogger("rtcload.loadgen")
logging.getLogger("aioice").setLevel(logging.WARNING)  # one INFO line per ICE check drowns Locust's log


@dataclass
class ProcessState:
    """Everything one Locust process holds for its users: the bridge, settings, credentials, every live
    endpoint, the ledger writers, metrics and health. One explicit object (`_Process`), built once per
    process and filled by the events.init listener, instead of mutable class attributes."""

    bridge: Bridge | None = None
    settings: LoadSettings | None = None
    pool: CredentialPool | None = None
    endpoints: set[VirtualEndpoint] = field(default_factory=set)
    agents: list[str] = field(default_factory=list)
    counter: Iterator[int] = field(default_factory=itertools.count)
    process_tag: str = "p0"
    records: CallRecordWriter | None = None
    samples: SampleWriter | None = None  # the ledger: every sample fired, as Locust and Prometheus see it
    ledger: Path | None = None
    ready: gevent.event.Event = field(default_factory=gevent.event.Event)  # set once events.init built the bridge
    metrics: GeneratorMetrics | None = None
    health: health_mod.Health | None = None
    metrics_server: Any = None
    health_final: bool = False  # the quitting health record is written


_Process = ProcessState()  # this process's state (one per Locust process; workers are processes)


@events.init_command_line_parser.add_listener
def _add_arguments(parser: Any, **_kw: Any) -> None:
    add_locust_options(parser, "load")  # from the registry (rtcload/options/registry.toml)


@events.init.add_listener
def _on_init(environment: Environment, **_kw: Any) -> None:
    runner = environment.runner
    if isinstance(runner, MasterRunner):
        _start_metrics(environment, "master", 0)
        return  # the master runs no users: no loop thread there
    if isinstance(runner, WorkerRunner):
        _Process.process_tag = f"w{runner.worker_index}x{random.randrange(36**4):04x}"
        role, index = "worker", 1 + runner.worker_index
    else:
        _Process.process_tag = f"p{random.randrange(36**4):04x}"
        role, index = "local", 0
    _Process.bridge = Bridge()
    _start_metrics(environment, role, index)
    options = environment.parsed_options
    records = getattr(options, "rtc_call_records", "") if options else ""
    ledger = getattr(options, "rtc_ledger", "") if options else ""
    if ledger:
        _Process.ledger = Path(ledger)
        _Process.samples = SampleWriter(_Process.ledger / f"{SAMPLES_PART}.{_Process.process_tag}.csv")
        records = records or str(_Process.ledger / CALLS_PART)
        keep = int(float(getattr(options, "rtc_keep_audio", 0) or 0))  # WAVs of scored calls (issue 24)
        AudioKeeper.configure(_Process.ledger / AUDIO_DIR, keep, _Process.process_tag)
    if records:
        _Process.records = CallRecordWriter(f"{records}.{_Process.process_tag}.csv")
    _pre_encode_source(options)
    # Creating the bridge yields to the gevent hub (it waits for the loop thread), and a worker may
    # start users meanwhile: they wait for this before touching the bridge.
    _Process.ready.set()


def _start_metrics(environment: Environment, role: str, index: int) -> None:
    """This process' registry, health probes and, if a port is set, its /metrics server."""
    import gevent

    from rtcload.metrics.http import serve_metrics

    options = metrics_settings_from_options(environment.parsed_options)
    metrics = _Process.metrics = GeneratorMetrics()
    health = _Process.health = health_mod.Health(
        options.saturation_lag_s, options.saturation_cpu, options.saturation_send_late_s
    )
    metrics.set_function("process_cpu", lambda: health.cpu_ratio, role=role)
    process = ProcessGauges(_Process.bridge.loop if _Process.bridge is not None else None)
    for key, name in PROCESS_GAUGES.items():
        metrics.set_function(key, functools.partial(process.value, name), role=role)
    metrics.set_function("saturated", lambda: float(health.saturated()))
    metrics.set_function("loop_lag", health.gevent_lag.p99, loop="gevent")
    if role != "master":
        from rtcload.media.encoded import SEND_GAPS
        from rtcload.media.engine.clock import SEND_LATENESS

        health.send_gaps = SEND_GAPS
        health.send_lateness = SEND_LATENESS
        metrics.set_function("loop_lag", health.send_spread, loop="rtp_send")
    live.attach(environment, role, metrics.registry, health, _Process.process_tag)
    gevent.spawn(health_mod.cpu_sampler, health)
    if role != "master":
        gevent.spawn(_rewrite_health, environment)
    gevent.spawn(health_mod.gevent_lag_probe, health.gevent_lag)
    gevent.spawn(trim_forever, environment.stats)  # Locust's per-second counts and chart history, bounded
    if _Process.bridge is not None:
        metrics.set_function("loop_lag", health.asyncio_lag.p99, loop="asyncio")
        metrics.set_function("users", lambda: float(environment.runner.user_count if environment.runner else 0))
        metrics.set_function("registered_clients", lambda: float(sum(e.registered for e in _Process.endpoints)))
        metrics.set_function("active_calls", lambda: float(sum(e.active_calls for e in _Process.endpoints)))
        _Process.bridge.submit(health_mod.asyncio_lag_probe(health.asyncio_lag))
    gevent.spawn(_feed_lag_histogram, metrics, health)
    port = options.port_for(index)
    if port:
        try:
            _Process.metrics_server = serve_metrics(metrics.registry, options.host, port)
            log.info("%s metrics on http://%s:%d/metrics", role, options.host, port)
        except OSError as exc:
            log.warning("cannot serve metrics on %s:%d: %s", options.host, port, exc)


def _feed_lag_histogram(metrics: GeneratorMetrics, health: health_mod.Health) -> None:
    """Greenlet: move probe samples into the lag histogram on the gevent side (prometheus locks live here)."""
    import gevent

    while True:
        gevent.sleep(1.0)
        for loop, window in (("asyncio", health.asyncio_lag), ("gevent", health.gevent_lag)):
            for lag in window.drain():
                metrics.observe("loop_lag_samples", lag, loop=loop)


@events.test_start.add_listener
def _on_test_start(environment: Environment, **_kw: Any) -> None:
    """When the test started, in the ledger: the warm-up is measured from here, as Locust's reset is."""
    if _Process.ledger is not None and not isinstance(environment.runner, MasterRunner):
        (_Process.ledger / f"test_start.{_Process.process_tag}").write_text(f"{time.time():.3f}")


@events.test_stop.add_listener
def _on_test_stop(environment: Environment, **_kw: Any) -> None:
    """Safety net: whatever users did not clean up is hung up (bye) and closed here.

    Then the final counters go to the ledger: the users have stopped, and a Locust worker may be
    killed by its master before it reaches `quitting`."""
    try:
        _close_leftovers()
    finally:
        _write_final_counters()


def _pre_encode_source(options: Any) -> None:
    """Encode the run's audio source now, before any call: a long source (the 10 s speech source, a WAV)
    costs ~1 s to synthesise and encode, which the first call would otherwise spend on the media loop."""
    audio = str(getattr(options, "rtc_audio", "") or "") if options else ""
    if not audio or getattr(options, "rtc_media", "aiortc") == "none":
        return
    from rtcload.loadgen.endpoint import AUDIO_SPECS
    from rtcload.media.encoded import encoded_frames

    try:
        encoded_frames(AUDIO_SPECS.get(audio, audio), str(getattr(options, "rtc_codec", "opus") or "opus").lower())
    except ValueError:  # a bad spec or codec: the settings check reports it, with its option's name
        pass


def _close_leftovers() -> None:
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
    # On SIGTERM/SIGINT Locust fires `quitting` before it stops the users: stop them gracefully here,
    # while the bridge still runs, so calls in progress end with a bye and land in the ledger.
    runner = environment.runner
    if isinstance(runner, MasterRunner):  # its workers stop their users and write the ledger first
        process_health.wait_for_workers(runner, (environment.stop_timeout or 0.0) + process_health.WORKER_EXIT_GRACE_S)
    if runner is not None and not isinstance(runner, MasterRunner) and runner.state not in ("stopped", "ready"):
        try:
            runner.stop()
        except Exception as exc:
            log.warning("graceful stop on quit failed: %r", exc)
    _write_final_counters()
    if _Process.samples is not None:
        _Process.samples.close()
        _Process.samples = None
    _push_metrics(environment)
    _write_health(environment, final=True)
    if _Process.metrics_server is not None:
        _Process.metrics_server.stop(timeout=1)
        _Process.metrics_server = None
    if _Process.bridge is not None:
        overhead = _Process.bridge.overhead_summary()
        if overhead:
            log.info("bridge overhead: %s", overhead)
        _Process.bridge.stop()
        _Process.bridge = None


def _write_final_counters() -> None:
    """The process' Prometheus registry as it stands at the end, in the ledger: the counters a scrape
    would have shown last, kept for the reconciliation of every output (docs/ci.md)."""
    if _Process.ledger is None or _Process.metrics is None:
        return
    from prometheus_client import generate_latest

    path = _Process.ledger / f"metrics.{_Process.process_tag}.prom"
    try:
        path.write_bytes(generate_latest(_Process.metrics.registry))
    except OSError as exc:
        log.warning("cannot write final counters to %s: %r", path, exc)


def _write_health(environment: Environment, final: bool = False) -> None:
    """This process's whole-run health record for `rtcload run` (--rtc-health-file PATH -> PATH.<tag>.json):
    process_health.py says what it holds and why workers rewrite it as they go."""
    options = metrics_settings_from_options(environment.parsed_options)
    if not options.health_file or _Process.health is None or _Process.bridge is None:
        return
    from rtcload.media.engine.native import path_used

    role = "worker" if isinstance(environment.runner, WorkerRunner) else "local"
    record = process_health.health_record(_Process.health, _Process.process_tag, role, path_used(), final)
    if _Process.health_final:
        return  # the last record is written: nothing may overwrite it
    _Process.health_final = final
    process_health.write_record(f"{options.health_file}.{_Process.process_tag}.json", record)


def _rewrite_health(environment: Environment) -> None:
    """Greenlet: the health record every few seconds, so a process killed before it quits leaves one."""
    import gevent

    while True:
        gevent.sleep(process_health.REWRITE_EVERY_S)
        if _Process.health_final:
            return
        _write_health(environment)


def _push_metrics(environment: Environment) -> None:
    """Optional Pushgateway push for runs too short to be scraped (CI); one group per process."""
    options = metrics_settings_from_options(environment.parsed_options)
    if not options.pushgateway or _Process.metrics is None:
        return
    from prometheus_client import push_to_gateway

    try:
        push_to_gateway(
            options.pushgateway,
            job="rtcload",
            registry=_Process.metrics.registry,
            grouping_key={"process": _Process.process_tag},
        )
    except Exception as exc:
        log.warning("pushgateway push to %s failed: %r", options.pushgateway, exc)


def bridge_of_process() -> Bridge:
    """This Locust process's bridge (created in events.init; never on the master)."""
    _Process.ready.wait(timeout=60)
    if _Process.bridge is None:
        raise RuntimeError("rtcload bridge not started in this process")
    return _Process.bridge


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
        if not _Process.ready.wait(timeout=60) or _Process.bridge is None:
            raise StopUser("rtcload bridge not running in this process (starting up or already stopped)")
        return _Process.bridge

    def fire(self, samples: list[Sample]) -> None:
        """One sample goes to the ledger, Prometheus and Locust together: every output counts it once."""
        now = time.time()
        for sample in samples:
            if _Process.samples is not None:
                _Process.samples.write(
                    now,
                    sample.key,
                    sample.value,
                    sample.error,
                    code=sample.code,
                    cause=sample.cause,
                    outcome=sample.outcome,
                    label=sample.label,
                )
            if _Process.metrics is not None:
                record(_Process.metrics, sample)
            live.observe(sample)  # the live Quality view (quality samples are no Locust requests)
            if measurement(sample.key).locust_type is None:
                continue  # a counter (reattach outcomes) or a quality sample: no Locust request of its own
            request_type, name, value = locust_fields(sample)
            self.environment.events.request.fire(
                request_type=request_type,
                name=name,
                response_time=value,
                response_length=0,
                exception=None if sample.ok else RuntimeError(sample.error),
                context={"user": self.identity},
            )

    def write_records(self, endpoint: VirtualEndpoint | None = None) -> None:
        source = endpoint or self.endpoint
        if source is None:
            return
        rows = source.drain_records()
        for row in rows:
            if _Process.records is not None:
                _Process.records.write(row)
            live.record(row)
            if row.get("outcome") == "interrupted" and _Process.metrics is not None:
                # no sample (and no Locust request) decides these: the record is their only witness
                _Process.metrics.inc("calls", result="interrupted")

    def on_start(self) -> None:
        with contextlib.suppress(StopUser):  # the process is stopping: Locust stops this user next
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
            self.fire(endpoint.drain_events())  # audio scores that arrived after the last call
            self.write_records(endpoint)

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

    calls_placed = 0

    @task
    def place_call(self) -> None:
        limit = self.settings.calls_per_user
        if limit and self.calls_placed >= limit:
            raise StopUser()  # a known number of calls (CI reconciliation); on_stop unregisters
        if not self.ensure_registered():
            return
        assert self.endpoint is not None
        destination = self.pick_destination()
        duration = self.settings.call_duration.sample(self.rng)
        self.calls_placed += 1
        self.fire(self.bridge.run(self.endpoint.outbound_call(destination, duration)))
        self.write_records()

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
        with contextlib.suppress(StopUser):
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
        self.write_records()


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


def process_metrics() -> GeneratorMetrics | None:
    """This process' Prometheus registry wrapper (None before events.init)."""
    return _Process.metrics


def process_tag() -> str:
    """This process' tag in ledger file names (p…, or w<index>x… on a worker)."""
    return _Process.process_tag
