"""The run report: one self-contained HTML file (inline CSS and SVG, no scripts, no network) for CI artifacts."""

from __future__ import annotations

import json
from html import escape
from pathlib import Path
from typing import Any

from rtcload.gates.slo import format_value
from rtcload.metrics.catalog import BY_KEY, SUMMARY_KEYS, Unit
from rtcload.report.audio_calls import audio_section
from rtcload.report.history import (
    RunHistory,
    ledger_distributions,
    ledger_history,
    read_distributions,
    read_history,
)
from rtcload.report.svg import CSS, Chart, Series, render
from rtcload.results.schema import MOS_COLUMNS, PERCENTILES

LATENCY_KEYS = ("registration", "post_dial_delay", "call_setup", "ice_connect", "first_rtp", "hangup", "reconnect")
# quality metric -> (chart title, scale from base unit, axis unit)
QUALITY = {
    "mos": ("MOS (E-model) over time", 1.0, "MOS (1-5)"),
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
.verdict.broken { background: #fff1c2; color: #7d4e00; font-weight: bold; }
.verdict .why { font-size: 14px; font-weight: normal; display: block; }
.charts { display: flex; flex-wrap: wrap; }
"""


def _ms(v: float) -> str:
    return f"{v * 1000:g}"


# A series keeps its colour in every chart: answered is never the red of failures.
COLORS = {"users": "#7f7f7f", "answered": "#2ca02c", "call_failures": "#d62728", "registration_failures": "#ff7f0e"}


def _sources(csv_prefix: str | Path, ledger: Path | None) -> tuple[RunHistory, dict[str, list[tuple[float, float]]]]:
    """Time series and distributions: from the ledger when the run has one (same samples as the summary)."""
    locust = read_history(csv_prefix)
    if ledger is not None and ledger.is_dir():
        return ledger_history(ledger, locust), ledger_distributions(ledger)
    return locust, read_distributions(csv_prefix)


def latency_chart(dists: dict[str, list[tuple[float, float]]]) -> str:
    """Percentile curves (p50..p100) of every timing metric: the latency distributions."""
    series = [Series(key, [(i, v) for i, (_p, v) in enumerate(dists[key])]) for key in LATENCY_KEYS if key in dists]
    labels = next((d for k, d in dists.items() if k in LATENCY_KEYS), [])
    ticks = [(i, f"p{p:g}") for i, (p, _v) in enumerate(labels)]
    chart = Chart("Latency distribution (percentiles)", series, "percentile", "ms", ticks, y_format=_ms, y_min=0)
    chart.width = 1100
    return render(chart)


def quality_charts(history: RunHistory, slo_limits: dict[str, list[tuple[float, str]]]) -> list[str]:
    out = []
    for key, (title, scale, unit) in QUALITY.items():
        h = history.metrics.get(key)
        points = [(t, v * scale) for t, v in zip(h.t_mean, h.mean, strict=True)] if h else []
        limits = [(y * scale, label) for y, label in slo_limits.get(key, [])]
        chart = Chart(title, [Series(f"{key} (mean per interval)", points)], "time (s)", unit, hlines=limits)
        if key == "mos":  # on the MOS scale, never a span padded around a flat series
            chart.y_min, chart.y_max = 1.0, 5.0
        out.append(render(chart))
    return out


def calls_chart(history: RunHistory) -> str:
    series = [Series("users", list(zip(history.t, history.users, strict=True)), COLORS["users"], dashed=True)]
    answer = history.metrics.get("call_setup")
    if answer:
        answered = [(t, r - f) for t, r, f in zip(answer.t, answer.rps, answer.fps, strict=True)]
        series.append(Series("calls answered/s", answered, COLORS["answered"]))
        series.append(Series("call failures/s", list(zip(answer.t, answer.fps, strict=True)), COLORS["call_failures"]))
    reg = history.metrics.get("registration")
    if reg:
        series.append(
            Series("registration failures/s", list(zip(reg.t, reg.fps, strict=True)), COLORS["registration_failures"])
        )
    chart = Chart("Calls and failures over time", series, "time (s)", "per second / users", y_min=0)
    chart.width = 1100
    return render(chart)


def banner(summary: dict[str, Any]) -> str:
    """Passed / SLO failed / run broken / interrupted, and why, at the top of the page."""
    outcome = summary.get("outcome") or {}
    verdict = outcome.get("verdict") or ("passed" if summary.get("passed", True) else "slo_failed")
    text, css = {
        "passed": ("PASSED", "pass"),
        "slo_failed": ("SLO FAILED", "fail"),
        "run_broken": ("RUN BROKEN", "broken"),
        "interrupted": ("INTERRUPTED", "broken"),
    }[verdict]
    why = escape(str(outcome.get("reason", "")))
    return f'<p class="verdict {css}" id="verdict" data-verdict="{verdict}">{text}<span class="why">{why}</span></p>'


def _verdict_table(rows: list[dict[str, Any]], what: str, empty: str) -> str:
    if not rows:
        return f"<p>{empty}</p>"
    body = "".join(
        f'<tr><td class="{"pass" if r["passed"] else "fail"}">{"PASS" if r["passed"] else "FAIL"}</td>'
        f"<td>{escape(r['name'])}</td><td>{escape(r['expr'])}</td>"
        f'<td class="num">{escape(format_value(r["observed"], r["unit"]))}</td><td>{escape(r["message"])}</td></tr>'
        for r in rows
    )
    head = f"<tr><th>verdict</th><th>{what}</th><th>rule</th><th>observed</th><th>detail</th></tr>"
    return f'<table class="{what.lower()}">{head}{body}</table>'


def _slo_table(summary: dict[str, Any]) -> str:
    return _verdict_table(summary.get("slo") or [], "SLO", "No SLOs were given for this run.")


def _gates_table(summary: dict[str, Any]) -> str:
    return _verdict_table(summary.get("gates") or [], "gate", "No default gates were judged.")


def _metrics_table(summary: dict[str, Any]) -> str:
    """Latency-like metrics with percentiles; MOS in a table of its own columns (p50, mean, p5, min)."""
    metrics = summary["metrics"]
    keys = [k for k in [*SUMMARY_KEYS, *(k for k in metrics if k not in SUMMARY_KEYS)] if k in metrics]
    tables = []
    for columns, select in (
        (("mean", *(p for p, _c in PERCENTILES)), lambda unit: unit is not Unit.MOS),
        (MOS_COLUMNS, lambda unit: unit is Unit.MOS),
    ):
        rows = []
        for key in keys:
            m = metrics[key]
            unit = Unit(m["unit"])
            if not select(unit):
                continue
            cells = "".join(
                f'<td class="num">{escape(format_value(m.get(c) if m["count"] else None, unit))}</td>' for c in columns
            )
            help_text = escape(BY_KEY[key].help) if key in BY_KEY else ""
            rows.append(
                f'<tr><td title="{help_text}">{key}</td><td class="num">{m["count"]}</td>'
                f'<td class="num">{m["failures"]}</td>{cells}</tr>'
            )
        if rows:
            head = "".join(f"<th>{c}</th>" for c in columns)
            tables.append(
                f"<table><tr><th>metric</th><th>count</th><th>failures</th>{head}</tr>{''.join(rows)}</table>"
            )
    return "".join(tables)


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


def _load_model_table(summary: dict[str, Any]) -> str:
    """Open-model runs (--cps): offered vs achieved rate, Erlangs, blocking and the Erlang-B check."""
    model = summary.get("load_model")
    if not model:
        return ""

    def pct(value: float | None) -> str:
        return "-" if value is None else f"{value:.2%}"

    rows = [
        ("plan", f"{model['plan']} CPS, {model['arrival']} arrivals, window {model['window_s']:g} s"),
        ("offered / achieved", f"{model['offered_cps']:.2f} / {model['achieved_cps']:.2f} CPS"),
        (
            "attempts",
            f"{model['due']} due, {model['placed']} placed, {model['refused_limit']} refused by the cap, "
            f"{model['refused_pool']} without an endpoint",
        ),
        ("generator kept the rate", f"{'yes' if model['generator_kept_rate'] else 'NO'}: {model['generator_message']}"),
        ("traffic", f"offered {model['offered_erlangs']} E, carried {model['carried_erlangs']} E"),
        ("blocking", f"{pct(model['blocking_ratio'])} ({model['blocked']} of {model['attempts_decided']})"),
    ]
    check = model.get("erlang_b") or {}
    if check.get("predicted") is not None:
        rows.append(
            (
                "Erlang-B",
                f"{check['trunks']} trunks at {check['offered_erlangs']} E: predicted {pct(check['predicted'])}, "
                f"measured {pct(check['measured'])}, z = {check['z']:+.2f} "
                f"({'within' if check['within'] else 'outside'} 3 sigma)",
            )
        )
    body = "".join(f"<tr><th>{escape(k)}</th><td>{escape(v)}</td></tr>" for k, v in rows)
    return f"<h2>Load model: calls per second and Erlangs</h2>\n<table>{body}</table>"


def _send_gaps_text(gaps: dict[str, Any] | None) -> str:
    """The generator's own send stalls (results/send_gaps.py), as one line."""
    if not gaps or not gaps.get("calls_measured"):
        return "-"
    worst = gaps.get("worst_instant_at")
    return (
        f"largest {gaps['gap_max_ms']:.1f} ms (limit {gaps.get('limit_ms', 40):.0f} ms); "
        f"{gaps['gaps_over_threshold']} gaps over {gaps['threshold_ms']:.0f} ms in {gaps['calls_with_gaps']} calls"
        + (f"; worst instant {worst}: {gaps['worst_instant_calls']} calls at once" if worst else "")
        + f"; {gaps['send_drops']} send drops"
    )


def render_report(summary: dict[str, Any], csv_prefix: str | Path, ledger: Path | None = None) -> str:
    """The whole report page as a string."""
    calls = summary["calls"]
    ratio = calls["success_ratio"]
    gen = summary.get("generator") or {}
    causes = ", ".join(f"{n} x {c}" for c, n in (calls.get("failed_by_cause") or {}).items())
    facts = [
        ("scenario", summary.get("scenario", "")),
        ("target", summary.get("target", "")),
        ("users", summary.get("users", "")),
        ("duration", summary.get("duration", "")),
        ("warm-up excluded", f"{summary.get('warmup_s', 0):g} s"),
        ("calls", f"{calls['answered']}/{calls['attempted']} answered" + ("" if ratio is None else f" ({ratio:.2%})")),
        ("failed calls by cause", causes or "-"),
        ("generator CPU", f"{gen.get('cpu_mean', '-')} % mean, {gen.get('cpu_max', '-')} % max" if gen else "-"),
        ("generator send gaps", _send_gaps_text(gen.get("send_gaps"))),
    ]
    facts_html = "".join(f"<tr><th>{escape(k)}</th><td>{escape(str(v))}</td></tr>" for k, v in facts)
    history, dists = _sources(csv_prefix, ledger)
    charts_quality = "".join(quality_charts(history, slo_limits(summary)))
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>rtcload report: {escape(str(summary.get("scenario", "")))}</title>
<style>{PAGE_CSS}{CSS}</style></head>
<body>
<h1>rtcload run report</h1>
{banner(summary)}
<table>{facts_html}</table>
{_load_model_table(summary)}
<h2>Default gates</h2>
{_gates_table(summary)}
<h2>Service-level objectives</h2>
{_slo_table(summary)}
<h2>Measurements</h2>
{_metrics_table(summary)}
<h2>Latency distributions</h2>
<div class="charts">{latency_chart(dists)}</div>
<h2>Call quality over time</h2>
<div class="charts">{charts_quality}</div>
{audio_section(ledger)}
<h2>Calls and failures over time</h2>
<div class="charts">{calls_chart(history)}</div>
<h2>Failures by cause</h2>
{_failures_table(summary)}
<script type="application/json" id="summary">{escape(json.dumps(summary, sort_keys=True), quote=False)}</script>
</body></html>
"""


def write_report(summary: dict[str, Any], csv_prefix: str | Path, path: str | Path, ledger: Path | None = None) -> None:
    Path(path).write_text(render_report(summary, csv_prefix, ledger))
