"""Call setups per second and memory per concurrent call: naive aiortc, the lean path and the media engine.

This process offers N calls (CallMedia, LeanCallMedia or EngineCallMedia) as fast as --concurrency allows to echo
answerers in a child process (SDP over a private loopback socket, so ICE + DTLS + media start are
what is measured). Setups/s = connected calls / wall time of the ramp; memory per call = growth of
this process' RSS (and USS) with all N calls up, divided by N; CPU of each side during the ramp.
Bounded: N calls, --timeout seconds for the ramp.

    python bench/setup_rate.py --calls 100 --concurrency 20 --modes naive,lean,engine
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import subprocess
import sys
import time
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import psutil

from bench._common import Child, CpuWindow, Rpc, new_loop, pct
from rtcload.media.engine.call_media import EngineCallMedia
from rtcload.media.lean import LeanCallMedia
from rtcload.media.loopback import use_loopback_only
from rtcload.media.peer import CallMedia

CALLS: dict[str, type[CallMedia]] = {"naive": CallMedia, "lean": LeanCallMedia, "engine": EngineCallMedia}

CALLS_PER_CORE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "calls_per_core.py")


def memory() -> tuple[int, int]:
    info = psutil.Process().memory_full_info()
    return info.rss, info.uss


async def run_mode(mode: str, args: argparse.Namespace) -> dict[str, Any]:
    child = Child([CALLS_PER_CORE, "--serve", "--mode", mode] + (["--no-uvloop"] if args.no_uvloop else []))
    rpcs = [await Rpc.open(child.port) for _ in range(args.concurrency)]
    calls: list[CallMedia] = []
    setups: list[float] = []
    try:
        gc.collect()
        rss0, uss0 = memory()
        queue: asyncio.Queue[int] = asyncio.Queue()
        for i in range(args.calls):
            queue.put_nowait(i)

        async def worker(rpc: Rpc) -> None:
            while not queue.empty():
                queue.get_nowait()
                started = time.monotonic()
                media = CALLS[mode]("tone:440", codec=args.codec, stats_interval_s=2.0)
                calls.append(media)
                offer = await media.create_offer()
                await media.accept_answer((await rpc.call(op="offer", sdp=offer))["sdp"])
                if await media.wait_connected(30):
                    setups.append(time.monotonic() - started)

        cpu = CpuWindow(psutil.Process())
        await rpcs[0].call(op="window_start")
        cpu.start()
        t0 = time.monotonic()
        await asyncio.wait_for(asyncio.gather(*(worker(r) for r in rpcs)), args.timeout)
        wall = time.monotonic() - t0
        gen_cpu = cpu.percent()
        emu_cpu = (await rpcs[0].call(op="window_end"))["cpu"]
        await asyncio.sleep(2.0)  # media running on every call before measuring memory
        gc.collect()
        rss1, uss1 = memory()
        rate = len(setups) / wall
        return {
            "mode": mode,
            "connected": len(setups),
            "wall_s": wall,
            "setups_per_s": rate,
            "setup_p50_ms": 1000 * pct(setups, 0.5),
            "setup_p99_ms": 1000 * pct(setups, 0.99),
            "cpu_gen": gen_cpu,
            "cpu_emu": emu_cpu,
            "gen_setups_per_core_s": rate / max(1e-9, gen_cpu / 100),
            "rss_mb_per_call": (rss1 - rss0) / 2**20 / max(1, len(calls)),
            "uss_mb_per_call": (uss1 - uss0) / 2**20 / max(1, len(calls)),
        }
    finally:
        await asyncio.gather(*(c.close() for c in calls), return_exceptions=True)
        await rpcs[0].call(op="close")
        for rpc in rpcs:
            await rpc.close()
        child.stop()


async def one_mode(args: argparse.Namespace) -> None:
    use_loopback_only()
    print("RESULT " + json.dumps(await run_mode(args.modes, args)), flush=True)


def run_all(args: argparse.Namespace) -> None:
    """Each mode in a fresh process: memory freed by one mode must not be reused by the next."""
    results = []
    for mode in args.modes.split(","):
        argv = [sys.executable, os.path.abspath(__file__), "--one", "--modes", mode, "--calls", str(args.calls)]
        argv += ["--concurrency", str(args.concurrency), "--codec", args.codec, "--timeout", str(args.timeout)]
        argv += ["--no-uvloop"] if args.no_uvloop else []
        out = subprocess.run(argv, capture_output=True, text=True, timeout=args.timeout + 60, check=True).stdout
        r = json.loads(next(line for line in out.splitlines() if line.startswith("RESULT "))[7:])
        results.append(r)
        print(
            f"mode={mode} connected={r['connected']}/{args.calls} wall_s={r['wall_s']:.1f} "
            f"setups_per_s={r['setups_per_s']:.0f} setup_p50/p99_ms={r['setup_p50_ms']:.0f}/{r['setup_p99_ms']:.0f} "
            f"cpu_gen={r['cpu_gen']:.0f}% cpu_emu={r['cpu_emu']:.0f}% "
            f"gen_setups_per_core_s={r['gen_setups_per_core_s']:.0f} "
            f"rss_mb_per_call={r['rss_mb_per_call']:.2f} uss_mb_per_call={r['uss_mb_per_call']:.2f}",
            flush=True,
        )
    by_mode = {r["mode"]: r for r in results}
    for fast in ("lean", "engine"):
        if "naive" in by_mode and fast in by_mode:
            naive, other = by_mode["naive"], by_mode[fast]
            print(
                f"ratio {fast}/naive: setups/s {other['setups_per_s'] / max(1e-9, naive['setups_per_s']):.2f}x, "
                f"memory per call {other['rss_mb_per_call'] / max(1e-9, naive['rss_mb_per_call']):.2f}x"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=100)
    parser.add_argument("--concurrency", type=int, default=20)
    parser.add_argument("--modes", default="naive,lean", help="any of naive,lean,engine")
    parser.add_argument("--codec", default="opus", choices=["opus", "pcmu", "pcma"])
    parser.add_argument("--timeout", type=float, default=120.0)
    parser.add_argument("--no-uvloop", action="store_true")
    parser.add_argument("--one", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if not args.one:
        run_all(args)
        return
    loop = new_loop(not args.no_uvloop)
    asyncio.set_event_loop(loop)
    loop.run_until_complete(one_mode(args))


if __name__ == "__main__":
    main()
