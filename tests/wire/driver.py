"""Run one `rtcload run` against a separate `rtcload emulator` inside this network namespace, under tcpdump.

Why: the wire check needs the packets both processes really put on the wire, and needs to know which
process owns each UDP port (the generator's streams from the emulator's). Run it as
`unshare --net -- python3 tests/wire/driver.py --out DIR [--stall-ms 150 --stall-after-s 10] -- RUN_ARGS`.
It brings `lo` up (the only interface), starts tcpdump on `lo` (headers only), the emulator on a free
port, then `rtcload run --target ... --results DIR/res RUN_ARGS`. While the run lasts it polls each
process tree's UDP sockets (port -> owner, with the time window it was seen: ports are reused under
churn). With --stall-ms it stops the Locust process(es) once with SIGSTOP for that long, then SIGCONT
(--stall-after-s after the generator opened its first media socket, whatever the start-up took):
a real stall of the generator, the kind a garbage collection or a blocked thread causes.
Writes DIR/driver.json; exit 0 when the run, the emulator and the capture all worked.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import resource
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import psutil

SNAPLEN = 96  # IP + UDP + RTP header (12) + a little: the payload (SRTP, encrypted anyway) is not needed
POLL_S = 0.4  # sockets live for seconds; owner() allows 0.5 s either side of a sighting
REUSE_S = 1.0  # a port seen again by the same owner within this time is the same socket
URL_LINE = re.compile(r"listening on (ws://\S+)")


def bring_up_loopback() -> list[str]:
    """`ip link set lo up`; return this namespace's interfaces (expected: ["lo"])."""
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    out = subprocess.run(["ip", "-o", "link", "show"], check=True, capture_output=True, text=True).stdout
    return [line.split(":")[1].strip().split("@")[0] for line in out.splitlines() if ":" in line]


def start_tcpdump(pcap: Path, log: Path) -> subprocess.Popen[bytes]:
    """tcpdump on lo, UDP only, headers only, written unbuffered; returns once it is capturing."""
    cmd = ["tcpdump", "-i", "lo", "-s", str(SNAPLEN), "-B", "16384", "-U", "-Z", "root", "-w", str(pcap), "udp"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=open(log, "wb"))  # noqa: SIM115
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if "listening on" in log.read_text(errors="replace"):
            return proc
        if proc.poll() is not None:
            raise RuntimeError(f"tcpdump exited: {log.read_text(errors='replace')[-500:]}")
        time.sleep(0.05)
    raise RuntimeError("tcpdump did not start capturing within 20 s")


def start_emulator(log: Path) -> tuple[subprocess.Popen[bytes], str]:
    """A separate `rtcload emulator` on a free port: its own process, so its sockets are told apart."""
    cmd = [sys.executable, "-m", "rtcload", "emulator", "--host", "127.0.0.1", "--port", "0"]
    proc = subprocess.Popen(cmd, stdout=open(log, "wb"), stderr=subprocess.STDOUT)  # noqa: SIM115
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        found = URL_LINE.search(log.read_text(errors="replace"))
        if found:
            return proc, found.group(1)
        if proc.poll() is not None:
            raise RuntimeError(f"emulator exited: {log.read_text(errors='replace')[-1000:]}")
        time.sleep(0.1)
    raise RuntimeError("emulator did not listen within 60 s")


