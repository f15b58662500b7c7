"""Concurrent two-way calls per core: naive aiortc vs the lean path, in the same run.

Two processes on loopback: this one (the generator: N CallMedia or LeanCallMedia offerers sending a
440 Hz tone) and a child (the emulator side: N echo MediaEndpoint / LeanMediaEndpoint answerers).
SDP goes over a private JSON-lines TCP socket so only media cost is measured. For each mode: set up N
calls (bounded concurrency), settle, then a measured window of CPU% per process (psutil, all
threads, 100 = one core), loop lag p99 (rtcload.loadgen.health probe), send-interval p99 (gap
between a track's consecutive sends), loss and jitter from getStats, and packets received vs the
50/s expected (self-induced shortfall). Bounded: N calls, one window of --duration seconds.

    python bench/calls_per_core.py --calls 50 --duration 20 --modes naive,lean --codec opus
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
from rtcload.media.encoded import SEND_GAPS
from rtcload.media.endpoint import MediaEndpoint
from rtcload.media.lean import LeanCallMedia, LeanMediaEndpoint
from rtcload.media.loopback import use_loopback_only
from rtcload.media.peer import CallMedia
from rtcload.media.session import AudioSession
from rtcload.media.stats import sample_stats

EXPECTED_PPS = 50.0


# ---------------------------------------------------------------- answerer (child process)
async def serve(lean: bool) -> None:
    use_loopback_only()
    endpoints: list[AudioSession] = []
    cpu = CpuWindow(psutil.Process())
    lag = LagProbe()
    lag.start()

    async def handle(req: dict[str, Any]) -> dict[str, Any]:
        op = req["op"]
        if op == "offer":
            endpoint: AudioSession = LeanMediaEndpoint("echo") if lean else MediaEndpoint("echo")
            endpoints.append(endpoint)
            return {"sdp": await endpoint.accept_offer(req["sdp"])}
        if op == "window_start":
            cpu.start()
            lag.reset()
            return {}
        if op == "window_end":
            return {"cpu": cpu.percent(), "lag_p99_ms": lag.p99_ms(), "threads": psutil.Process().num_threads()}
        if op == "close":
            await asyncio.gather(*(e.close() for e in endpoints), return_exceptions=True)
            endpoints.clear()
            return {}
        return {"error": op}

    await serve_rpc(handle)
    await asyncio.Event().wait()


# ---------------------------------------------------------------- generator (this process)
def record_gaps(media: CallMedia, gaps: list[float]) -> None:
    """Naive path: time the PcmTrack's sends the same way PreEncodedTrack does (instance shadow)."""
    original = media.source.recv
    last: list[float] = []

    async def recv() -> Any:
        frame = await original()
        now = time.monotonic()
        if last:
            gaps.append(now - last[0])
            last[0] = now
        else:
            last.append(now)
        return frame

    media.source.recv = recv  # type: ignore[method-assign]


