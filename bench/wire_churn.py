"""The wire check at scale: a churn run captured on a netns loopback, judged by tshark (issue 21).

Why: the test (tests/test_wire_truth.py) runs a small churn for CI; the issue's target is 10 call attempts
per second with ~200 calls up and 0 send gaps over 30 ms on the wire. This runs the same capture at a
configurable scale and prints, per direction, the gaps over 30 ms tshark finds (count, streams hit, the
largest, the instants), Wireshark's vs rtcload's jitter p50/p95, and what rtcload reported about its own
send gaps (summary.json generator.send_gaps, when the build has it). Root, tcpdump, tshark, unshare.

    python3 bench/wire_churn.py                                   # --cps 10 --holding uniform:15,25 --duration 60s
    python3 bench/wire_churn.py --cps 5 --holding uniform:5,10 --duration 25s --stall-ms 150
    python3 bench/wire_churn.py --out /tmp/wire --json wire.json -- --processes 2   # extra `rtcload run` args

Same-run baselines: the emulator's direction (its echo repeats the generator's gaps one hop later, and
shows its own), and rtcload/Wireshark jitter ratios. The machine is usually shared: the load average and
the Locust process' run-queue wait (time runnable but without a CPU) are printed beside the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from tests.wire.analysis import analyse  # noqa: E402


def load_average() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def capture(args: argparse.Namespace, out: Path) -> None:
    run_args = ["--cps", args.cps, "--holding", args.holding, "--duration", args.duration]
    run_args += ["--rtc-codec", "pcmu", "--rtc-stats-interval", "1", *args.run_args]
    cmd = ["unshare", "--net", "--", sys.executable, str(REPO / "tests" / "wire" / "driver.py"), "--out", str(out)]
    cmd += ["--timeout", str(args.timeout)]
    if args.stall_ms:
        cmd += ["--stall-ms", str(args.stall_ms), "--stall-after-s", str(args.stall_after_s)]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])))
    proc = subprocess.run([*cmd, "--", *run_args], cwd=REPO, env=env)
    if proc.returncode != 0:
        driver = out / "driver.json"
        problems = json.loads(driver.read_text()).get("problems") if driver.exists() else "no driver.json"
        raise SystemExit(f"wire_churn: the capture failed (rc {proc.returncode}): {problems}; logs in {out}")


def ratio(a: float | None, b: float | None) -> str:
    return f"{a / b:.2f}x" if a is not None and b else "-"


def fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def report(result: dict[str, Any], out: Path, loads: tuple[str, str]) -> list[str]:
    driver = result["driver"]
    lines = [f"command: {' '.join(driver.get('run_cmd', []))}"]
    lines.append(f"calls in calls.csv: {result['calls']}; RTP streams on the wire: {result['streams']}")
    lines.append(
        f"capture: {driver.get('tcpdump')}; Locust run-queue wait {driver.get('locust_run_delay_s')} s; "
        f"the driver (port polling) used {driver.get('driver_cpu_s')} s CPU"
    )
    if "stall" in driver:
        lines.append(f"induced stall: SIGSTOP of Locust for {driver['stall']['stopped_s'] * 1000:.0f} ms")
    gen, emu = result["wire_gaps"]["generator"], result["wire_gaps"]["emulator"]
    for name, gaps in (("generator -> emulator", gen), ("emulator -> generator", emu)):
        lines.append(
            f"wire gaps > {gaps['threshold_ms']:g} ms, {name}: {gaps['gaps']} in {gaps['streams_with_gaps']} of "
            f"{gaps['streams']} streams, largest {gaps['gap_max_ms']:.1f} ms, at {gaps['instants']} instants "
            f"(worst: {gaps['worst_instant_streams']} streams at once)"
        )
    lines.append(f"  generator/emulator gap count ratio (same run): {ratio(gen['gaps'], emu['gaps'])}")
    wire, ours = result["wire_jitter_received"], result["rtcload_jitter"]
    lines.append(
        f"jitter received by the generator: Wireshark p50 {fmt(wire['p50_ms'])} / p95 {fmt(wire['p95_ms'])} ms "
        f"({wire['streams']} streams); rtcload p50 {fmt(ours['p50_ms'])} / p95 {fmt(ours['p95_ms'])} ms "
        f"({ours['calls']} calls); rtcload/Wireshark {ratio(ours['p50_ms'], wire['p50_ms'])} / "
        f"{ratio(ours['p95_ms'], wire['p95_ms'])}"
    )
    sent = result["wire_jitter_sent"]
    lines.append(
        f"jitter of the generator's own streams on the wire: p50 {fmt(sent['p50_ms'])} / p95 {fmt(sent['p95_ms'])} ms"
    )
    gaps = result["rtcload_send_gaps"]
    if gaps["missing"]:
        lines.append(f"rtcload's own send-gap report: absent ({', '.join(gaps['missing'])})")
    else:
        lines.append(
            f"rtcload's own send-gap report: {gaps['summary']}; calls.csv max {gaps['calls_csv_gap_max_ms']} ms"
        )
    health = [line for line in (out / "run.log").read_text(errors="replace").splitlines() if "generator" in line]
    lines += [f"rtcload says: {line.strip()}" for line in health]
    lines.append(f"load average before {loads[0]}, after {loads[1]} (2 cores, shared machine)")
    return lines


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--cps", default="10")
    p.add_argument("--holding", default="uniform:15,25")
    p.add_argument("--duration", default="60s")
    p.add_argument("--stall-ms", type=float, default=0.0, help="also SIGSTOP the Locust process this long, once")
    p.add_argument("--stall-after-s", type=float, default=30.0, help="seconds after the first call's media")
    p.add_argument("--timeout", type=float, default=600.0, help="kill the run after this many seconds")
    p.add_argument("--out", help="keep the capture and results here (default: a temporary directory)")
    p.add_argument("--json", help="write the figures here too")
    p.add_argument("run_args", nargs=argparse.REMAINDER, help="after --: more `rtcload run` arguments")
    args = p.parse_args(argv)
    args.run_args = args.run_args[1:] if args.run_args[:1] == ["--"] else args.run_args
    if os.geteuid() != 0:
        raise SystemExit("wire_churn: needs root (unshare --net, tcpdump)")
    with tempfile.TemporaryDirectory(prefix="wire-churn-") as tmp:
        out = Path(args.out or tmp)
        before = load_average()
        capture(args, out)
        after = load_average()
        result = analyse(out)
        for key in [k for k in result if k.startswith("_")]:
            result.pop(key)
        print("\n".join(report(result, out, (before, after))), flush=True)
        if args.json:
            Path(args.json).write_text(json.dumps(result, indent=1, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
