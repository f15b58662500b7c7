"""`rtcload run` under real signals: results of what ran are written, the exit code is 128+n, and no process
or port outlives the run. `--web` binds loopback only. A second signal forces the stop."""

from __future__ import annotations

import csv
import json
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import psutil


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for(condition: Callable[[], bool], timeout_s: float, what: str, proc: subprocess.Popen[str]) -> None:
    """Poll a condition the run makes true (a file it writes); fail with the run's output if it never does."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        if proc.poll() is not None or time.monotonic() > deadline:
            if proc.poll() is None:
                proc.kill()
            out, err = proc.communicate(timeout=30)
            raise AssertionError(f"{what} did not happen; rc={proc.returncode}\n{out[-2000:]}\n{err[-2000:]}")
        time.sleep(0.2)


def answered_calls(results: Path) -> int:
    """Calls decided as answered so far, from the ledger's samples (written as they are fired)."""
    n = 0
    for part in (results / "ledger").glob("samples-part.*.csv"):
        n += sum(1 for row in csv.DictReader(part.read_text().splitlines()) if row["outcome"] == "answered")
    return n


def family(proc: subprocess.Popen[str]) -> list[psutil.Process]:
    return psutil.Process(proc.pid).children(recursive=True)


def listening(port: int) -> list[str]:
    return [c.laddr.ip for c in psutil.net_connections("tcp") if c.status == "LISTEN" and c.laddr.port == port]


def assert_nothing_left(children: list[psutil.Process], ports: list[int]) -> None:
    alive = [p for p in children if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
    assert not alive, [p.cmdline()[:4] for p in alive]
    for port in ports:
        assert listening(port) == [], port


def start(tmp_path: Path, *argv: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "rtcload", "run", "--results", str(tmp_path / "results"), *argv],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def emulator_port(children: list[psutil.Process]) -> int:
    emu = next(p for p in children if "emulator" in p.cmdline())
    return next(c.laddr.port for c in emu.net_connections("tcp") if c.status == "LISTEN")


def test_web_binds_loopback_and_sigint_writes_the_results_of_what_ran(tmp_path):
    web_port = free_port()
    proc = start(tmp_path, "--web", "--users", "2", "--", "--autostart", "--web-port", str(web_port))
    results = tmp_path / "results"
    wait_for(lambda: answered_calls(results) >= 1, 90, "an answered call", proc)
    children = family(proc)
    assert listening(web_port) == ["127.0.0.1"]  # the UI never binds every interface unless asked
    ports = [web_port, emulator_port(children)]
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=90)
    assert proc.returncode == 128 + signal.SIGINT, out[-2000:] + err[-2000:]
    assert "INTERRUPTED: stopped by SIGINT" in err
    summary = json.loads((results / "summary.json").read_text())
    assert summary["outcome"]["verdict"] == "interrupted"
    rows = list(csv.DictReader((results / "calls.csv").read_text().splitlines()))
    assert len(rows) == summary["calls"]["attempted"] >= 1  # calls in progress ended with a bye and were kept
    assert summary["calls"]["answered"] >= 1 and (results / "report.html").exists()
    assert_nothing_left(children, ports)


def test_a_second_signal_forces_the_stop_and_leaves_nothing(tmp_path):
    # 60 s calls: a graceful stop would wait for them (up to Locust's 30 s stop timeout)
    proc = start(tmp_path, "--users", "2", "--duration", "5m", "--rtc-holding", "fixed:60")
    results = tmp_path / "results"
    wait_for(lambda: answered_calls(results) >= 1, 90, "an answered call", proc)
    children = family(proc)
    ports = [emulator_port(children)]
    started = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    # deliberately a second, separate signal (the first starts the graceful stop), sent while that stop runs:
    # it takes ~0.3 s here since the startup heap is frozen out of the collector (0.9 s before)
    time.sleep(0.1)
    assert proc.poll() is None
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 128 + signal.SIGTERM, out[-2000:] + err[-2000:]
    assert time.monotonic() - started < 20, "the second signal did not force the stop"
    assert "second signal forced the stop" in err
    assert_nothing_left(children, ports)
