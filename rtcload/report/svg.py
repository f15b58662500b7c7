"""Tiny inline-SVG charts: enough for line and step charts without a JavaScript library or a network fetch."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from html import escape

PALETTE = ("#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#7f7f7f")


@dataclass
class Series:
    name: str
    points: list[tuple[float, float]]
    color: str = ""
    dashed: bool = False


@dataclass
class Chart:
    title: str
    series: list[Series]
    x_label: str = ""
    y_label: str = ""
    x_ticks: Sequence[tuple[float, str]] | None = None  # fixed ticks (categorical axes)
    y_format: Callable[[float], str] = field(default=lambda v: f"{v:g}")
    x_format: Callable[[float], str] = field(default=lambda v: f"{v:g}")
    hlines: Sequence[tuple[float, str]] = ()  # thresholds drawn across the plot
    y_min: float | None = None
    y_max: float | None = None  # a fixed scale (MOS: 1-5) that data never stretches or pads
    width: int = 540
    height: int = 280


def nice_ticks(lo: float, hi: float, count: int = 5) -> list[float]:
    """Round tick values covering [lo, hi] (1, 2, 5 x 10^n steps)."""
    if hi - lo <= 1e-9 * max(1.0, abs(lo)):  # flat (or float-noise) data: give the axis a real span
        hi = lo + (abs(lo) or 1.0)
    raw = (hi - lo) / count
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 5, 10) if m * mag >= raw)
    start = math.floor(lo / step) * step
    ticks = []
    v = start
    while v <= hi + step * 0.5:
        ticks.append(round(v, 12))
        v += step
    return ticks


def render(chart: Chart) -> str:
    """One chart as an <svg> element (class "chart") with axes, ticks, legend and threshold lines."""
    w, h = chart.width, chart.height
    left, right, top, bottom = 62, 14, 30, 46
    legend_rows = math.ceil(len(chart.series) / 3)
    bottom += 16 * legend_rows
    pw, ph = w - left - right, h - top - bottom
    xs = [x for s in chart.series for x, _ in s.points] + [x for x, _ in (chart.x_ticks or [])]
    ys = [y for s in chart.series for _, y in s.points] + [y for y, _ in chart.hlines]
    parts = [
        f'<svg class="chart" xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" viewBox="0 0 {w} {h}" '
        f'role="img" aria-label="{escape(chart.title)}">',
        f'<rect width="{w}" height="{h}" fill="#fff"/>',
        f'<text x="{w / 2}" y="18" text-anchor="middle" class="title">{escape(chart.title)}</text>',
    ]
    if not xs or not ys:
        parts.append(f'<text x="{w / 2}" y="{h / 2}" text-anchor="middle" class="empty">no data</text></svg>')
        return "".join(parts)
    x0, x1 = min(xs), max(xs)
    if x1 == x0:
        x0, x1 = x0 - 1, x1 + 1
    lo = min(ys) if chart.y_min is None else min(chart.y_min, min(ys))
    hi = max(ys) if chart.y_max is None else max(chart.y_max, max(ys))
    y_ticks = nice_ticks(lo, hi) if chart.y_max is None else [t for t in nice_ticks(lo, hi) if lo <= t <= hi]
    if chart.y_max is not None:
        y_ticks = sorted({lo, *y_ticks, hi})
    y0, y1 = y_ticks[0], y_ticks[-1]
    if y1 <= y0:
        y1 = y0 + 1.0

    def px(x: float) -> float:
        return left + (x - x0) / (x1 - x0) * pw

    def py(y: float) -> float:
        return top + ph - (y - y0) / (y1 - y0) * ph

    for t in y_ticks:
        parts.append(f'<line x1="{left}" x2="{left + pw}" y1="{py(t):.1f}" y2="{py(t):.1f}" class="grid"/>')
        parts.append(f'<text x="{left - 6}" y="{py(t) + 4:.1f}" text-anchor="end">{escape(chart.y_format(t))}</text>')
    x_ticks = chart.x_ticks or [(t, chart.x_format(t)) for t in nice_ticks(x0, x1) if x0 <= t <= x1]
    for t, label in x_ticks:
        parts.append(f'<line x1="{px(t):.1f}" x2="{px(t):.1f}" y1="{top + ph}" y2="{top + ph + 4}" class="axis"/>')
        parts.append(f'<text x="{px(t):.1f}" y="{top + ph + 16}" text-anchor="middle">{escape(label)}</text>')
    parts.append(f'<rect x="{left}" y="{top}" width="{pw}" height="{ph}" class="frame"/>')
    for y, label in chart.hlines:
        parts.append(f'<line x1="{left}" x2="{left + pw}" y1="{py(y):.1f}" y2="{py(y):.1f}" class="limit"/>')
        parts.append(
            f'<text x="{left + pw - 4}" y="{py(y) - 4:.1f}" text-anchor="end" class="limit">{escape(label)}</text>'
        )
    for i, s in enumerate(chart.series):
        color = s.color or PALETTE[i % len(PALETTE)]
        dash = ' stroke-dasharray="5,4"' if s.dashed else ""
        if len(s.points) > 1:
            path = " ".join(f"{px(x):.1f},{py(y):.1f}" for x, y in s.points)
            parts.append(f'<polyline points="{path}" fill="none" stroke="{color}" stroke-width="2"{dash}/>')
        for x, y in s.points if len(s.points) <= 40 else []:
            parts.append(f'<circle cx="{px(x):.1f}" cy="{py(y):.1f}" r="2.5" fill="{color}"/>')
        lx = left + (i % 3) * (pw / 3)
        ly = h - 10 - 16 * (legend_rows - 1 - i // 3)
        parts.append(f'<rect x="{lx:.1f}" y="{ly - 9}" width="12" height="4" fill="{color}"/>')
        parts.append(f'<text x="{lx + 16:.1f}" y="{ly - 4}">{escape(s.name)}</text>')
    if chart.x_label:
        parts.append(f'<text x="{left + pw / 2}" y="{top + ph + 30}" text-anchor="middle" class="label">')
        parts.append(f"{escape(chart.x_label)}</text>")
    if chart.y_label:
        parts.append(
            f'<text x="12" y="{top + ph / 2}" text-anchor="middle" class="label" '
            f'transform="rotate(-90 12 {top + ph / 2})">{escape(chart.y_label)}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


CSS = """
svg.chart { font: 11px sans-serif; margin: 6px; border: 1px solid #ddd; }
svg.chart .title { font-size: 13px; font-weight: bold; }
svg.chart .grid { stroke: #eee; } svg.chart .axis { stroke: #666; }
svg.chart .frame { fill: none; stroke: #999; }
svg.chart line.limit { stroke: #d62728; stroke-dasharray: 6,3; } svg.chart text.limit { fill: #d62728; }
svg.chart .empty { fill: #999; font-size: 14px; }
"""
