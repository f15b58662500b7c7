"""What audio scoring costs (issue 24): CPU per scored call, and whether it moves the media clock.

Part 1 (`cpu`): the real worker pool scores `--jobs` captures of 12 s (the speech source with 3 % of its
20 ms frames zeroed, as a lossy call sounds), with and without a reference: the worker's CPU per job
(ViSQOL speech, PLCMOS) and its one-time warm-up.

Part 2 (`clock`): `rtcload run` (embedded emulator, engine media, speech source, echo) with the same
users and calls at several `--rtc-audio-score` shares, alternated with share 0 as the same-run
baseline; prints each run's media send clock lateness p99 and loop lag p95 (summary.json `generator`)
and the scores it produced. The largest share whose lateness stays at the baseline's is what a process
can afford; the CPU budget (`--rtc-audio-score-cpu`, default 0.25 core) is what bounds it in a run.
Bounded: `--jobs` jobs; each run `--duration` with `--users` users. Loopback only.

    python bench/audio_score.py cpu --jobs 10
    python bench/audio_score.py clock --users 20 --duration 40s --shares 0,1/4,1 --rounds 2
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from rtcload.media.sources import make_buffer
from rtcload.quality.audio_score.pool import AudioScorePool
from rtcload.quality.audio_score.worker import ScoreJob, ScoreResult


def lossy_capture(seconds: float = 12.0, loss: float = 0.03, seed: int = 1) -> tuple[np.ndarray, np.ndarray]:
    reference = make_buffer("speech").pcm
    tiled = np.tile(reference, 3)[12_345 : 12_345 + int(seconds * 48_000)].astype(np.float32) / 32768.0
    frames = tiled.reshape(-1, 960).copy()
    frames[np.random.default_rng(seed).random(len(frames)) < loss] = 0
    return frames.ravel(), reference


async def score_all(pool: AudioScorePool, jobs: list[ScoreJob]) -> list[ScoreResult]:
    loop = asyncio.get_running_loop()
    results: list[ScoreResult] = []
    for job in jobs:  # one at a time: the CPU per job, not the queue
        future: asyncio.Future[ScoreResult] = loop.create_future()
        assert pool.submit(job, lambda r, f=future: loop.call_soon_threadsafe(f.set_result, r)) == "queued"
        results.append(await asyncio.wait_for(future, 120))
    return results


def cpu(args: argparse.Namespace) -> None:
    pcm, reference = lossy_capture()
    pool = AudioScorePool(cpu_budget=100.0)
    started = time.monotonic()
    pool.start()
    assert pool.wait_ready(300) and not pool.broken, pool.broken
    print(f"warm-up: {pool.warm_cpu_s:.2f} s CPU, {time.monotonic() - started:.1f} s wall (once per worker)")
    for label, ref in (("visqol-speech (reference)", reference), ("plcmos (no reference)", None)):
        t0 = time.monotonic()
        results = asyncio.run(score_all(pool, [ScoreJob(pcm, 48_000, ref) for _ in range(args.jobs)]))
        wall = time.monotonic() - t0
        costs = [r.cpu_s for r in results]
        scores = [r.score.mos for r in results if r.score is not None]
        print(
            f"{label:<28} jobs {len(results)}  CPU/job mean {statistics.mean(costs):.2f} s"
            f"  max {max(costs):.2f} s  wall/job {wall / len(results):.2f} s  score {statistics.mean(scores):.2f}"
        )
    pool.close()


def one_run(users: int, duration: str, share: str, workdir: Path) -> dict[str, float | str]:
    results = workdir / f"run-{time.monotonic_ns()}"
    command = [
        sys.executable, "-m", "rtcload", "run", "--users", str(users), "--spawn-rate", str(users),
        "--duration", duration, "--results", str(results), "--no-report", "--",
        "--rtc-audio", "speech", "--rtc-destinations", "echo", "--rtc-call-duration", "uniform:14,16",
        "--rtc-think-time", "uniform:0.5,1", "--rtc-audio-score", share, "--rtc-audio-score-cpu", "1.0",
    ]  # fmt: skip
    subprocess.run(command, capture_output=True, text=True, timeout=600)
    summary = json.loads((results / "summary.json").read_text())
    generator = summary.get("generator") or {}
    with open(results / "calls.csv") as rows:
        records = list(csv.DictReader(rows))
    scored = [float(r["audio_mos"]) for r in records if r.get("audio_mos")]
    dropped = [r["audio_mos_method"] for r in records if r.get("audio_mos_method") in ("queue_full", "over_budget")]
    return {
        "share": share,
        "calls": len(records),
        "scored": len(scored),
        "dropped": len(dropped),
        "score_p50": statistics.median(scored) if scored else float("nan"),
        "send_late_p99_ms": 1000 * float(generator.get("send_late_p99_s") or 0.0),
        "loop_lag_p95_ms": 1000 * float(generator.get("loop_lag_p95_s") or 0.0),
        "cpu_mean": float(generator.get("cpu_mean") or 0.0),
    }


def clock(args: argparse.Namespace) -> None:
    shares = [s.strip() for s in args.shares.split(",") if s.strip()]
    uptime = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    print(f"load before: {uptime} (shared machine: other work runs beside this bench)")
    rows = []
    with tempfile.TemporaryDirectory(prefix="rtcload-audio-bench-") as tmp:
        for round_no in range(args.rounds):
            for share in shares:  # alternated: each round has its own share-0 baseline
                row = one_run(args.users, args.duration, share, Path(tmp))
                row["round"] = round_no + 1
                rows.append(row)
                print(
                    f"round {row['round']} share {share:>5}: calls {row['calls']:>3} scored {row['scored']:>3}"
                    f" dropped {row['dropped']:>2} score p50 {row['score_p50']:.2f}"
                    f"  send late p99 {row['send_late_p99_ms']:.1f} ms  loop lag p95 {row['loop_lag_p95_ms']:.1f} ms"
                    f"  CPU mean {row['cpu_mean']:.1f} %",
                    flush=True,
                )
    for share in shares:
        late = [float(r["send_late_p99_ms"]) for r in rows if r["share"] == share]
        print(f"share {share:>5}: send late p99 median over rounds {statistics.median(late):.1f} ms")
    uptime = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    print(f"load after: {uptime}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="part", required=True)
    p_cpu = sub.add_parser("cpu")
    p_cpu.add_argument("--jobs", type=int, default=10)
    p_clock = sub.add_parser("clock")
    p_clock.add_argument("--users", type=int, default=20)
    p_clock.add_argument("--duration", default="40s")
    p_clock.add_argument("--shares", default="0,1/4,1")
    p_clock.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    cpu(args) if args.part == "cpu" else clock(args)


if __name__ == "__main__":
    main()
