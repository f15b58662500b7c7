"""Open-model load through `rtcload run` (real emulator, real Locust, loopback, signaling only so the
machine's CPU does not decide the result): the offered rate is kept, the Erlang-B model holds against the
emulator's `--max-calls`, `--max-concurrent` caps calls in progress and counts what it refused, and every
output (summary, calls.csv, the generator's Prometheus counters, the emulator's counters) agrees."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import pytest

from rtcload.results.ledger import record_time
from tests.test_run_ledger import prometheus_counters

SIGNALING_ONLY = ("--emulator-media", "none", "--", "--rtc-media", "none")


def rtcload_run(*argv: str, cwd: Path, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "rtcload", "run", *argv], cwd=cwd, capture_output=True, text=True, timeout=timeout
    )


def load(results: Path) -> tuple[dict, list[dict[str, str]]]:
    summary = json.loads((results / "summary.json").read_text())
    with open(results / "calls.csv", newline="") as handle:
        return summary, list(csv.DictReader(handle))


def attempts(counters: dict, result: str) -> float:
    return counters.get(("rtcload_call_attempts_total", (("result", result),)), 0.0)


def test_fixed_cps_is_kept_within_five_percent_over_thirty_seconds(tmp_path: Path) -> None:
    results = tmp_path / "r"
    proc = rtcload_run(
        "--cps", "10", "--arrival", "fixed", "--holding", "fixed:1", "--duration", "40s",
        "--results", str(results), *SIGNALING_ONLY, cwd=tmp_path,
    )  # fmt: skip
    summary, records = load(results)
    model = summary["load_model"]
    assert summary["scenario"] == "open_calls"
    assert model["window_s"] >= 30.0, model
    gate = next(g for g in summary["gates"] if g["name"] == "generator")
    if not model["generator_kept_rate"]:  # a loaded machine: the run must then blame the generator, exit 3
        assert proc.returncode == 3 and not gate["passed"] and "could not keep" in gate["message"]
        pytest.skip(f"generator could not keep 10 CPS on this machine: {model['generator_message']}")
    if summary["generator"].get("saturated_whole_run", summary["generator"].get("saturated")):  # its verdict, exit 3
        assert proc.returncode == 3 and not gate["passed"]
        pytest.skip(f"generator saturated on this machine: {gate['message']}")
    assert proc.returncode == 0, proc.stderr
    assert model["achieved_cps"] == pytest.approx(10.0, rel=0.05)
    assert model["offered_cps"] == pytest.approx(10.0, rel=1e-6)
    # an independent count: the calls the records say were started in the window
    start = min(record_time(r, "started_at") for r in records)
    in_window = [r for r in records if record_time(r, "started_at") <= start + model["window_s"]]
    assert len(in_window) / model["window_s"] == pytest.approx(10.0, rel=0.05)
    # every output agrees on the attempts: scheduler, calls.csv, Prometheus, the emulator
    counters = prometheus_counters(results)
    assert attempts(counters, "placed") == model["placed"] == len(records)
    assert summary["emulator"]["counters"]["calls_total"] == len(records)
    assert model["offered_erlangs"] == pytest.approx(10.0)  # 10 CPS x 1 s
    assert model["carried_erlangs"] == pytest.approx(10.0 * model["mean_occupancy_s"], rel=0.1)
    assert "achieved" in proc.stdout and "offered 10.00 CPS" in proc.stdout
    report = (results / "report.html").read_text()
    assert "Load model: calls per second and Erlangs" in report and f"{model['achieved_cps']:.2f} CPS" in report
    prom = "".join(p.read_text() for p in (results / "ledger").glob("metrics.*.prom"))
    assert "rtcload_offered_cps 10.0" in prom and "rtcload_offered_erlangs 10.0" in prom


def test_blocking_follows_erlang_b_against_the_emulators_trunks(tmp_path: Path) -> None:
    """10 trunks offered ~8 E (Poisson arrivals, exponential holding, blocked calls cleared with 34/503):
    Erlang-B predicts ~20 % blocking; ~300 attempts put 3 sigma at about +-7 points, while carrying
    everything (0 %) or Erlang-C queueing (~40 % of calls waiting) would lie far outside."""
    results = tmp_path / "r"
    proc = rtcload_run(
        "--erlangs", "8", "--holding", "exp:1", "--emulator-max-calls", "10", "--duration", "45s",
        "--results", str(results), *SIGNALING_ONLY, cwd=tmp_path,
    )  # fmt: skip
    summary, records = load(results)
    model = summary["load_model"]
    check = model["erlang_b"]
    assert check["trunks"] == 10
    assert model["attempts_decided"] >= 200, model
    assert check["within"] is True, check
    assert 0.08 < check["measured"] < 0.35
    # the emulator shed exactly the calls the records show as blocked (an independent witness)
    blocked = [r for r in records if r["cause"] == "NORMAL_CIRCUIT_CONGESTION"]
    assert summary["emulator"]["counters"]["calls_over_capacity"] == len(blocked) == model["blocked"]
    assert "Erlang-B: 10 trunks" in proc.stdout
    assert proc.returncode in (0, 3), proc.stderr  # blocking is the platform's answer, not a broken run
    if proc.returncode == 3:
        gen = summary["generator"]
        assert not model["generator_kept_rate"] or gen.get("saturated_whole_run", gen.get("saturated")), proc.stderr


def test_max_concurrent_caps_calls_in_progress_and_counts_refusals(tmp_path: Path) -> None:
    results = tmp_path / "r"
    proc = rtcload_run(
        "--cps", "8", "--arrival", "fixed", "--holding", "fixed:2", "--max-concurrent", "4", "--duration", "14s",
        "--results", str(results), *SIGNALING_ONLY, cwd=tmp_path,
    )  # fmt: skip
    summary, records = load(results)
    model = summary["load_model"]
    assert model["refused_limit"] > 0 and model["max_concurrent"] == 4
    assert model["placed"] + model["refused_limit"] >= model["due"] - 1
    # never more than 4 calls in progress: sweep the records' intervals
    edges = sorted(
        [(record_time(r, "started_at"), 1) for r in records] + [(record_time(r, "ended_at"), -1) for r in records],
        key=lambda e: (e[0], e[1]),
    )
    live = peak = 0
    for _t, step in edges:
        live += step
        peak = max(peak, live)
    assert peak <= 4
    counters = prometheus_counters(results)
    assert attempts(counters, "refused_limit") == model["refused_limit"]
    assert model["generator_kept_rate"] or proc.returncode == 3  # refusals by the cap are not the generator's fault


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (("--cps", "fast"), "bad call rate"),
        (("--erlangs", "5"), "--erlangs needs --holding"),
        (("--cps", "5", "--scenario", "regression"), "closed model"),
        (("--cps-steps", "5,10"), "--step-duration"),
    ],
)
def test_bad_open_model_options_are_usage_errors(tmp_path: Path, argv: tuple[str, ...], message: str) -> None:
    proc = rtcload_run(*argv, "--results", str(tmp_path / "r"), cwd=tmp_path, timeout=60)
    assert proc.returncode == 2 and message in proc.stderr, proc.stderr
    assert not (tmp_path / "r").exists()
