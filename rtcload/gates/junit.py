"""JUnit XML with one test case per SLO, so CI systems show each objective as a passing/failing test."""

from __future__ import annotations

import socket
import xml.etree.ElementTree as ET
from datetime import UTC, datetime
from pathlib import Path

from rtcload.gates.slo import SLOResult


def junit_xml(results: list[SLOResult], suite: str = "rtcload.slo", duration_s: float = 0.0) -> str:
    """The common JUnit layout: testsuites > testsuite(tests, failures, errors, skipped) > testcase > failure.

    Default gates go in their own suite, `rtcload.gates` (a failure there is a broken run, type RunBroken);
    SLOs in `suite` (type SLOViolation). A suite with no cases is left out."""
    groups = [
        ("rtcload.gates", [r for r in results if r.kind == "gate"], "RunBroken"),
        (suite, [r for r in results if r.kind != "gate"], "SLOViolation"),
    ]
    failures = sum(1 for r in results if not r.passed)
    root = ET.Element(
        "testsuites",
        name="rtcload",
        tests=str(len(results)),
        failures=str(failures),
        errors="0",
        time=f"{duration_s:.3f}",
    )
    for name, cases, failure_type in groups:
        if cases:
            _suite(root, name, cases, failure_type, duration_s)
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def _suite(root: ET.Element, suite: str, results: list[SLOResult], failure_type: str, duration_s: float) -> None:
    ts = ET.SubElement(
        root,
        "testsuite",
        name=suite,
        tests=str(len(results)),
        failures=str(sum(1 for r in results if not r.passed)),
        errors="0",
        skipped="0",
        time=f"{duration_s:.3f}",
        timestamp=datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S"),
        hostname=socket.gethostname(),
    )
    for r in results:
        case = ET.SubElement(ts, "testcase", classname=suite, name=r.name, time="0")
        if not r.passed:
            failure = ET.SubElement(case, "failure", message=f"{r.expr}: {r.message}", type=failure_type)
            failure.text = f"{r.expr}\n{r.message}\nobserved={r.observed} threshold={r.threshold} unit={r.unit}"
        else:
            ET.SubElement(case, "system-out").text = r.message


def write_junit(
    results: list[SLOResult], path: str | Path, suite: str = "rtcload.slo", duration_s: float = 0.0
) -> None:
    Path(path).write_text(junit_xml(results, suite, duration_s))
