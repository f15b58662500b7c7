"""Every query of every dashboard panel returns data from a real Prometheus scraping a real run.

Debian's `prometheus` binary scrapes the emulator and a Locust run with two worker processes
(each serving its own /metrics); its scrape config is derived from docker/prometheus.yml. While
the load runs, the test drops every socket once (reconnects, reattach) and evaluates each panel's
query through /api/v1/query until it has returned a finite value.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import shutil
import socket
import subprocess
import sys
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import pytest
import yaml

from rtcload.emulator import Emulator
from rtcload.emulator.aiortc_answerer import AiortcAnswerer
from tests.conftest import fast_config

REPO = Path(__file__).resolve().parents[1]
DASHBOARDS = REPO / "dashboards"
SMOKE = "rtcload/loadgen/scenarios/smoke.py"  # the locustfile docker/docker-compose.yml runs
RATE_WINDOW = "30s"

pytestmark = pytest.mark.skipif(shutil.which("prometheus") is None, reason="Debian package prometheus not installed")


def free_ports(count: int) -> int:
    """A base port with `count` consecutive free ports on loopback."""
    for _ in range(50):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            base = s.getsockname()[1]
        if base + count >= 65535:
            continue
        ok = True
        for port in range(base, base + count):
            with socket.socket() as s:
                try:
                    s.bind(("127.0.0.1", port))
                except OSError:
                    ok = False
                    break
        if ok:
            return base
    raise RuntimeError("no free port range")


def test_the_checked_in_dashboards_are_what_build_py_writes(tmp_path):
    """dashboards/build.py (grafana-foundation-sdk builders) is the source; the JSON must not drift from it."""
    import subprocess
    import sys

    script = (REPO / "dashboards" / "build.py").read_text()
    copy = tmp_path / "build.py"
    copy.write_text(script)
    subprocess.run([sys.executable, str(copy)], check=True, timeout=60)
    for path in sorted(DASHBOARDS.glob("*.json")):
        assert (tmp_path / path.name).read_text() == path.read_text(), f"run python3 dashboards/build.py: {path.name}"


def dashboard_queries() -> list[tuple[str, str, str]]:
    """(dashboard file, panel title, expr) of every target of every panel."""
    out = []
    for path in sorted(DASHBOARDS.glob("*.json")):
        board = json.loads(path.read_text())
        for panel in board["panels"]:
            for target in panel["targets"]:
                out.append((path.name, panel["title"], target["expr"]))
    return out


def grafana_to_promql(expr: str) -> str:
    return expr.replace("$__rate_interval", RATE_WINDOW).replace("$__range", RATE_WINDOW)


def prometheus_config(targets: dict[str, list[str]], interval: str = "1s") -> dict[str, Any]:
    """docker/prometheus.yml with each job's discovery replaced by static loopback targets."""
    config = yaml.safe_load((REPO / "docker" / "prometheus.yml").read_text())
    config["global"]["scrape_interval"] = interval
    config["global"]["evaluation_interval"] = interval
    for job in config["scrape_configs"]:
        for key in ("static_configs", "dns_sd_configs", "kubernetes_sd_configs"):
            job.pop(key, None)
        job["static_configs"] = [{"targets": targets[job["job_name"]]}]
    return config


class Prometheus:
    """The real server on a free loopback port with its own temporary storage."""

    def __init__(self, tmp: Path, config: dict[str, Any]) -> None:
        self.port = free_ports(1)
        (tmp / "prometheus.yml").write_text(yaml.safe_dump(config))
        self.log = open(tmp / "prometheus.log", "wb")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            [
                "prometheus",
                f"--config.file={tmp / 'prometheus.yml'}",
                f"--storage.tsdb.path={tmp / 'tsdb'}",
                f"--web.listen-address=127.0.0.1:{self.port}",
                "--log.level=warn",
            ],
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )

    def get(self, path: str, **params: str) -> Any:
        url = f"http://127.0.0.1:{self.port}{path}"
        if params:
            url += "?" + urllib.parse.urlencode(params)
        with urllib.request.urlopen(url, timeout=10) as response:
            return json.loads(response.read())

    async def query(self, expr: str) -> list[dict[str, Any]]:
        body = await asyncio.to_thread(self.get, "/api/v1/query", query=expr)
        assert body["status"] == "success", body
        return body["data"]["result"]

    async def wait_ready(self, timeout: float = 30) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            assert self.proc.poll() is None, "prometheus exited"
            with contextlib.suppress(OSError):
                await asyncio.to_thread(urllib.request.urlopen, f"http://127.0.0.1:{self.port}/-/ready", None, 2)
                return
            assert loop.time() < deadline, "prometheus not ready"
            await asyncio.sleep(0.2)

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.log.close()


