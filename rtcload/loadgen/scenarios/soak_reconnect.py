"""soak_reconnect: long calls held while sockets drop and the platform restarts; reconnect time,
reattach and media gaps are measured, and the generator watches itself for leaks.

Options (Locust arguments / environment): --rtc-faults "every=10s,action=drop,share=0.3; ..."
(needs the emulator's control token: --rtc-control-token / RTCLOAD_CONTROL_TOKEN), and
--rtc-resource-report PATH for the leak report (JSON). Only one process drives the fault schedule.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from locust import events
from locust.env import Environment
from locust.runners import MasterRunner, WorkerRunner

from rtcload.loadgen.soak import ResourceWatch, parse_fault_schedule, run_fault_schedule, write_report
from rtcload.loadgen.soak_summary import FAULTS_PART, RESOURCES_PART
from rtcload.loadgen.user import CallerUser, bridge_of_process, process_tag
from rtcload.memtrace import trace_from_env
from rtcload.options.build import add_locust_options

log = logging.getLogger("rtcload.loadgen")
_state: dict[str, Any] = {}


@events.init_command_line_parser.add_listener
def _soak_arguments(parser: Any, **_kw: Any) -> None:
    add_locust_options(parser, "soak")  # from the registry, listed by `rtcload run --help` too


@events.test_start.add_listener
def _soak_start(environment: Environment, **_kw: Any) -> None:
    if isinstance(environment.runner, MasterRunner):
        return
    bridge = bridge_of_process()
    options = environment.parsed_options
    watch = ResourceWatch(float(options.rtc_resource_interval))
    _state["watch"] = watch
    bridge.submit_task(watch.run(), "resource-watch")
    bridge.submit_task(trace_from_env("generator"), "memtrace")  # RTCLOAD_TRACEMALLOC: off unless set
    first_process = not isinstance(environment.runner, WorkerRunner) or environment.runner.worker_index == 0
    if options.rtc_faults and first_process:
        if not options.rtc_control_token:
            raise ValueError("--rtc-faults needs --rtc-control-token (RTCLOAD_CONTROL_TOKEN)")
        clauses = parse_fault_schedule(options.rtc_faults)
        applied: list[dict[str, Any]] = []
        _state["faults"] = applied
        host = environment.host or options.host
        bridge.submit_task(run_fault_schedule(host, options.rtc_control_token, clauses, applied), "fault-schedule")


@events.test_stop.add_listener
def _soak_stop(environment: Environment, **_kw: Any) -> None:
    if isinstance(environment.runner, MasterRunner):
        return
    bridge = bridge_of_process()
    bridge.cancel_tasks("fault-schedule", "resource-watch", "memtrace")
    watch: ResourceWatch | None = _state.get("watch")
    if watch is None:
        return
    report = watch.report()
    report["faults_applied"] = _state.get("faults", [])
    path = environment.parsed_options.rtc_resource_report
    if path:
        write_report(path, report)
    ledger = getattr(environment.parsed_options, "rtc_ledger", "")
    if ledger:  # summary.json `soak` (soak_summary.py): this process's samples and the faults it injected
        Path(ledger).mkdir(parents=True, exist_ok=True)
        tag = process_tag()
        Path(ledger, f"{RESOURCES_PART}.{tag}.json").write_text(json.dumps(watch.rows()))
        if "faults" in _state:
            Path(ledger, f"{FAULTS_PART}.{tag}.json").write_text(json.dumps(_state["faults"], default=str))
    if report["leaks"]:
        log.error("resource growth beyond tolerance: %s", report["leaks"])
        environment.events.request.fire(
            request_type="GENERATOR",
            name="resources",
            response_time=0,
            response_length=0,
            exception=RuntimeError(f"growth beyond tolerance: {report['leaks']}"),
            context={},
        )


class SoakCaller(CallerUser):
    pass
