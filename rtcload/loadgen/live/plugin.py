"""Locust wiring of the live view: collect in every load process, report to the master, reduce, serve.

Workers put their collector's report into Locust's own stats message (`report_to_master`); the master
merges them as they arrive (`worker_report`), exactly the path Locust's request statistics take. A local
runner merges its own collector. The master (or local process) takes a point every TICK_S, writes the
quality CSVs when Locust writes its CSVs (`--csv`), and serves the view in Locust's web UI (`--web`).
`rtcload.loadgen.user` calls `observe`, `record` and `attach`; nothing else needs to know about this.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import gevent
from locust import events
from locust.env import Environment
from locust.runners import MasterRunner, WorkerRunner

from rtcload.loadgen.live.aggregate import LiveAggregate
from rtcload.loadgen.live.collector import COLLECTOR, health_figures
from rtcload.loadgen.live.csvfiles import HistoryWriter, write_final

log = logging.getLogger("rtcload.live")
TICK_S = 2.0
REPORT_KEY = "rtcload_live"  # the field of Locust's worker stats message that carries a collector report


class _Live:
    environment: Environment | None = None
    aggregate: LiveAggregate | None = None  # master or local process only
    history: HistoryWriter | None = None
    csv_prefix: str = ""
    dirty = False  # samples or records arrived since the last point (while stopped, only they make one)
    ticker: Any = None


def observe(sample: Any) -> None:
    """A fired sample (rtcload.loadgen.endpoint.Sample), as the ledger records it."""
    COLLECTOR.observe(sample.key, sample.value, sample.ok)


def record(row: dict[str, Any]) -> None:
    """A finished call's record, as calls.csv gets it."""
    COLLECTOR.record(row)


def attach(environment: Environment, role: str, registry: Any, health: Any, tag: str) -> None:
    """Called once per Locust process when its metrics registry and health probes exist (events.init)."""
    COLLECTOR.attach(registry, health, tag)
    _Live.environment = environment
    if role == "worker":
        return
    _Live.aggregate = LiveAggregate()
    options = environment.parsed_options
    _Live.csv_prefix = str(getattr(options, "csv_prefix", "") or "")
    if _Live.csv_prefix:
        try:
            _Live.history = HistoryWriter(f"{_Live.csv_prefix}_quality_history.csv")
        except OSError as exc:  # Locust reports its own CSV trouble; the run goes on without this file
            log.warning("cannot write %s_quality_history.csv: %s", _Live.csv_prefix, exc)
    _Live.ticker = gevent.spawn(_tick_forever)
    if environment.web_ui is not None:
        from rtcload.loadgen.live.web import install

        install(environment.web_ui, environment, _Live.aggregate)


def take_point(force: bool = False) -> dict[str, Any] | None:
    """Merge the local collector (no workers), then a point if the test runs or something arrived."""
    agg = _Live.aggregate
    environment = _Live.environment
    if agg is None or environment is None or environment.runner is None:
        return None
    runner = environment.runner
    if isinstance(runner, MasterRunner):  # no users here: only its own health (it can saturate too)
        agg.merge({"tag": "master", "health": health_figures(COLLECTOR.health)})
    elif COLLECTOR.tag and agg.merge(COLLECTOR.take_report()):
        _Live.dirty = True
    if not force and (runner.state in ("ready", "init") or (runner.state == "stopped" and not _Live.dirty)):
        return None
    _Live.dirty = False
    now = time.time()
    point = agg.tick(now, users=runner.user_count, exact=force or runner.state == "stopped")
    if _Live.history is not None:
        _Live.history.write(now, point)
    return point


def _tick_forever() -> None:
    while True:
        gevent.sleep(TICK_S)
        try:
            take_point()
        except Exception:  # the view must never take the run down
            log.exception("live view tick failed")


@events.report_to_master.add_listener
def _on_report_to_master(client_id: str, data: dict[str, Any], **_kw: Any) -> None:
    if COLLECTOR.tag:
        data[REPORT_KEY] = COLLECTOR.take_report()


@events.worker_report.add_listener
def _on_worker_report(client_id: str, data: dict[str, Any], **_kw: Any) -> None:
    report = data.get(REPORT_KEY)
    if report and _Live.aggregate is not None and _Live.aggregate.merge(report, str(report.get("tag") or client_id)):
        _Live.dirty = True


@events.test_start.add_listener
def _on_test_start(environment: Environment, **_kw: Any) -> None:
    """A new test starts from nothing, as Locust's statistics do; the warm-up is dropped as the ledger drops it."""
    COLLECTOR.reset()
    if _Live.aggregate is None or isinstance(environment.runner, WorkerRunner):
        return
    _Live.aggregate.reset()
    warmup = float(getattr(environment.parsed_options, "rtc_warmup", 0) or 0)
    if warmup > 0:
        gevent.spawn_later(warmup, _end_warmup)


def _end_warmup() -> None:
    if _Live.aggregate is not None:
        COLLECTOR.reset()
        _Live.aggregate.reset()


@events.quit.add_listener
def _on_quit(**_kw: Any) -> None:
    """After Locust's runner quit (workers' final reports are in): the last point and the final quality CSV."""
    if _Live.ticker is not None:
        _Live.ticker.kill(block=False)
    try:
        take_point(force=True)
    except Exception:
        log.exception("live view: final point failed")
    if _Live.aggregate is not None and _Live.csv_prefix:
        try:
            write_final(f"{_Live.csv_prefix}_quality.csv", _Live.aggregate.metrics())
        except OSError as exc:
            log.warning("cannot write %s_quality.csv: %s", _Live.csv_prefix, exc)
    if _Live.history is not None:
        _Live.history.close()
        _Live.history = None
