"""How many call attempts per second one generator process offers on time (open model, signaling only).

For each rate, one `rtcload run --cps RATE --arrival fixed` against the embedded emulator (static media,
`--rtc-media none`: setup and teardown signaling only, so the scheduler and the signaling stack are what
is measured) for --duration; prints offered vs achieved CPS, the scheduler's lateness (p95, late
attempts), the run's generator verdict and the busiest Locust process' CPU. Bounded: one run per rate.

    python bench/open_model_rate.py --rates 10,25,50 --duration 25s --holding fixed:2
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path


def run_rate(rate: float, duration: str, holding: str, processes: int) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        results = Path(tmp) / "r"
        argv = [sys.executable, "-m", "rtcload", "run", "--cps", f"{rate:g}", "--arrival", "fixed"]
        argv += ["--holding", holding, "--duration", duration, "--processes", str(processes)]
        argv += ["--results", str(results), "--emulator-media", "static", "--no-report", "--", "--rtc-media", "none"]
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=600)
        summary = json.loads((results / "summary.json").read_text())
    model, gen = summary["load_model"], summary["generator"]
    return {
        "rate": rate,
        "exit": proc.returncode,
        "window_s": model["window_s"],
        "offered": model["offered_cps"],
        "achieved": model["achieved_cps"],
        "ratio": model["achieved_cps"] / model["offered_cps"],
        "lag_p95_ms": model["lag_p95_s"] * 1000,
        "late": model["late"],
        "pool": model["pool"],
        "kept": model["generator_kept_rate"],
        "cpu_mean": gen.get("cpu_mean"),
        "answered": summary["calls"]["answered"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rates", default="10,25,50")
    parser.add_argument("--duration", default="25s")
    parser.add_argument("--holding", default="fixed:2")
    parser.add_argument("--processes", type=int, default=1)
    args = parser.parse_args()
    print("| CPS offered | achieved | achieved/offered | lag p95 ms | late | pool | kept rate | gen CPU % | exit |")
    print("|---|---|---|---|---|---|---|---|---|")
    for rate in (float(r) for r in args.rates.split(",")):
        r = run_rate(rate, args.duration, args.holding, args.processes)
        print(
            f"| {r['offered']:.2f} | {r['achieved']:.2f} | {r['ratio']:.3f} | {r['lag_p95_ms']:.1f} | {r['late']} "
            f"| {r['pool']} | {r['kept']} | {r['cpu_mean']} | {r['exit']} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