async def run_mode(mode: str, args: argparse.Namespace) -> dict[str, Any]:
    lean = mode == "lean"
    child = Child([os.path.abspath(__file__), "--serve", "--mode", mode] + (["--no-uvloop"] if args.no_uvloop else []))
    rpcs = [await Rpc.open(child.port) for _ in range(args.setup_concurrency)]
    naive_gaps: list[float] = []
    calls: list[CallMedia] = []
    setup_s: list[float] = []
    lag = LagProbe()
    lag.start()
    gen_cpu = CpuWindow(psutil.Process())
    rss_before = psutil.Process().memory_info().rss
    try:
        queue: asyncio.Queue[int] = asyncio.Queue()
        for i in range(args.calls):
            queue.put_nowait(i)

        async def worker(rpc: Rpc) -> None:
            while not queue.empty():
                queue.get_nowait()
                started = time.monotonic()
                media = (
                    LeanCallMedia("tone:440", codec=args.codec, stats_interval_s=args.stats_interval)
                    if lean
                    else CallMedia("tone:440", codec=args.codec, stats_interval_s=args.stats_interval)
                )
                if not lean:
                    record_gaps(media, naive_gaps)
                calls.append(media)
                offer = await media.create_offer()
                await media.accept_answer((await rpc.call(op="offer", sdp=offer))["sdp"])
                if await media.wait_connected(30):
                    setup_s.append(time.monotonic() - started)

        t0 = time.monotonic()
        await asyncio.wait_for(asyncio.gather(*(worker(r) for r in rpcs)), 120)
        setup_wall = time.monotonic() - t0
        await asyncio.sleep(args.settle)
        before = {id(c): await sample_stats(c.pc) for c in calls}
        SEND_GAPS.samples.clear()
        naive_gaps.clear()
        lag.reset()
        await rpcs[0].call(op="window_start")
        gen_cpu.start()
        window_start = time.monotonic()
        await asyncio.sleep(args.duration)
        cpu_gen = gen_cpu.percent()
        window = time.monotonic() - window_start
        emu = await rpcs[0].call(op="window_end")
        gen_lag = lag.p99_ms()
        gaps = [g for _, g in SEND_GAPS.samples] if lean else list(naive_gaps)
        after = {id(c): await sample_stats(c.pc) for c in calls}
        rss_after = psutil.Process().memory_info().rss
        received = sum(after[k].packets_received - before[k].packets_received for k in after)
        lost = sum(after[k].packets_lost - before[k].packets_lost for k in after)
        remote_lost = sum((after[k].remote_packets_lost or 0) - (before[k].remote_packets_lost or 0) for k in after)
        jitters = [1000 * s.jitter_s for s in after.values() if s.jitter_s is not None]
        expected = EXPECTED_PPS * window * len(calls)
        connected = sum(1 for c in calls if c.connected.is_set())
        per_endpoint = (cpu_gen + emu["cpu"]) / 2 / max(1, connected)
        return {
            "mode": mode,
            "codec": args.codec,
            "calls": args.calls,
            "connected": connected,
            "setup_p50_ms": 1000 * pct(setup_s, 0.5),
            "setups_per_s": len(setup_s) / setup_wall if setup_wall else 0.0,
            "cpu_gen": cpu_gen,
            "cpu_emu": emu["cpu"],
            "core_pct_per_endpoint": per_endpoint,
            "gen_lag_p99_ms": gen_lag,
            "emu_lag_p99_ms": emu["lag_p99_ms"],
            "send_p50_ms": 1000 * pct(gaps, 0.5),
            "send_p99_ms": 1000 * pct(gaps, 0.99),
            "rx_loss_pct": 100 * lost / max(1, received + lost),
            "remote_loss_pct": 100 * remote_lost / max(1, received + lost),
            "rx_shortfall_pct": 100 * (1 - received / expected) if expected else 0.0,
            "jitter_p50_ms": pct(jitters, 0.5),
            "threads_gen": psutil.Process().num_threads(),
            "threads_emu": emu["threads"],
            "rss_mb_per_call": (rss_after - rss_before) / 2**20 / max(1, len(calls)),
        }
    finally:
        lag.stop()
        await asyncio.gather(*(c.close() for c in calls), return_exceptions=True)
        await rpcs[0].call(op="close")
        for rpc in rpcs:
            await rpc.close()
        child.stop()


COLUMNS = [
    ("mode", "{}"),
    ("codec", "{}"),
    ("connected", "{}"),
    ("setup_p50_ms", "{:.0f}"),
    ("cpu_gen", "{:.1f}"),
    ("cpu_emu", "{:.1f}"),
    ("core_pct_per_endpoint", "{:.2f}"),
    ("gen_lag_p99_ms", "{:.1f}"),
    ("emu_lag_p99_ms", "{:.1f}"),
    ("send_p50_ms", "{:.1f}"),
    ("send_p99_ms", "{:.1f}"),
    ("rx_loss_pct", "{:.3f}"),
    ("rx_shortfall_pct", "{:.2f}"),
    ("jitter_p50_ms", "{:.1f}"),
    ("threads_gen", "{}"),
    ("threads_emu", "{}"),
    ("rss_mb_per_call", "{:.2f}"),
]


async def main_async(args: argparse.Namespace) -> None:
    use_loopback_only()
    results = []
    for mode in args.modes.split(","):
        result = await run_mode(mode, args)
        results.append(result)
        print(" ".join(f"{k}={fmt.format(result[k])}" for k, fmt in COLUMNS), flush=True)
    print("| " + " | ".join(k for k, _ in COLUMNS) + " |")
    print("|" + "---|" * len(COLUMNS))
    for r in results:
        print("| " + " | ".join(fmt.format(r[k]) for k, fmt in COLUMNS) + " |")
    by_mode = {r["mode"]: r for r in results}
    if "naive" in by_mode and "lean" in by_mode:
        ratio = by_mode["naive"]["core_pct_per_endpoint"] / max(1e-9, by_mode["lean"]["core_pct_per_endpoint"])
        print(f"ratio naive/lean CPU per call endpoint = {ratio:.2f}x (lean fits {ratio:.2f}x more calls per core)")
    for r in results:
        print(f"{r['mode']}: ~{100 / max(1e-9, r['core_pct_per_endpoint']):.0f} call endpoints per core at this load")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=50)
    parser.add_argument("--duration", type=float, default=20.0)
    parser.add_argument("--settle", type=float, default=3.0)
    parser.add_argument("--modes", default="naive,lean")
    parser.add_argument("--codec", default="opus", choices=["opus", "pcmu", "pcma"])
    parser.add_argument("--setup-concurrency", type=int, default=10)
    parser.add_argument("--stats-interval", type=float, default=2.0)
    parser.add_argument("--no-uvloop", action="store_true")
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--mode", default="lean", help=argparse.SUPPRESS)
    args = parser.parse_args()
    loop = new_loop(not args.no_uvloop)
    asyncio.set_event_loop(loop)
    if args.serve:
        loop.run_until_complete(serve(args.mode == "lean"))
    else:
        loop.run_until_complete(main_async(args))


if __name__ == "__main__":
    main()
