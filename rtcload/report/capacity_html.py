"""The capacity report: the verdict, a table of steps and one chart of load vs each SLO metric."""

from __future__ import annotations

from html import escape
from pathlib import Path
from typing import Any

from rtcload.gates.slo import parse_slo
from rtcload.metrics.catalog import Unit
from rtcload.report.svg import CSS, Chart, Series, render
from rtcload.results.outcome import CAPACITY_V1_STEP, Outcome

PAGE_CSS = """
body { font: 14px/1.4 sans-serif; margin: 24px; color: #222; max-width: 1200px; }
table { border-collapse: collapse; } td, th { border: 1px solid #ddd; padding: 4px 8px; } th { background: #f4f4f4; }
.pass { color: #1a7f37; font-weight: bold; } .fail { color: #cf222e; font-weight: bold; }
.charts { display: flex; flex-wrap: wrap; }
"""
SCALE = {Unit.SECONDS: (1000.0, "ms"), Unit.RATIO: (100.0, "%"), Unit.MOS: (1.0, "MOS"), Unit.COUNT: (1.0, "")}


def _step_passed(step: dict[str, Any]) -> bool:
    """A step's verdict, of capacity.json schema /2 (an Outcome) or /1 ("pass", "target", ...)."""
    verdict = str(step.get("verdict", ""))
    return CAPACITY_V1_STEP.get(verdict, verdict) == Outcome.PASSED


def charts(report: dict[str, Any]) -> list[str]:
    """Per SLO: the observed value at each step against the users, with the limit drawn across."""
    out = []
    steps = report["steps"]
    for text in report.get("slos", []):
        slo = parse_slo(text)
        scale, unit = SCALE[slo.unit]
        points = []
        for step in steps:
            match = next((r for r in step["slo"] if r["expr"] == slo.text), None)
            if match and match["observed"] is not None:
                points.append((float(step["users"]), match["observed"] * scale))
        chart = Chart(
            f"{slo.text} vs load",
            [Series(slo.text, points)],
            "call attempts per second" if report.get("axis") == "CPS" else "users (concurrent calls)",
            unit,
            hlines=[(slo.threshold * scale, "limit")],
        )
        out.append(render(chart))
    return out


def write_capacity_report(report: dict[str, Any], path: str | Path) -> None:
    rows = "".join(
        f'<tr><td>{s["users"]}</td><td class="{"pass" if _step_passed(s) else "fail"}">{escape(s["verdict"])}</td>'
        f"<td>{s['calls'].get('answered', '-')}/{s['calls'].get('attempted', '-')}</td>"
        f"<td>{s['generator'].get('cpu_mean', '-')} %</td>"
        f"<td>{escape('; '.join(f['name'] + ': ' + f['message'] for f in s['failed']))}</td></tr>"
        for s in report["steps"]
    )
    axis = "CPS" if report.get("axis") == "CPS" else "users"
    html = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>rtcload capacity</title><style>{PAGE_CSS}{CSS}</style></head>
<body><h1>rtcload capacity search</h1>
<p><b>{escape(report["verdict"])}</b>: {escape(report["message"])}</p>
<table><tr><th>{axis}</th><th>verdict</th><th>calls answered</th><th>generator CPU</th><th>failed SLOs</th></tr>
{rows}</table>
<h2>Load vs each SLO metric</h2><div class="charts">{"".join(charts(report))}</div>
</body></html>
"""
    Path(path).write_text(html)
