"""`rtcload compare BASELINE.json CURRENT.json`: a regression verdict against a stored baseline.

A change counts as a regression only when it is worse than every allowance: the absolute tolerance,
the relative tolerance and (when the baseline was merged from several runs with --merge) a multiple
of the run-to-run spread recorded in it. Metrics with too few samples are reported, never judged.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from rtcload.gates.junit import write_junit
from rtcload.gates.slo import UNIT_SCALE, SLOError, SLOResult, format_value
from rtcload.metrics.catalog import Unit
from rtcload.options.build import add_options
from rtcload.results.schema import SCHEMA

# metric -> statistics compared by default
DEFAULT_CHECKS: dict[str, tuple[str, ...]] = {
    "registration": ("p50", "p95"),
    "post_dial_delay": ("p50", "p95"),
    "call_setup": ("p50", "p95"),
    "first_rtp": ("p50", "p95"),
    "hangup": ("p95",),
    "mos": ("mean", "p50"),
    "rtt": ("p95",),
    "jitter": ("p95",),
    "packet_loss": ("mean",),
    "call_success_ratio": ("value",),
}
# unit -> (relative, absolute in base units): loopback-sized floors so scheduler noise is not a regression
DEFAULT_TOLERANCE: dict[Unit, tuple[float, float]] = {
    Unit.SECONDS: (0.20, 0.025),
    Unit.MOS: (0.0, 0.10),
    Unit.RATIO: (0.0, 0.01),
    Unit.COUNT: (0.10, 1.0),
}
LOWER_IS_WORSE = {"mos", "call_success_ratio"}
EXIT_REGRESSION = 1
EXIT_USAGE = 2


@dataclass(frozen=True)
class Tolerance:
    relative: float
    absolute: float


@dataclass(frozen=True)
class Check:
    key: str  # metric.stat
    unit: str
    baseline: float | None
    current: float | None
    delta: float | None  # current - baseline, in base units
    allowed: float
    spread: float
    verdict: str  # ok, improved, regressed, insufficient

    def describe(self) -> str:
        unit = Unit(self.unit)
        if self.verdict == "insufficient":
            return f"{self.key}: not judged (too few samples or no data)"
        assert self.delta is not None
        sign = "+" if self.delta >= 0 else "-"
        rel = f" ({self.delta / self.baseline * 100:+.1f} %)" if self.baseline else ""
        return (
            f"{self.key}: {format_value(self.baseline, unit)} -> {format_value(self.current, unit)}, "
            f"{sign}{format_value(abs(self.delta), unit)}{rel}; allowed {format_value(self.allowed, unit)}"
            f"{f' (spread {format_value(self.spread, unit)})' if self.spread else ''}"
        )


def parse_tolerance(spec: str, unit: Unit) -> Tolerance:
    """`10%`, `20ms`, `10%,20ms` or a plain number (absolute, base unit); missing parts are 0.

    For ratio metrics (loss, success ratio) `1%` is absolute (percentage points); `10%rel` is relative.
    """
    relative = absolute = 0.0
    for part in (p.strip() for p in spec.split(",") if p.strip()):
        if part.endswith("%rel") or (part.endswith("%") and unit is not Unit.RATIO):
            relative = float(part.removesuffix("rel").removesuffix("%")) / 100
            continue
        for suffix, (want, scale) in sorted(UNIT_SCALE.items(), key=lambda kv: -len(kv[0])):
            if part.endswith(suffix) and want is unit:
                absolute = float(part[: -len(suffix)]) * scale
                break
        else:
            try:
                absolute = float(part)
            except ValueError:
                raise SLOError(f"bad tolerance {spec!r} for a {unit} metric") from None
    return Tolerance(relative, absolute)


def _value(summary: dict[str, Any], metric: str, stat: str) -> tuple[float | None, int, Unit]:
    if metric == "call_success_ratio":
        calls = summary["calls"]
        return calls["success_ratio"], calls["attempted"], Unit.RATIO
    entry = summary["metrics"].get(metric)
    if entry is None:
        return None, 0, Unit.COUNT
    return entry.get(stat), entry["count"] - entry["failures"], Unit(entry["unit"])


def compare(
    baseline: dict[str, Any],
    current: dict[str, Any],
    overrides: dict[str, str] | None = None,
    checks: dict[str, tuple[str, ...]] | None = None,
    spread_factor: float = 2.0,
    min_samples: int = 5,
) -> list[Check]:
    """Every default (or given) metric.stat judged: regressed only when worse than all allowances."""
    spreads: dict[str, float] = (baseline.get("baseline") or {}).get("spread", {})
    out = []
    for metric, stats in (checks or DEFAULT_CHECKS).items():
        for stat in stats:
            key = f"{metric}.{stat}"
            base, base_n, unit = _value(baseline, metric, stat)
            cur, cur_n, cur_unit = _value(current, metric, stat)
            unit = unit if base is not None else cur_unit
            spread = float(spreads.get(key, 0.0))
            spec = (overrides or {}).get(key) or (overrides or {}).get(metric)
            tol = parse_tolerance(spec, unit) if spec else Tolerance(*DEFAULT_TOLERANCE[unit])
            if base is None and cur is None:
                continue
            if base is None or cur is None or min(base_n, cur_n) < min_samples:
                out.append(Check(key, str(unit), base, cur, None, 0.0, spread, "insufficient"))
                continue
            allowed = max(tol.absolute, tol.relative * abs(base), spread_factor * spread)
            delta = cur - base
            worse = -delta if metric in LOWER_IS_WORSE else delta
            verdict = "regressed" if worse > allowed else "improved" if -worse > allowed else "ok"
            out.append(Check(key, str(unit), base, cur, delta, allowed, spread, verdict))
    return out


def merge_baseline(summaries: list[dict[str, Any]]) -> dict[str, Any]:
    """A baseline from several runs: the median of each figure, and its spread (max - min) per metric.stat."""
    merged = json.loads(json.dumps(summaries[0]))
    spread: dict[str, float] = {}
    for metric, stats in DEFAULT_CHECKS.items():
        for stat in stats:
            values = [v for s in summaries if (v := _value(s, metric, stat)[0]) is not None]
            if not values:
                continue
            spread[f"{metric}.{stat}"] = max(values) - min(values)
            if metric == "call_success_ratio":
                merged["calls"]["success_ratio"] = statistics.median(values)
            elif metric in merged["metrics"]:
                merged["metrics"][metric][stat] = statistics.median(values)
    merged["baseline"] = {"runs": len(summaries), "spread": spread}
    return merged


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("files", nargs="+", help="BASELINE.json CURRENT.json (or the runs to merge with --merge)")
    add_options(parser, "compare")  # every option from the registry (rtcload/options/registry.toml)


def _load(path: str) -> dict[str, Any]:
    data = json.loads(Path(path).read_text())
    if not isinstance(data, dict) or "metrics" not in data:
        raise SLOError(f"{path} is not an rtcload summary")
    if data.get("schema", SCHEMA) != SCHEMA:
        raise SLOError(f"{path} has schema {data.get('schema')!r}; this rtcload reads {SCHEMA!r}")
    return data


def run(args: argparse.Namespace) -> int:
    try:
        summaries = [_load(f) for f in args.files]
        if args.merge:
            Path(args.merge).write_text(json.dumps(merge_baseline(summaries), indent=2, sort_keys=True) + "\n")
            print(f"rtcload compare: baseline of {len(summaries)} runs written to {args.merge}")
            return 0
        if len(summaries) != 2:
            raise SLOError("give exactly BASELINE.json and CURRENT.json (or --merge OUT with several runs)")
        overrides = dict(t.split("=", 1) for t in args.tolerance if "=" in t)
        if len(overrides) != len(args.tolerance):
            raise SLOError("--tolerance takes KEY=SPEC, e.g. call_setup.p95=10%,20ms")
        checks = compare(summaries[0], summaries[1], overrides, None, args.spread_factor, args.min_samples)
    except (OSError, ValueError) as exc:
        print(f"rtcload compare: {exc}", file=sys.stderr)
        return EXIT_USAGE
    regressed = [c for c in checks if c.verdict == "regressed"]
    for c in checks:
        print(f"  {c.verdict.upper():<12} {c.describe()}")
    print(f"\nrtcload compare: {len(regressed)} regression(s) in {len(checks)} checks")
    if args.json_file:
        Path(args.json_file).write_text(json.dumps([asdict(c) for c in checks], indent=2) + "\n")
    if args.junit:
        results = [
            SLOResult(
                f"{c.key} vs baseline",
                c.key,
                c.key.split(".")[0],
                c.key.split(".")[1],
                "<=",
                c.allowed,
                c.delta,
                c.unit,
                c.verdict != "regressed",
                c.describe(),
            )
            for c in checks
        ]
        write_junit(results, args.junit, "rtcload.compare")
    return EXIT_REGRESSION if regressed else 0
