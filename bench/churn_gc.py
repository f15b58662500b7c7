"""Housekeeping pauses under churn, before vs after (issue 21): garbage-collection pauses of the generator
and the embedded emulator during `rtcload run --cps 10 --holding uniform:15,25 --duration 60s`.

Each tree (e.g. main checked out at /tmp/base-gc, and this branch) runs the same command in turn, with the
same probe in every process: a `sitecustomize` put first on PYTHONPATH that records every collection
(gc.callbacks: generation, wall-clock pause, the thread's CPU time in it, objects collected) and writes
them when the process exits. On a shared machine the wall pause includes preemption; the CPU time does not. So the
baseline needs no code of the branch. Loopback only; bounded by --duration and a timeout per run.

    python bench/churn_gc.py --tree before=/tmp/base-gc --tree after=. --rounds 1
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

PROBE = r"""
import atexit, gc, json, os, sys, time
_out = os.environ.get("GCPROBE_OUT")
_rows = []
_t = [0.0, 0.0]
def _cb(phase, info):
    if phase == "start":
        _t[0], _t[1] = time.perf_counter(), time.thread_time()
    else:
        _rows.append((info["generation"], time.perf_counter() - _t[0], info.get("collected", 0), time.time(),
                      time.thread_time() - _t[1]))
_born = time.time()
def _waited():
    total = 0
    for tid in os.listdir("/proc/self/task"):
        try:
            with open(f"/proc/self/task/{tid}/schedstat") as f:
                total += int(f.read().split()[1])
        except OSError:
            pass
    return total / 1e9
def _dump():
    if _out and _rows:
        with open(os.path.join(_out, f"gc.{os.getpid()}.json"), "w") as f:
            json.dump({"argv": sys.argv, "pid": os.getpid(), "rows": _rows, "born": _born,
                       "runqueue_wait_s": _waited(), "lived_s": time.time() - _born}, f)
if _out:
    gc.callbacks.append(_cb)
    os.register_at_fork(after_in_child=lambda: globals().update(_born=time.time()))
    atexit.register(_dump)