async def start_locust(*args: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "locust",
        *args,
        cwd=REPO,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )


def has_value(result: list[dict[str, Any]]) -> bool:
    return any(math.isfinite(float(r["value"][1])) for r in result)


async def test_every_dashboard_query_returns_data_from_real_prometheus(tmp_path):
    queries = dashboard_queries()
    assert len(queries) >= 30
    metrics_base = free_ports(3)  # local master + 2 workers: base, base + 1, base + 2
    async with Emulator(fast_config(grace_s=10.0), AiortcAnswerer(loopback_only=True)) as emu:
        targets = {
            "rtcload-emulator": [f"127.0.0.1:{emu.port}"],
            "rtcload-master": [f"127.0.0.1:{metrics_base}"],
            "rtcload-workers": [f"127.0.0.1:{metrics_base + 1}", f"127.0.0.1:{metrics_base + 2}"],
        }
        prom = Prometheus(tmp_path, prometheus_config(targets))
        proc = None
        try:
            await prom.wait_ready()
            proc = await start_locust(
                "-f", SMOKE, "--host", emu.url, "--headless", "--processes", "2", "-u", "4", "-r", "0.5", "-t", "35s",
                "--only-summary", "--stop-timeout", "10",
                "--rtc-metrics-port", str(metrics_base), "--rtc-metrics-host", "127.0.0.1",
                "--rtc-destinations", "echo:6,busy:1,reject:1",
                "--rtc-holding", "uniform:4,6", "--rtc-think-time", "uniform:0.2,0.5",
                "--rtc-stats-interval", "1",
                "--rtc-audio", "speech", "--rtc-audio-score", "1/2",  # the audio-score panel needs scored calls
            )  # fmt: skip
            output = asyncio.ensure_future(proc.communicate())
            satisfied: set[str] = set()
            pending = {grafana_to_promql(expr) for _f, _t, expr in queries}
            dropped = False
            jobs_up: set[str] = set()
            loop = asyncio.get_running_loop()
            deadline = loop.time() + 75
            while pending - satisfied and not output.done() and loop.time() < deadline:
                if not dropped and emu.counters["calls_answered"] >= 6 and emu.snapshot()["active_legs"] >= 2:
                    dropped = emu.drop_all() > 0  # a real fault: every socket at once; clients reconnect
                for expr in sorted(pending - satisfied):
                    result = await prom.query(expr)
                    if has_value(result):
                        satisfied.add(expr)
                jobs_up |= {r["metric"]["job"] for r in await prom.query("up == 1")}
                await asyncio.sleep(1.0)
            out, _ = await asyncio.wait_for(output, 90)  # the run ends on its own: -t, then a clean stop
        finally:
            if proc is not None and proc.returncode is None:
                proc.kill()
            prom.stop()
        missing = [(f, t, e) for f, t, e in queries if grafana_to_promql(e) not in satisfied]
        assert jobs_up == set(targets), jobs_up
        assert dropped, "no call was answered: the load did not run"
        assert not missing, (missing, out.decode(errors="replace")[-3000:])
        text = out.decode(errors="replace")
        assert proc.returncode in (0, 1), text[-6000:]
        where = text.find("Traceback")
        assert where < 0, text[max(0, where - 1500) : where + 4000]  # a clean stop, even after every socket dropped
