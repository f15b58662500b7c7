"""How a run, or one step of a capacity search, ended: one vocabulary for `rtcload run` and `rtcload capacity`.

`rtcload run` writes it to summary.json (`outcome.verdict`); `rtcload capacity` writes it for every
step of capacity.json (`steps[].verdict`). Both used to spell success differently ("passed" and
"pass"); the values are those of summary.json, which kept its schema, and capacity.json's steps
moved to them with the schema `rtcload.capacity/2` (docs/ci.md).
"""

from __future__ import annotations

from enum import StrEnum


class Outcome(StrEnum):
    PASSED = "passed"  # every gate and SLO held
    SLO_FAILED = "slo_failed"  # the target broke an SLO (exit 1)
    RUN_BROKEN = "run_broken"  # the run could not be judged: a default gate failed, Locust died, no data (exit 3)
    INTERRUPTED = "interrupted"  # stopped by a signal; the results cover what ran
    GENERATOR_SATURATED = "generator_saturated"  # the generator, not the target, was the limit

    @property
    def passed(self) -> bool:
        return self is Outcome.PASSED


# capacity.json steps of schema rtcload.capacity/1 spelled these; readers of old files map them.
CAPACITY_V1_STEP = {
    "pass": Outcome.PASSED,
    "target": Outcome.SLO_FAILED,
    "generator": Outcome.GENERATOR_SATURATED,
    "no_data": Outcome.RUN_BROKEN,
}
