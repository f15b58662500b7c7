"""Registrations per second per core: signaling only (what `registration_storm` does), no media.

The emulator runs in a child process (open user directory, loopback); this process runs C concurrent
register/unregister cycles (SignalingClient.connect() + close()) until --count cycles or --max-seconds.
Prints registrations/s and the CPU each side spent, so the per-core rate of the generator and of the
emulator can be read separately (100 % = one core).

    python bench/registrations.py --count 2000 --concurrency 50
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import psutil

from bench._common import Child, CpuWindow, LagProbe, Rpc, new_loop, pct, serve_rpc
from rtcload.emulator import Emulator, EmulatorConfig, UserDirectory
from rtcload.signaling import ClientConfig, PasswordCredentials, SignalingClient


async def serve() -> None:
    emulator = Emulator(EmulatorConfig(host="127.0.0.1", port=0, users=UserDirectory(open=True), seed=1))
    await emulator.start()
    cpu = CpuWindow(psutil.Process())

    async def handle(req: dict[str, Any]) -> dict[str, Any]:
        if req["op"] == "url":
            return {"url": emulator.url}
        if req["op"] == "window_start":
            cpu.start()
            return {}
        if req["op"] == "window_end":
            return {"cpu": cpu.percent()}
        return {"error": req["op"]}

    await serve_rpc(handle)
    await asyncio.Event().wait()


async def main_async(args: argparse.Namespace) -> None:
    child = Child([os.path.abspath(__file__), "--serve"] + (["--no-uvloop"] if args.no_uvloop else []))
    rpc = await Rpc.open(child.port)
    lag = LagProbe()
    lag.start()
    try:
        url = (await rpc.call(op="url"))["url"]
        durations: list[float] = []
        failures = 0
        remaining = args.count
        deadline = time.monotonic() + args.max_seconds

        async def worker(index: int) -> None:
            nonlocal remaining, failures
            while remaining > 0 and time.monotonic() < deadline:
                remaining -= 1
                client = SignalingClient(
                    ClientConfig(url=url, credentials=PasswordCredentials(f"bench{index}", "pw"), label=f"b{index}")
                )
                started = time.monotonic()
                try:
                    await client.connect(timeout=20)
                    durations.append(time.monotonic() - started)
                except Exception:
                    failures += 1
                finally:
                    await client.close()

        cpu = CpuWindow(psutil.Process())
        await rpc.call(op="window_start")
        cpu.start()
        started = time.monotonic()
        await asyncio.gather(*(worker(i) for i in range(args.concurrency)))
        wall = time.monotonic() - started
        gen_cpu = cpu.percent()
        emu_cpu = (await rpc.call(op="window_end"))["cpu"]
        rate = len(durations) / wall
        print(
            f"registrations={len(durations)} failures={failures} wall_s={wall:.1f} rate_per_s={rate:.0f} "
            f"register_p50_ms={1000 * pct(durations, 0.5):.1f} p99_ms={1000 * pct(durations, 0.99):.1f} "
            f"cpu_gen={gen_cpu:.0f}% cpu_emu={emu_cpu:.0f}% gen_lag_p99_ms={lag.p99_ms():.1f}"
        )
        gen_rate, emu_rate = rate / max(1e-9, gen_cpu / 100), rate / max(1e-9, emu_cpu / 100)
        print(f"per core: generator {gen_rate:.0f}/s, emulator {emu_rate:.0f}/s")
    finally:
        lag.stop()
        await rpc.close()
        child.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--max-seconds", type=float, default=60.0)
    parser.add_argument("--no-uvloop", action="store_true")
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    loop = new_loop(not args.no_uvloop)
    asyncio.set_event_loop(loop)
    loop.run_until_complete(serve() if args.serve else main_async(args))


if __name__ == "__main__":
    main()
