"""Service-level objectives: parse `registration p95 < 500ms`-style rules and judge a run summary.

A rule names a catalog metric and a statistic (mean, p5/p50/p90/p95/p99, min, max, count, failures,
failure_ratio) or a run-level figure (call_success_ratio, one_way_calls, ...). A time needs its unit
(ms, us, s): `post_dial_delay p95 < 300` is refused, never read as 300 s. A ratio takes % or permille,
or a bare fraction 0..1; MOS and counts are bare numbers. So a rule compares like with like.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from rtcload.metrics.catalog import BY_KEY, Unit
from rtcload.options import kinds

STATS = ("mean", "p5", "p50", "p90", "p95", "p99", "min", "max", "count", "failures", "failure_ratio")
STAT_ALIASES = {"avg": "mean", "median": "p50"}
# Run-level figures (no statistic): name -> (unit, how to read it from the summary).
SCALARS: dict[str, tuple[Unit, Callable[[dict[str, Any]], float | None]]] = {
    "call_success_ratio": (Unit.RATIO, lambda s: s["calls"]["success_ratio"]),
    "calls_attempted": (Unit.COUNT, lambda s: s["calls"]["attempted"]),
    "calls_answered": (Unit.COUNT, lambda s: s["calls"]["answered"]),
    "calls_failed": (Unit.COUNT, lambda s: s["calls"]["attempted"] - s["calls"]["answered"]),
    "registration_failures": (Unit.COUNT, lambda s: s["registrations"]["failed"]),
    # a call whose platform side sent no RTP is recorded as a failed first_rtp sample
    "one_way_calls": (Unit.COUNT, lambda s: s["metrics"].get("first_rtp", {}).get("failures", 0)),
    "failures_total": (Unit.COUNT, lambda s: sum(f["count"] for f in s["failures"])),
}
OPS: dict[str, Callable[[float, float], bool]] = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
    "==": operator.eq,
    "!=": operator.ne,
}
UNIT_SCALE: dict[str, tuple[Unit, float]] = {
    "s": (Unit.SECONDS, 1.0),
    "ms": (Unit.SECONDS, 1e-3),
    "us": (Unit.SECONDS, 1e-6),
    "%": (Unit.RATIO, 1e-2),
    "permille": (Unit.RATIO, 1e-3),
    "‰": (Unit.RATIO, 1e-3),
}
_RULE = re.compile(
    r"^\s*(?P<metric>[a-z_][a-z0-9_]*)(?:\s+(?P<stat>[a-z_0-9]+))?\s*(?P<op><=|>=|==|!=|<|>)\s*"
    r"(?P<value>[-+]?(?:\d+\.?\d*|\.\d+)(?:e[-+]?\d+)?)\s*(?P<unit>ms|us|s|%|permille|‰)?\s*$",
    re.IGNORECASE,
)


class SLOError(ValueError):
    """A rule or SLO file that cannot be understood (a usage error, not a failed objective)."""


@dataclass(frozen=True)
class SLO:
    metric: str
    stat: str | None
    op: str
    threshold: float  # in the metric's base unit
    unit: Unit
    text: str
    name: str = ""

    @property
    def label(self) -> str:
        return self.name or self.text

    def observe(self, summary: dict[str, Any]) -> float | None:
        if self.stat is None:
            value = SCALARS[self.metric][1](summary)
            return None if value is None else float(value)
        entry = summary["metrics"].get(self.metric)
        if entry is None:
            return None
        if self.stat == "failure_ratio":
            return entry["failures"] / entry["count"] if entry["count"] else None
        value = entry.get(self.stat)
        return None if value is None else float(value)


@dataclass(frozen=True)
class SLOResult:
    name: str
    expr: str
    metric: str
    stat: str | None
    op: str
    threshold: float
    observed: float | None
    unit: str
    passed: bool
    message: str
    kind: str = "slo"  # "slo" (an objective: exit 1 when failed) or "gate" (a default gate: exit 3)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def parse_slo(text: str, name: str = "") -> SLO:
    """`post_dial_delay p95 < 300ms` -> SLO; raises SLOError with what was wrong."""
    match = _RULE.match(text)
    if not match:
        raise SLOError(f"cannot read SLO {text!r}; expected e.g. 'registration p95 < 500ms' or 'mos p50 >= 4.0'")
    metric, stat = match["metric"].lower(), (match["stat"] or "").lower() or None
    stat = STAT_ALIASES.get(stat, stat) if stat else None
    if metric in SCALARS:
        if stat is not None:
            raise SLOError(f"{metric} is a run-level figure and takes no statistic (in {text!r})")
        unit = SCALARS[metric][0]
    elif metric in BY_KEY:
        if stat is None:
            raise SLOError(f"{metric} needs a statistic, one of {', '.join(STATS)} (in {text!r})")
        if stat not in STATS:
            raise SLOError(f"unknown statistic {stat!r} in {text!r}; one of {', '.join(STATS)}")
        unit = (
            Unit.COUNT
            if stat in ("count", "failures")
            else Unit.RATIO
            if stat == "failure_ratio"
            else BY_KEY[metric].unit
        )
    else:
        known = ", ".join([*BY_KEY, *SCALARS])
        raise SLOError(f"unknown metric {metric!r} in {text!r}; known: {known}")
    threshold = float(match["value"])
    if not match["unit"] and unit is Unit.SECONDS:
        example = f"{metric} {stat or 'p95'} {match['op']} {match['value']}ms"
        raise SLOError(f"{text!r} needs a unit (ms, us or s): {metric} is a time, e.g. '{example}'")
    if not match["unit"] and unit is Unit.RATIO and not 0.0 <= threshold <= 1.0:
        example = f"{metric}{' ' + stat if stat else ''} {match['op']} {match['value']}%"
        raise SLOError(f"{text!r}: a bare ratio is a fraction 0..1; write a percentage with its unit, e.g. '{example}'")
    if match["unit"]:
        want, scale = UNIT_SCALE[match["unit"].lower()]
        if want is not unit:
            raise SLOError(f"unit {match['unit']!r} does not fit {metric} (measured in {unit}) in {text!r}")
        threshold *= scale
    return SLO(metric, stat, match["op"], threshold, unit, " ".join(text.split()), name)


def format_value(value: float | None, unit: Unit | str) -> str:
    """A value in the unit people read: ms for times, % for ratios."""
    if value is None:
        return "no data"
    unit = Unit(unit)
    if unit is Unit.SECONDS:
        return f"{value * 1000:.1f} ms"
    if unit is Unit.RATIO:
        return f"{value * 100:.2f} %"
    if unit is Unit.COUNT:
        return f"{value:g}"
    return f"{value:.2f}"


def evaluate(slos: Iterable[SLO], summary: dict[str, Any]) -> list[SLOResult]:
    """Judge each SLO against a summary; a metric without data fails (no evidence is not a pass)."""
    results = []
    for slo in slos:
        observed = slo.observe(summary)
        limit = format_value(slo.threshold, slo.unit)
        if observed is None:
            passed, message = False, f"no data for {slo.metric} (no samples in this run)"
            if summary.get("warmup_s"):
                message += f"; the {summary['warmup_s']:g} s warm-up may have excluded them"
        else:
            passed = OPS[slo.op](observed, slo.threshold)
            shown = format_value(observed, slo.unit)
            if passed:
                message = f"observed {shown} (limit {slo.op} {limit})"
            else:
                gap = abs(observed - slo.threshold)
                rel = f", {gap / abs(slo.threshold) * 100:.1f} %" if slo.threshold else ""
                by = f" by {format_value(gap, slo.unit)}{rel}" if slo.op not in ("==", "!=") else ""
                message = f"observed {shown}, limit {slo.op} {limit}: violated{by}"
        results.append(
            SLOResult(
                slo.label,
                slo.text,
                slo.metric,
                slo.stat,
                slo.op,
                slo.threshold,
                observed,
                str(slo.unit),
                passed,
                message,
            )
        )
    return results


def render_results(results: list[SLOResult], title: str = "SLOs") -> str:
    failed = sum(1 for r in results if not r.passed)
    lines = [f"{title}: {len(results) - failed}/{len(results)} passed"]
    lines += [f"  {'PASS' if r.passed else 'FAIL'}  {r.name}: {r.message}" for r in results]
    return "\n".join(lines)


# ---------------------------------------------------------------- SLO files


@dataclass(frozen=True)
class SLOSet:
    slos: tuple[SLO, ...]
    warmup_s: float = 0.0


def parse_duration(text: str | float | int, name: str = "duration") -> float:
    """`30s`, `2m`, `1h`, `500ms` or a plain number of seconds (the shared duration kind), as an SLOError."""
    try:
        return kinds.parse_duration(text, name)
    except kinds.OptionError as exc:
        raise SLOError(str(exc)) from None


def _rules(items: Any, where: str) -> list[SLO]:
    if items is None:
        return []
    if not isinstance(items, list):
        raise SLOError(f"{where}: 'slo' must be a list of rules")
    out = []
    for item in items:
        if isinstance(item, str):
            out.append(parse_slo(item))
        elif isinstance(item, dict) and isinstance(item.get("expr"), str):
            out.append(parse_slo(item["expr"], str(item.get("name", ""))))
        else:
            raise SLOError(f"{where}: each SLO is a string or a table with 'expr' (and optional 'name'), got {item!r}")
    return out


def load_slo_file(path: str | Path, scenario: str | None = None) -> SLOSet:
    """Read a TOML (or YAML, when PyYAML is installed) SLO file; scenario sections add to the global rules.

    Layout: top-level `warmup` and `slo = [...]`; `[scenarios.NAME]` with its own `warmup` and `slo`.
    """
    path = Path(path)
    text = path.read_text()
    if path.suffix.lower() in (".yaml", ".yml"):
        try:
            import yaml  # optional: only for people who keep their SLOs in YAML
        except ImportError:
            raise SLOError(f"{path}: YAML SLO files need PyYAML (pip install pyyaml), or use TOML") from None
        data = yaml.safe_load(text) or {}
    else:
        import tomllib

        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise SLOError(f"{path}: {exc}") from None
    if not isinstance(data, dict):
        raise SLOError(f"{path}: expected a table with 'slo' and optional 'scenarios'")
    slos = _rules(data.get("slo"), str(path))
    warmup = parse_duration(data.get("warmup", 0))
    scenarios = data.get("scenarios") or {}
    if scenario and isinstance(scenarios.get(scenario), dict):
        section = scenarios[scenario]
        slos += _rules(section.get("slo"), f"{path} [scenarios.{scenario}]")
        warmup = parse_duration(section.get("warmup", warmup))
    return SLOSet(tuple(slos), warmup)
