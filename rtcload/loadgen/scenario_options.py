"""The --rtc-* options that scenarios register on Locust's parser, in one table Locust need not be imported for.

settings.LOAD_OPTIONS holds every scenario's options; these belong to one scenario (open_calls, the
soak) or to the warm-up plugin, and are registered by them. `rtcload run` lists and forwards both
tables, so `run --help` shows every --rtc-* option (tests/test_options_vocabulary.py checks it against
Locust's own parser). Rows are (flag, env, default, help, kind) like settings.LOAD_OPTIONS, and like
them come from the registry (rtcload/options/registry.toml, group `open model`, `soak`, `warm-up`).
"""

from __future__ import annotations

from typing import Any

from rtcload.loadgen.settings import LOAD_OPTIONS
from rtcload.options.table import load_table

OPEN_MODEL_OPTIONS: tuple[tuple[str, str, str, str], ...] = tuple(
    (flag, env, default, help_text) for flag, env, default, help_text, _kind in load_table("open model")
)
SOAK_OPTIONS: tuple[tuple[str, str, Any, str, str], ...] = load_table("soak")
(WARMUP_OPTION,) = load_table("warm-up")
SCENARIO_OPTIONS: tuple[tuple[str, str, Any, str, str], ...] = (
    *((flag, env, default, f"open model: {help_text}", "str") for flag, env, default, help_text in OPEN_MODEL_OPTIONS),
    *SOAK_OPTIONS,
    WARMUP_OPTION,
)
ALL_LOAD_OPTIONS = (*LOAD_OPTIONS, *SCENARIO_OPTIONS)  # every --rtc-* option, as `rtcload run` lists them
