"""The run report: one self-contained HTML file (inline CSS and SVG, no scripts, no network) for CI artifacts."""

from __future__ import annotations

import json
from html import escape
from pathlib import Path
from typing import Any

from rtcload.gates.slo import format_value
from rtcload.loadgen.summary import PERCENTILES
from rtcload.metrics.catalog import BY_KEY, SUMMARY_KEYS, Unit
from rtcload.report.history import read_distributions, read_history
from rtcload.report.svg import CSS, Chart, Series, render

LATENCY_KEYS = ("registration", "post_dial_delay", "call_setup", "ice_connect", "first_rtp", "hangup", "reconnect")
# quality metric -> (chart title, scale from base unit, axis unit)
QUALITY = {
    "mos": ("MOS (E-model) over time", 1.0, "MOS"),
    "rtt": ("RTT over time", 1000.0, "ms"),
    "jitter": ("Jitter over time", 1000.0, "ms"),
    "packet_loss": ("Packet loss over time", 100.0, "%"),
}
PAGE_CSS = """
body { font: 14px/1.4 sans-serif; margin: 24px; color: #222; max-width: 1200px; }
h1 { font-size: 22px; } h2 { font-size: 17px; margin-top: 28px; border-bottom: 1px solid #ddd; }
table { border-collapse: collapse; margin: 8px 0; } td, th { border: 1px solid #ddd; padding: 4px 8px; }
th { background: #f4f4f4; text-align: left; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
.pass { color: #1a7f37; font-weight: bold; } .fail { color: #cf222e; font-weight: bold; }
.verdict { font-size: 18px; padding: 8px 12px; display: inline-block; border-radius: 4px; }
.verdict.pass { background: #dafbe1; } .verdict.fail { background: #ffebe9; }
.charts { display: flex; flex-wrap: wrap; }
"""


def _ms(v: float) -> str:
    return f"{v * 1000:g}"


def latency_chart(csv_prefix: str | Path) -> str:
    """Percentile curves (p50..p100) of every timing metric: the latency distributions."""
    dists = read_distributions(csv_prefix)
    series = [Series(key, [(i, v) for i, (_p, v) in enumerate(dists[key])]) for key in LATENCY_KEYS if key in dists]
    labels = next((d for k, d in dists.items() if k in LATENCY_KEYS), [])
    ticks = [(i, f"p{p:g}") for i, (p, _v) in enumerate(labels)]
    chart = Chart("Latency distribution (percentiles)", series, "percentile", "ms", ticks, y_format=_ms, y_min=0)
    chart.width = 1100
    return render(chart)


def quality_charts(csv_prefix: str | Path, slo_limits: dict[str, list[tuple[float, str]]]) -> list[str]:
    history = read_history(csv_prefix)
    out = []
    for key, (title, scale, unit) in QUALITY.items():
        h = history.metrics.get(key)
        points = [(t, v * scale) for t, v in zip(h.t_mean, h.mean, strict=True)] if h else []
        limits = [(y * scale, label) for y, label in slo_limits.get(key, [])]
        chart = Chart(title, [Series(f"{key} (mean per interval)", points)], "time (s)", unit, hlines=limits)
        out.append(render(chart))
    return out


def calls_chart(csv_prefix: str | Path) -> str:
    history = read_history(csv_prefix)
    series = [Series("users", list(zip(history.t, history.users, strict=True)), "#7f7f7f", dashed=True)]
    answer = history.metrics.get("call_setup")
    if answer:
        series.append(
            Series("calls answered/s", [(t, r - f) for t, r, f in zip(answer.t, answer.rps, answer.fps, strict=True)])
        )
        series.append(Series("call failures/s", list(zip(answer.t, answer.fps, strict=True)), "#d62728"))
    reg = history.metrics.get("registration")
    if reg:
        series.append(Series("registration failures/s", list(zip(reg.t, reg.fps, strict=True)), "#ff7f0e"))
    chart = Chart("Calls and failures over time", series, "time (s)", "per second / users", y_min=0)
    chart.width = 1100
    return render(chart)


def _slo_table(summary: dict[str, Any]) -> str:
    rows = summary.get("slo") or []
    if not rows:
        return "<p>No SLOs were given for this run.</p>"
    body = "".join(
        f'<tr><td class="{"pass" if r["passed"] else "fail"}">{"PASS" if r["passed"] else "FAIL"}</td>'
        f"<td>{escape(r['name'])}</td><td>{escape(r['expr'])}</td>"
        f'<td class="num">{escape(format_value(r["observed"], r["unit"]))}</td><td>{escape(r["message"])}</td></tr>'
        for r in rows
    )
    head = "<tr><th>verdict</th><th>SLO</th><th>rule</th><th>observed</th><th>detail</th></tr>"
    return f'<table class="slo">{head}{body}</table>'


