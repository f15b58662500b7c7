"""The --rtc-* options that scenarios register on Locust's parser, in one table Locust need not be imported for.

settings.LOAD_OPTIONS holds every scenario's options; these belong to one scenario (open_calls, the
soak) or to the warm-up plugin, and are registered by them. `rtcload run` lists and forwards both
tables, so `run --help` shows every --rtc-* option (tests/test_options_vocabulary.py checks it against
Locust's own parser). Rows are (flag, env, default, help, kind) like settings.LOAD_OPTIONS.
"""

from __future__ import annotations

from typing import Any

from rtcload.loadgen.settings import LOAD_OPTIONS

OPEN_MODEL_OPTIONS: tuple[tuple[str, str, str, str], ...] = (
    ("--rtc-cps", "RTCLOAD_CPS", "", "offered call attempts per second: 20, or a ramp START:END:DURATION (SIPp -r)"),
    ("--rtc-cps-steps", "RTCLOAD_CPS_STEPS", "", "a staircase of rates, e.g. 5,10,20 (with --rtc-step-duration)"),
    ("--rtc-step-duration", "RTCLOAD_STEP_DURATION", "", "how long each --rtc-cps-steps rate lasts, e.g. 30s"),
    ("--rtc-arrival", "RTCLOAD_ARRIVAL", "poisson", "inter-arrival times: poisson or fixed (SIPp's even pacing)"),
    ("--rtc-max-concurrent", "RTCLOAD_MAX_CONCURRENT", "0", "cap on calls in progress, 0 = none (SIPp -l)"),
    ("--rtc-generators", "RTCLOAD_GENERATORS", "1", "Locust processes sharing the rate (each offers 1/N of it)"),
)
SOAK_OPTIONS: tuple[tuple[str, str, Any, str, str], ...] = (
    (
        "--rtc-faults",
        "RTCLOAD_FAULTS",
        "",
        "soak: fault schedule, e.g. every=10s,action=drop,share=0.3",
        "str",
    ),
    ("--rtc-control-token", "RTCLOAD_CONTROL_TOKEN", "", "soak: the emulator's control token", "secret"),
    ("--rtc-resource-report", "RTCLOAD_RESOURCE_REPORT", "", "soak: write the leak report (JSON) here", "str"),
    (
        "--rtc-resource-interval",
        "RTCLOAD_RESOURCE_INTERVAL",
        30.0,
        "soak: seconds between resource samples (RSS, FDs, UDP sockets, tasks, objects) of each process",
        "float",
    ),
)
WARMUP_OPTION = (
    "--rtc-warmup",
    "RTCLOAD_WARMUP",
    "0",
    "time after the start whose samples are dropped (rtcload/gates/warmup.py; `rtcload run` sets it from --warmup)",
    "str",
)
SCENARIO_OPTIONS: tuple[tuple[str, str, Any, str, str], ...] = (
    *((flag, env, default, f"open model: {help_text}", "str") for flag, env, default, help_text in OPEN_MODEL_OPTIONS),
    *SOAK_OPTIONS,
    WARMUP_OPTION,
)
ALL_LOAD_OPTIONS = (*LOAD_OPTIONS, *SCENARIO_OPTIONS)  # every --rtc-* option, as `rtcload run` lists them
