"""One outcome vocabulary for `rtcload run` and `rtcload capacity` (issue 25): success is spelled once.

The run's judge and the capacity step's judge are fed real summaries and must answer in `Outcome`;
the serialized run values stay those of summary.json (`rtcload.summary/1`), and capacity.json's steps
use the same words under `rtcload.capacity/2`.
"""

from __future__ import annotations

import argparse

from rtcload.gates.capacity import CAPACITY_SCHEMA, Step, conclude, judge_step
from rtcload.gates.slo import SLOSet, parse_slo
from rtcload.report.capacity_html import _step_passed
from rtcload.results.outcome import CAPACITY_V1_STEP, Outcome


def _summary(answered: int, failed: int) -> dict:
    return {
        "calls": {
            "attempted": answered + failed,
            "answered": answered,
            "failed": failed,
            "success_ratio": answered / (answered + failed),
        },
        "metrics": {},
    }


def test_run_outcomes_keep_the_summary_json_words():
    """summary.json's outcome.verdict values did not change (schema rtcload.summary/1 is kept)."""
    assert [o.value for o in Outcome] == ["passed", "slo_failed", "run_broken", "interrupted", "generator_saturated"]
    assert Outcome.PASSED.passed and not Outcome.SLO_FAILED.passed


def test_capacity_step_verdicts_are_outcomes():
    gates = SLOSet((parse_slo("call_success_ratio >= 0.99"),))
    good = judge_step(5, _summary(100, 0), gates, {"saturated": False}, "step-5")
    broke = judge_step(10, _summary(90, 10), gates, {"saturated": False}, "step-10")
    saturated = judge_step(15, _summary(90, 10), gates, {"saturated": True}, "step-15")
    assert good.verdict is Outcome.PASSED and good.passed
    assert broke.verdict is Outcome.SLO_FAILED and not broke.passed
    assert saturated.verdict is Outcome.GENERATOR_SATURATED
    args = argparse.Namespace(max=20, cps=False)
    report = conclude([good, broke], args)
    assert report["schema"] == CAPACITY_SCHEMA == "rtcload.capacity/2"
    assert [s["verdict"] for s in report["steps"]] == ["passed", "slo_failed"]
    assert report["verdict"] == "target" and report["knee"] == 5
    assert conclude([good, saturated], args)["verdict"] == "generator_saturated"
    assert conclude([Step(5, Outcome.RUN_BROKEN)], args)["verdict"] == "below_start"


def test_capacity_report_reads_both_schemas():
    assert _step_passed({"verdict": "passed"}) and _step_passed({"verdict": "pass"})
    assert not _step_passed({"verdict": "slo_failed"}) and not _step_passed({"verdict": "target"})
    assert set(CAPACITY_V1_STEP) == {"pass", "target", "generator", "no_data"}