def tree(pid: int) -> list[psutil.Process]:
    try:
        root = psutil.Process(pid)
        return [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return []


def udp_ports(pid: int) -> set[int]:
    ports: set[int] = set()
    for proc in tree(pid):
        with contextlib.suppress(psutil.Error):
            ports.update(c.laddr.port for c in proc.net_connections(kind="udp") if c.laddr)
    return ports


class PortBook:
    """Which process (generator or emulator) owned each UDP port, and when (epoch seconds)."""

    def __init__(self) -> None:
        self.windows: dict[int, list[list[Any]]] = {}

    def saw(self, role: str, ports: set[int], now: float) -> None:
        for port in ports:
            spans = self.windows.setdefault(port, [])
            if spans and spans[-1][0] == role and now - spans[-1][2] <= REUSE_S:
                spans[-1][2] = now
            else:
                spans.append([role, now, now])


def locust_processes(run_pid: int) -> list[psutil.Process]:
    """The Locust process(es) under `rtcload run`: the generator that sends the media."""
    found = []
    for proc in tree(run_pid)[1:]:
        with contextlib.suppress(psutil.Error):
            if any("locust" in part for part in proc.cmdline()):
                found.append(proc)
    return found


def run_delay_s(pid: int) -> float:
    """Seconds this process' threads were runnable but waited for a CPU (/proc schedstat): the machine's
    share of a stall, as opposed to the generator's own."""
    total = 0
    with contextlib.suppress(OSError):
        for tid in os.listdir(f"/proc/{pid}/task"):
            with contextlib.suppress(OSError, IndexError, ValueError), open(f"/proc/{pid}/task/{tid}/schedstat") as f:
                total += int(f.read().split()[1])
    return total / 1e9


def stall(procs: list[psutil.Process], seconds: float) -> dict[str, Any]:
    """SIGSTOP every Locust process for `seconds` (a real stall of all its threads), then SIGCONT."""
    t0 = time.time()
    for proc in procs:
        proc.send_signal(signal.SIGSTOP)
    time.sleep(seconds)  # the stall itself is the point here, not a synchronisation
    t1 = time.time()
    for proc in procs:
        proc.send_signal(signal.SIGCONT)
    return {"start": t0, "end": t1, "pids": [p.pid for p in procs], "stopped_s": t1 - t0}


def stop_run(run: subprocess.Popen[bytes]) -> None:
    """`rtcload run` stops in order on SIGTERM and kills its group (Locust too) on a second one."""
    for _ in range(2):
        if run.poll() is not None:
            return
        run.send_signal(signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            run.wait(30)
    if run.poll() is None:
        run.kill()
        run.wait(10)


def on_sigterm(signum: int, _frame: object) -> None:
    """The test gave up on us: unwind, so `drive`'s cleanup stops the run, the emulator and tcpdump."""
    raise SystemExit(128 + signum)


def stop(proc: subprocess.Popen[bytes], timeout: float) -> int | None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
    return proc.returncode


def tcpdump_counts(log: Path) -> dict[str, int]:
    """tcpdump's closing lines: packets captured, received by filter, dropped by kernel."""
    counts: dict[str, int] = {}
    for line in log.read_text(errors="replace").splitlines():
        found = re.match(r"(\d+) packets? (captured|received by filter|dropped by kernel)", line.strip())
        if found:
            counts[found.group(2).replace(" ", "_")] = int(found.group(1))
    return counts


def drive(args: argparse.Namespace) -> dict[str, Any]:
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    result: dict[str, Any] = {"interfaces": bring_up_loopback(), "problems": []}
    tcpdump = start_tcpdump(out / "cap.pcap", out / "tcpdump.log")
    emulator, url = start_emulator(out / "emulator.log")
    book = PortBook()
    run_cmd = [sys.executable, "-m", "rtcload", "run", "--target", url, "--results", str(out / "res"), *args.run_args]
    result["run_cmd"] = ["rtcload", *run_cmd[3:]]
    started = time.monotonic()
    media_since: float | None = None
    waits: dict[int, list[float]] = {}  # Locust pid -> [run delay first seen, last seen]
    with open(out / "run.log", "wb") as run_log:
        run = subprocess.Popen(run_cmd, stdout=run_log, stderr=subprocess.STDOUT)
    try:
        while run.poll() is None:
            now = time.time()
            generator_ports = udp_ports(run.pid)
            book.saw("generator", generator_ports, now)
            book.saw("emulator", udp_ports(emulator.pid), now)
            elapsed = time.monotonic() - started
            if generator_ports and media_since is None:
                media_since = time.monotonic()  # the first call's media: the load has begun
            for proc in locust_processes(run.pid):
                waits.setdefault(proc.pid, [run_delay_s(proc.pid)] * 2)[1] = run_delay_s(proc.pid)
            in_media = 0.0 if media_since is None else time.monotonic() - media_since
            if (
                args.stall_ms > 0
                and "stall" not in result
                and media_since is not None
                and in_media >= args.stall_after_s
            ):
                procs = locust_processes(run.pid)
                if procs:
                    result["stall"] = stall(procs, args.stall_ms / 1000)
            if elapsed > args.timeout:
                result["problems"].append(f"rtcload run still running after {args.timeout} s: stopped")
                break
            time.sleep(POLL_S)
    finally:
        stop_run(run)
        result["run_rc"] = run.returncode
        result["emulator_rc"] = stop(emulator, 30)
        result["tcpdump_rc"] = stop(tcpdump, 30)
    result["tcpdump"] = tcpdump_counts(out / "tcpdump.log")
    usage = resource.getrusage(resource.RUSAGE_SELF)
    result["driver_cpu_s"] = round(usage.ru_utime + usage.ru_stime, 2)  # the port polling's own cost
    result["locust_run_delay_s"] = round(sum(last - first for first, last in waits.values()), 3)
    result["ports"] = {str(port): spans for port, spans in book.windows.items()}
    if args.stall_ms > 0 and "stall" not in result:
        result["problems"].append("no Locust process found to stall")
    return result


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--out", required=True, help="directory for cap.pcap, logs, res/ and driver.json")
    p.add_argument("--stall-ms", type=float, default=0.0, help="SIGSTOP the Locust process(es) this long, once")
    p.add_argument(
        "--stall-after-s", type=float, default=10.0, help="when: seconds after the generator's first media socket"
    )
    p.add_argument("--timeout", type=float, default=300.0, help="kill the run after this many seconds")
    p.add_argument("run_args", nargs=argparse.REMAINDER, help="after --: arguments for `rtcload run`")
    args = p.parse_args(argv)
    if args.run_args and args.run_args[0] == "--":
        args.run_args = args.run_args[1:]
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    signal.signal(signal.SIGTERM, on_sigterm)
    out = Path(args.out)
    try:
        result = drive(args)
    except Exception as exc:  # reported in driver.json: the test prints it
        result = {"problems": [f"driver crashed: {exc!r}"]}
    out.mkdir(parents=True, exist_ok=True)
    (out / "driver.json").write_text(json.dumps(result, indent=1))
    ok = not result["problems"] and result.get("tcpdump_rc") == 0 and result.get("emulator_rc") == 0
    return 0 if ok else 1


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