"""


def run_tree(name: str, tree: Path, args: argparse.Namespace, work: Path, settings: dict[str, str]) -> dict[str, Any]:
    probe_dir, out, results = work / f"{name}-probe", work / f"{name}-gc", work / f"{name}-results"
    for d in (probe_dir, out):
        d.mkdir(parents=True, exist_ok=True)
    (probe_dir / "sitecustomize.py").write_text(PROBE)
    env = {**os.environ, **settings, "PYTHONPATH": f"{probe_dir}:{tree}", "GCPROBE_OUT": str(out)}
    cmd = [sys.executable, "-m", "rtcload", "run", "--cps", str(args.cps), "--holding", args.holding]
    cmd += ["--duration", args.duration, "--results", str(results)]
    started, run_start = time.monotonic(), time.time()
    done = subprocess.run(cmd, cwd=work, env=env, capture_output=True, text=True, timeout=args.timeout)
    wall = time.monotonic() - started
    summary = json.loads((results / "summary.json").read_text()) if (results / "summary.json").exists() else {}
    processes: dict[str, list[tuple[int, float, int, float, float]]] = {}
    waits: dict[str, float] = {}
    for part in out.glob("gc.*.json"):
        data = json.loads(part.read_text())
        argv = " ".join(data["argv"])
        role = "emulator" if "emulator" in argv else "generator" if "locust" in argv else "rtcload run"
        # collection times relative to the run's start (the first call comes a few seconds in)
        processes.setdefault(role, []).extend((g, d, c, t - run_start, cpu) for g, d, c, t, cpu in data["rows"])
        waits[role] = waits.get(role, 0.0) + float(data.get("runqueue_wait_s", 0.0))
    return {
        "tree": name, "exit": done.returncode, "wall_s": round(wall, 1), "summary": summary, "gc": processes,
        "runqueue_wait_s": waits,
    }  # fmt: skip


def figures(rows: list[tuple[int, float, int, float, float]]) -> dict[str, Any]:
    full = [r for r in rows if r[0] == 2]
    return {
        "collections": [sum(1 for r in rows if r[0] == g) for g in (0, 1, 2)],
        "max_ms": round(1000 * max((r[1] for r in rows), default=0.0), 1),
        "max_ms_by_gen": [round(1000 * max((r[1] for r in rows if r[0] == g), default=0.0), 1) for g in (0, 1, 2)],
        "over_5ms_by_gen": [sum(1 for r in rows if r[0] == g and r[1] > 0.005) for g in (0, 1, 2)],
        "total_ms": round(1000 * sum(r[1] for r in rows), 1),
        "gen2_max_ms": round(1000 * max((r[1] for r in full), default=0.0), 1),
        "over_5ms": sum(1 for r in rows if r[1] > 0.005),
        "gen2_collected": [r[2] for r in full],
        "gen2_ms": [round(1000 * r[1], 1) for r in full],
        "gen2_at_s": [round(r[3], 1) for r in full],
        # once calls are up (10 s into the run): the pauses the media clock meets
        "max_ms_after_10s": round(1000 * max((r[1] for r in rows if r[3] > 10), default=0.0), 1),
        "gen2_after_10s": sum(1 for r in full if r[3] > 10),
        # the collecting thread's own CPU time: the pause without the preemption of a shared machine
        "cpu_max_ms_after_10s": round(1000 * max((r[4] for r in rows if r[3] > 10), default=0.0), 2),
        "cpu_over_5ms_after_10s": sum(1 for r in rows if r[3] > 10 and r[4] > 0.005),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--tree", action="append", required=True, metavar="NAME=PATH[,VAR=VALUE...]", help="a tree, with env settings"
    )
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--cps", default="10")
    parser.add_argument("--holding", default="uniform:15,25")
    parser.add_argument("--duration", default="60s")
    parser.add_argument("--timeout", type=float, default=300.0)
    args = parser.parse_args()
    trees = []
    for spec in args.tree:
        name, rest = spec.split("=", 1)
        path, *settings = rest.split(",")
        trees.append((name, Path(path).resolve(), dict(s.split("=", 1) for s in settings)))
    print(f"load before: {os.getloadavg()} (2-core VM shared with other sessions)", flush=True)
    report: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="churn-gc-") as tmp:
        for round_no in range(args.rounds):
            for name, tree, settings in trees:
                result = run_tree(f"{name}{round_no}", tree, args, Path(tmp), settings)
                calls = result["summary"].get("calls", {})
                row = {"tree": name, "round": round_no, "exit": result["exit"], "wall_s": result["wall_s"]}
                row["answered"] = calls.get("answered")
                jitter = result["summary"].get("metrics", {}).get("jitter", {})
                row["jitter_p50_ms"] = round(1000 * (jitter.get("p50") or 0.0), 2)
                row["jitter_p95_ms"] = round(1000 * (jitter.get("p95") or 0.0), 2)
                row["send_late_p99_ms"] = round(
                    1000 * (result["summary"].get("generator", {}).get("send_late_p99_s") or 0), 1
                )
                row.update({role: figures(rows) for role, rows in result["gc"].items() if role != "rtcload run"})
                row["runqueue_wait_s"] = {k: round(v, 1) for k, v in result["runqueue_wait_s"].items()}
                report.append(row)
                print(json.dumps(row), flush=True)
    print(f"load after: {os.getloadavg()}")
    names = [n for n, _, _ in trees]
    for role in ("generator", "emulator"):
        for key in (
            "max_ms", "gen2_max_ms", "gen2_after_10s", "max_ms_after_10s", "cpu_max_ms_after_10s",
            "cpu_over_5ms_after_10s", "over_5ms", "total_ms",
        ):  # fmt: skip
            values = {n: [r[role][key] for r in report if r["tree"] == n and role in r] for n in names}
            print(f"{role:9} {key:11} " + "  ".join(f"{n}={v}" for n, v in values.items()))
    for key in ("answered", "jitter_p50_ms", "jitter_p95_ms", "send_late_p99_ms"):
        print(f"run       {key:16} " + "  ".join(f"{n}={[r[key] for r in report if r['tree'] == n]}" for n in names))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
