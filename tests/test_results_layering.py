"""The run-summary contract lives in rtcload.results: gates and reports read it without importing the load
generator, and rtcload.results imports none of loadgen, gates or report (no cycle)."""

from __future__ import annotations

import json
import subprocess
import sys

CHECK = """
import importlib, pkgutil, sys
import rtcload.{package} as package
for info in pkgutil.iter_modules(package.__path__):
    if info.name != "warmup":  # a Locust plugin, loaded into Locust next to a scenario
        importlib.import_module(f"rtcload.{package}.{{info.name}}")
import json
ours = ("rtcload.loadgen", "rtcload.gates", "rtcload.report")
print(json.dumps(sorted(m for m in sys.modules if m.startswith(ours))))
"""


def imported_by(package: str) -> list[str]:
    done = subprocess.run(
        [sys.executable, "-c", CHECK.format(package=package)], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_gates_and_report_do_not_import_the_load_generator():
    for package in ("gates", "report"):
        assert not [m for m in imported_by(package) if m.startswith("rtcload.loadgen")], package


def test_results_imports_none_of_loadgen_gates_or_report():
    assert imported_by("results") == []
