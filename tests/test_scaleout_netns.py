"""Scale-out across hosts, in network namespaces this test creates: Locust's distributed mode as the engine.

Five namespaces: a switch (a Linux bridge) and four hosts on it, each with its own address in a
10.200.N.0/24 that exists only inside them (nothing is routed anywhere else, nothing touches the root
namespace's interfaces): the emulator on one host, the Locust master (and a real Prometheus) on
another, a worker on each of the last two. The open-model scenario offers a rate split between the
two workers. The test checks that both workers register with the master across the network, that
Prometheus scrapes both workers' /metrics, that the run's ledger merges both workers' calls and
agrees with the emulator's own count, that a worker killed mid-run (SIGKILL: a crashed host) is
reported by the master while the other keeps placing calls, and that everything ends cleanly.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.parse
from pathlib import Path

import pytest
import yaml

from rtcload.loadgen.run_command import summarize
from rtcload.results.ledger import record_time

REPO = Path(__file__).resolve().parents[1]
SCENARIO = REPO / "rtcload" / "loadgen" / "scenarios" / "open_calls.py"
HOSTS = {"emu": 1, "master": 2, "w1": 3, "w2": 4}
CPS, HOLDING, CAP = 6, "fixed:1", 8  # each worker: 3 CPS and at most 4 calls in progress
RUN_S = 40

pytestmark = [
    pytest.mark.skipif(os.geteuid() != 0 or shutil.which("ip") is None, reason="needs root and iproute2"),
    pytest.mark.skipif(shutil.which("prometheus") is None, reason="Debian package prometheus not installed"),
]


def sh(*argv: str) -> None:
    subprocess.run(argv, check=True, capture_output=True, text=True, timeout=20)


class Network:
    """A bridge in its own namespace and one namespace per host, linked by veth pairs created in place."""

    def __init__(self) -> None:
        self.tag = f"{os.getpid() % 10000:04d}"
        self.subnet = 20 + os.getpid() % 200
        self.names = {h: f"rtl{self.tag}{h}" for h in HOSTS}
        self.switch = f"rtl{self.tag}sw"
        self.created: list[str] = []

    def addr(self, host: str) -> str:
        return f"10.200.{self.subnet}.{HOSTS[host]}"

    def up(self) -> None:
        for ns in (self.switch, *self.names.values()):
            sh("ip", "netns", "add", ns)
            self.created.append(ns)
            sh("ip", "-n", ns, "link", "set", "lo", "up")
        sh("ip", "-n", self.switch, "link", "add", "br0", "type", "bridge")
        sh("ip", "-n", self.switch, "link", "set", "br0", "up")
        for host, ns in self.names.items():
            inner, outer = f"v{self.tag}{host}", f"p{self.tag}{host}"
            sh("ip", "link", "add", inner, "netns", ns, "type", "veth", "peer", "name", outer, "netns", self.switch)
            sh("ip", "-n", self.switch, "link", "set", outer, "master", "br0", "up")
            sh("ip", "-n", ns, "addr", "add", f"{self.addr(host)}/24", "dev", inner)
            sh("ip", "-n", ns, "link", "set", inner, "up")

    def down(self) -> None:
        for ns in reversed(self.created):
            subprocess.run(["ip", "netns", "del", ns], capture_output=True, timeout=20)

    def popen(self, host: str, argv: list[str], log: Path) -> subprocess.Popen[str]:
        handle = open(log, "w")  # noqa: SIM115 - owned by the process for its life
        return subprocess.Popen(
            ["ip", "netns", "exec", self.names[host], *argv], stdout=handle, stderr=subprocess.STDOUT, text=True
        )

    def http_get(self, host: str, url: str) -> str:
        out = subprocess.run(
            ["ip", "netns", "exec", self.names[host], "curl", "-sf", "--max-time", "5", url],
            capture_output=True,
            text=True,
            timeout=10,
        )
        return out.stdout


def wait_for(predicate, timeout: float, what: str) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.25)


def prom_query(net: Network, expr: str) -> list[dict]:
    url = f"http://{net.addr('master')}:9090/api/v1/query?" + urllib.parse.urlencode({"query": expr})
    text = net.http_get("master", url)
    return json.loads(text)["data"]["result"] if text else []


def scraped_up(net: Network) -> dict[str, float]:
    return {r["metric"]["instance"]: float(r["value"][1]) for r in prom_query(net, 'up{job="rtcload-workers"}')}


def stop(proc: subprocess.Popen[str], sig: int = signal.SIGTERM, timeout: float = 30) -> int | None:
    if proc.poll() is None:
        proc.send_signal(sig)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
    return proc.returncode


@pytest.mark.timeout(240)
def test_master_and_two_workers_on_separate_hosts(tmp_path: Path) -> None:
    net = Network()
    ledger = tmp_path / "ledger"
    ledger.mkdir()
    procs: dict[str, subprocess.Popen[str]] = {}
    load = ["--rtc-cps", str(CPS), "--rtc-holding", HOLDING, "--rtc-generators", "2"]
    load += ["--rtc-max-concurrent", str(CAP), "--rtc-media", "none", "--rtc-ledger", str(ledger)]
    try:
        net.up()
        emu_log = tmp_path / "emulator.log"
        procs["emu"] = subprocess.Popen(
            [
                "ip",
                "netns",
                "exec",
                net.names["emu"],
                sys.executable,
                "-m",
                "rtcload",
                "emulator",
                "--host",
                net.addr("emu"),
                "--port",
                "8081",
                "--media",
                "none",
            ],
            stdout=subprocess.PIPE,
            stderr=open(emu_log, "w"),  # noqa: SIM115
            text=True,
        )
        assert procs["emu"].stdout is not None
        assert "listening on" in procs["emu"].stdout.readline()
        targets = [f"{net.addr(w)}:9646" for w in ("w1", "w2")]
        config = {
            "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
            "scrape_configs": [{"job_name": "rtcload-workers", "static_configs": [{"targets": targets}]}],
        }
        (tmp_path / "prometheus.yml").write_text(yaml.safe_dump(config))
        procs["prometheus"] = net.popen(
            "master",
            [
                "prometheus",
                f"--config.file={tmp_path / 'prometheus.yml'}",
                f"--storage.tsdb.path={tmp_path / 'tsdb'}",
                f"--web.listen-address={net.addr('master')}:9090",
                "--log.level=warn",
            ],
            tmp_path / "prometheus.log",
        )
        master_log = tmp_path / "master.log"
        procs["master"] = net.popen(
            "master",
            [
                sys.executable,
                "-m",
                "locust",
                "-f",
                str(SCENARIO),
                "--master",
                "--expect-workers",
                "2",
                "--master-bind-host",
                net.addr("master"),
                "--master-bind-port",
                "5557",
                "--headless",
                "-u",
                "30",
                "-r",
                "30",
                "-t",
                f"{RUN_S}s",
                "--stop-timeout",
                "10",
                "--only-summary",
                "--host",
                f"ws://{net.addr('emu')}:8081/",
                *load,
            ],
            master_log,
        )
        for worker in ("w1", "w2"):
            procs[worker] = net.popen(
                worker,
                [
                    sys.executable,
                    "-m",
                    "locust",
                    "-f",
                    str(SCENARIO),
                    "--worker",
                    "--master-host",
                    net.addr("master"),
                    "--master-port",
                    "5557",
                    "--rtc-metrics-port",
                    "9646",
                    "--rtc-metrics-host",
                    net.addr(worker),
                    "--rtc-metrics-fixed-port",
                    *load,
                ],
                tmp_path / f"{worker}.log",
            )
        # both workers register with the master across the bridge
        wait_for(lambda: "2 workers connected" in master_log.read_text(), 60, "two workers at the master")
        # Prometheus scrapes both workers, and both are placing calls
        wait_for(lambda: scraped_up(net) == {t: 1.0 for t in targets}, 60, "Prometheus scraping both workers")
        placed = 'sum by (instance) (rtcload_call_attempts_total{result="placed"})'
        wait_for(
            lambda: len([r for r in prom_query(net, placed) if float(r["value"][1]) > 0]) == 2,
            40,
            "calls placed by both workers",
        )
        killed_at = time.time()
        procs["w2"].kill()  # a crashed generator host
        procs["w2"].wait(10)
        wait_for(lambda: "setting state to missing" in master_log.read_text(), 30, "the master to report the loss")
        wait_for(lambda: scraped_up(net).get(targets[1]) == 0.0, 30, "Prometheus to see the worker down")
        master_code = procs["master"].wait(RUN_S + 60)  # the run goes on to its end with the other worker
        assert master_code in (0, 1), master_log.read_text()[-2000:]
        assert procs["w1"].wait(30) in (0, 1)
        counters = _emulator_counters(procs["emu"])
    finally:
        for name, proc in procs.items():
            stop(proc, signal.SIGKILL if name == "w2" else signal.SIGTERM)
        net.down()
    assert not any(Path("/var/run/netns", ns).exists() for ns in net.created)

    summary = summarize(tmp_path, 0.0)
    assert summary is not None
    with open(tmp_path / "calls.csv") as handle:
        rows = handle.read().splitlines()[1:]
    recorded = summary["calls"]["recorded"]
    assert recorded == len(rows) > 0
    parts = {p.name.split(".")[1] for p in ledger.glob("calls-part.*.csv")}
    assert len(parts) == 2  # both workers' calls are in the merged ledger
    # every call the emulator saw is in the ledger, but for those in progress on the killed worker
    # (at most its share of the cap) which died with it
    assert 0 <= counters["calls_total"] - recorded <= CAP // 2, (counters, recorded)
    lost = counters["calls_total"] - recorded
    assert counters["calls_answered"] - lost <= summary["calls"]["answered"] <= counters["calls_answered"]
    # the surviving worker kept placing calls after the other died
    from rtcload.results.ledger import read_records

    after = [r for r in read_records(tmp_path / "calls.csv") if record_time(r, "started_at") > killed_at + 2]
    assert after, "no call after the worker was killed: the run did not continue"
    model = summary["load_model"]
    assert model["generators"] == 1  # only the survivor wrote its scheduler's account (the other was killed)
    assert "setting state to missing" in (tmp_path / "master.log").read_text()


def _emulator_counters(proc: subprocess.Popen[str]) -> dict[str, int]:
    """SIGTERM: the emulator prints its final counters on stdout."""
    stop(proc)
    assert proc.stdout is not None
    for line in proc.stdout.read().splitlines():
        if line.startswith('{"emulator_stopped"'):
            with contextlib.suppress(KeyError):
                return json.loads(line)["emulator_stopped"]["counters"]
    raise AssertionError("emulator printed no final counters")
