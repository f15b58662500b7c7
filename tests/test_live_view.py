"""The live Quality view in a real browser, during a real `rtcload run --web` (master + 2 workers, real
emulator, real media): it loads while the run runs, its charts have points, and once the run stopped its last
point is what summary.json says; Locust's own statistics hold no quality sample (its Aggregated row and
response-time chart are latencies only). Headless Chromium through playwright-core, as tests/sdk does.

RTCLOAD_LIVE_SCREENSHOT=PATH keeps the view's screenshot there (docs/img/live-quality.png is made so).
"""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from tests.prerequisites import skip_or_fail

REPO = Path(__file__).resolve().parents[1]
DRIVER = REPO / "tests" / "sdk" / "live_view.mjs"
PLAYWRIGHT = REPO / "tests" / "sdk" / "node_modules" / "playwright-core" / "package.json"
RUN_S = 24


def _missing() -> str | None:
    chromium = os.environ.get("CHROMIUM") or shutil.which("chromium")
    if not chromium or shutil.which("node") is None:
        return "chromium or node not found"
    if not PLAYWRIGHT.is_file():
        return "tests/sdk/node_modules missing: run `cd tests/sdk && npm install`"
    return None


@pytest.fixture(autouse=True)
def browser_prerequisites() -> None:
    skip_or_fail(_missing(), "RTCLOAD_REQUIRE_BROWSER")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def get_json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=10) as response:
        return json.loads(response.read())


def wait_for_web(url: str, proc: subprocess.Popen[str], timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        assert proc.poll() is None, "rtcload run ended before its web UI came up"
        try:
            get_json(f"{url}/quality/data")
            return
        except OSError:
            time.sleep(0.5)
    raise AssertionError(f"no web UI at {url} after {timeout_s} s")


def answers(stats: dict[str, Any]) -> int:
    return sum(e["num_requests"] for e in stats["stats"] if (e["method"], e["name"]) == ("CALL", "answer"))


def close(a: float | None, b: float | None, rel: float = 1e-9) -> bool:
    return a is not None and b is not None and abs(a - b) <= rel * max(1.0, abs(a), abs(b))


def test_quality_view_in_chromium_agrees_with_summary(tmp_path):
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    results = tmp_path / "results"
    run = subprocess.Popen(
        [sys.executable, "-m", "rtcload", "run", "--web", "--processes", "2", "--users", "4", "--spawn-rate", "4",
         "--results", str(results), "--rtc-destinations", "echo:2,busy:1",
         "--", "--web-port", str(port), "--autostart", "-t", f"{RUN_S}s", "--autoquit", "25"],
        cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        wait_for_web(url, run)
        screenshot = os.environ.get("RTCLOAD_LIVE_SCREENSHOT") or str(tmp_path / "live-quality.png")
        driver = subprocess.Popen(
            ["node", str(DRIVER), "--url", url, "--screenshot", screenshot, "--timeout", "85", "--settle", "8"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            env=dict(os.environ, CHROMIUM=os.environ.get("CHROMIUM") or shutil.which("chromium") or ""),
        )  # fmt: skip
        # Locust's own statistics while the run runs (a few calls answered): latencies only, no quality sample
        stats = get_json(f"{url}/stats/requests")
        while driver.poll() is None and answers(stats) < 4:
            time.sleep(1)
            stats = get_json(f"{url}/stats/requests")
        out, err = driver.communicate(timeout=120)
    finally:
        if run.poll() is None:
            try:
                run.wait(timeout=90)
            except subprocess.TimeoutExpired:
                run.terminate()
    log = run.stdout.read() if run.stdout else ""
    lines = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    by_phase = {line.get("phase"): line for line in lines if "phase" in line}
    assert lines and lines[-1].get("ok"), (lines[-3:], err[-2000:], log[-2000:])

    entries = {(e["method"], e["name"]): e for e in stats["stats"] if e["name"] != "Aggregated"}
    assert entries and not [k for k in entries if k[0] == "QUALITY"], sorted(entries)
    assert {k[0] for k in entries} <= {"REGISTER", "CALL", "MEDIA", "RECONNECT"}, sorted(entries)
    slowest = max(e["max_response_time"] for e in entries.values())
    for name, value in stats["current_response_time_percentiles"].items():
        # the chart's lines are latencies (Locust rounds its percentiles to 2 significant digits above 100 ms)
        assert value is None or value <= slowest * 1.05 + 1, (name, value, slowest)

    during = by_phase["during"]
    assert during["charts"]["mos"]["points"] >= 2 and during["charts"]["jitter"]["series"]["p95"]["points"] >= 1
    assert {"mos", "jitter", "rtt", "packet_loss", "setup", "calls", "cpu", "health"} <= set(during["charts"])
    locust = by_phase["locust"]
    assert "Quality" in locust["tabs"] and locust["link"] == "./quality", locust

    run.wait(timeout=5)
    summary = json.loads((results / "summary.json").read_text())
    final = by_phase["final"]
    charts, metrics, calls = final["charts"], summary["metrics"], summary["calls"]
    assert close(charts["mos"]["series"]["p50"]["last"], metrics["mos"]["p50"]), (charts["mos"], metrics["mos"])
    assert close(charts["mos"]["series"]["p5"]["last"], metrics["mos"]["p5"])
    for chart, key in (("jitter", "jitter"), ("rtt", "rtt")):
        for stat in ("p50", "p95"):
            assert close(charts[chart]["series"][stat]["last"], metrics[key][stat] * 1000), (chart, stat, metrics[key])
    assert close(charts["packet_loss"]["series"]["p95"]["last"], metrics["packet_loss"]["p95"] * 100)
    assert close(charts["setup"]["series"]["setup p95"]["last"], metrics["call_setup"]["p95"] * 1000)
    assert close(charts["setup"]["series"]["post-dial p50"]["last"], metrics["post_dial_delay"]["p50"] * 1000)
    assert charts["calls"]["series"]["answered"]["last"] == calls["answered"] > 0
    assert charts["calls"]["series"]["failed"]["last"] == calls["failed"]
    assert charts["calls"]["series"]["failed: USER_BUSY"]["last"] == calls["failed_by_cause"].get("USER_BUSY", 0) > 0
    # the worst calls: linked to their calls.csv rows, and that row is calls.csv's row for the call id
    assert final["worstHeader"][:2] == ["call_id", "started_at"] and final["worstLinks"], final
    (linked,) = list(csv.DictReader(io.StringIO(final["worstRow"])))
    rows = {r["call_id"]: r for r in csv.DictReader((results / "calls.csv").read_text().splitlines())}
    assert linked == rows[linked["call_id"]], (linked, rows.get(linked["call_id"]))
    assert final["processes"] == 3  # one health column per worker, and the master's
    assert Path(screenshot).stat().st_size > 10_000