def _metrics_table(summary: dict[str, Any]) -> str:
    head = "".join(f"<th>{p}</th>" for p, _c in PERCENTILES)
    rows = []
    metrics = summary["metrics"]
    for key in [*SUMMARY_KEYS, *(k for k in metrics if k not in SUMMARY_KEYS)]:
        m = metrics.get(key)
        if m is None:
            continue
        unit = Unit(m["unit"])
        cells = "".join(f'<td class="num">{escape(format_value(m[p], unit))}</td>' for p, _c in PERCENTILES)
        mean = escape(format_value(m["mean"] if m["count"] else None, unit))
        help_text = escape(BY_KEY[key].help) if key in BY_KEY else ""
        rows.append(
            f'<tr><td title="{help_text}">{key}</td><td class="num">{m["count"]}</td>'
            f'<td class="num">{m["failures"]}</td>'
            f'<td class="num">{mean}</td>{cells}</tr>'
        )
    return f"<table><tr><th>metric</th><th>count</th><th>failures</th><th>mean</th>{head}</tr>{''.join(rows)}</table>"


def _failures_table(summary: dict[str, Any]) -> str:
    if not summary["failures"]:
        return "<p>No failures.</p>"
    body = "".join(
        f'<tr><td class="num">{f["count"]}</td><td>{escape(f["name"])}</td><td>{escape(f["error"])}</td></tr>'
        for f in summary["failures"][:50]
    )
    return f"<table><tr><th>count</th><th>measurement</th><th>error / cause</th></tr>{body}</table>"


def slo_limits(summary: dict[str, Any]) -> dict[str, list[tuple[float, str]]]:
    """Threshold lines for charts: SLOs on a metric's mean or percentiles, by metric."""
    out: dict[str, list[tuple[float, str]]] = {}
    for r in summary.get("slo") or []:
        if r["stat"] in ("mean", "p50", "p90", "p95", "p99", "min", "max"):
            out.setdefault(r["metric"], []).append(
                (r["threshold"], f"SLO {r['stat']} {r['op']} {format_value(r['threshold'], r['unit'])}")
            )
    return out


def render_report(summary: dict[str, Any], csv_prefix: str | Path) -> str:
    """The whole report page as a string."""
    calls = summary["calls"]
    ratio = calls["success_ratio"]
    verdict = summary.get("passed")
    verdict_html = (
        ""
        if not summary.get("slo")
        else f'<p class="verdict {"pass" if verdict else "fail"}">{"All SLOs passed" if verdict else "SLOs FAILED"}</p>'
    )
    gen = summary.get("generator") or {}
    facts = [
        ("scenario", summary.get("scenario", "")),
        ("target", summary.get("target", "")),
        ("users", summary.get("users", "")),
        ("duration", summary.get("duration", "")),
        ("warm-up excluded", f"{summary.get('warmup_s', 0):g} s"),
        ("calls", f"{calls['answered']}/{calls['attempted']} answered" + ("" if ratio is None else f" ({ratio:.2%})")),
        ("generator CPU", f"{gen.get('cpu_mean', '-')} % mean, {gen.get('cpu_max', '-')} % max" if gen else "-"),
    ]
    facts_html = "".join(f"<tr><th>{escape(k)}</th><td>{escape(str(v))}</td></tr>" for k, v in facts)
    charts_quality = "".join(quality_charts(csv_prefix, slo_limits(summary)))
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>rtcload report: {escape(str(summary.get("scenario", "")))}</title>
<style>{PAGE_CSS}{CSS}</style></head>
<body>
<h1>rtcload run report</h1>
{verdict_html}
<table>{facts_html}</table>
<h2>Service-level objectives</h2>
{_slo_table(summary)}
<h2>Measurements</h2>
{_metrics_table(summary)}
<h2>Latency distributions</h2>
<div class="charts">{latency_chart(csv_prefix)}</div>
<h2>Call quality over time</h2>
<div class="charts">{charts_quality}</div>
<h2>Calls and failures over time</h2>
<div class="charts">{calls_chart(csv_prefix)}</div>
<h2>Failures by cause</h2>
{_failures_table(summary)}
<script type="application/json" id="summary">{escape(json.dumps(summary, sort_keys=True), quote=False)}</script>
</body></html>
"""


def write_report(summary: dict[str, Any], csv_prefix: str | Path, path: str | Path) -> None:
    Path(path).write_text(render_report(summary, csv_prefix))
