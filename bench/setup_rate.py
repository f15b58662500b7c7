"""Call setup rate, CPU per setup on both sides, and what a ramp of setups does to the engine's 20 ms clock.

Two processes on loopback: this one (the generator: offerers, CallMedia / LeanCallMedia / EngineCallMedia with a
440 Hz tone) and a child (the emulator side: echo answerers of the same path). SDP goes over a private
JSON-lines socket, so what is measured is aiortc's negotiation (offer/answer, ICE gathering and checks, DTLS
handshake) and the media start. For each variant, in fresh processes:

1. Churn (`--churn`): calls set up and hung up at both ends as soon as they connect, nothing else running:
   CPU per call of each process = the setup + teardown cost alone (no media to subtract), run-queue wait.
2. `--background` calls are set up and left running; a quiet window (`--quiet` s) measures the engine clock's
   tick lateness (rtcload.media.engine.clock.SEND_LATENESS) and the CPU the running media costs.
3. A ramp of `--calls` more calls at `--concurrency`: setups/s, setup latency p50/p99, CPU of each process,
   its run-queue wait (time runnable but not running: other load on the machine), the tick lateness and the
   longest garbage-collection pause of each process during the ramp. "Setups per core-second" here is the
   ramp's setups over the CPU-seconds the process used, media of the calls already up included (what a
   ramping generator really has).
4. A second quiet window with every call up: media CPU per call, memory per call.
5. Every call hung up at once at both ends: teardown CPU per call (the churn's cost minus this = setup alone).

Variants (`--variants`, each run `--repeat` times, interleaved, medians printed):
  new          this tree, its defaults (one DTLS certificate per process)
  per-call     this tree with RTCLOAD_DTLS_CERTIFICATE=per-call (aiortc's certificate per peer connection)
  tree:PATH    another checkout of rtcload (e.g. `git archive <commit> | tar -x -C PATH`): the baseline code
Bounded: background + calls per run, --timeout seconds per ramp.
Setups + hang-ups with 500 calls' media up (the issue-21 target), their media during the burst and a 0-up
baseline: bench/setup_burst.py.

    python bench/setup_rate.py --calls 200 --background 50 --concurrency 20 --variants new,per-call,tree:/tmp/base
    python bench/setup_rate.py --calls 100 --concurrency 20 --modes naive,lean,engine --background 0
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import statistics
import subprocess
import sys
import time
from typing import Any

import _tree  # noqa: F401  (--tree PATH, or this checkout, first on sys.path)
import psutil

from bench._common import Child, CpuWindow, GcPauses, Rpc, call_media, new_loop, pct, runqueue_wait_s, serve_rpc
from rtcload.media.endpoint import MediaEndpoint
from rtcload.media.engine.call_media import EngineCallMedia, EngineMediaEndpoint
from rtcload.media.engine.clock import SEND_LATENESS
from rtcload.media.lean import LeanCallMedia, LeanMediaEndpoint
from rtcload.media.loopback import use_loopback_only
from rtcload.media.peer import CallMedia

CALLS: dict[str, type[CallMedia]] = {"naive": CallMedia, "lean": LeanCallMedia, "engine": EngineCallMedia}
ENDPOINTS: dict[str, type[MediaEndpoint]] = {
    "naive": MediaEndpoint,
    "lean": LeanMediaEndpoint,
    "engine": EngineMediaEndpoint,
}


class Window:
    """CPU, run-queue wait, tick lateness and GC pauses of this process over one measured window."""

    def __init__(self) -> None:
        self.cpu = CpuWindow(psutil.Process())
        self.gc = GcPauses()
        self.wait0 = 0.0
        self.wall0 = 0.0

    def start(self) -> None:
        self.cpu.start()
        self.wait0, self.wall0 = runqueue_wait_s(), time.monotonic()
        SEND_LATENESS.samples.clear()
        self.gc.reset()

    def end(self) -> dict[str, float]:
        wall = time.monotonic() - self.wall0
        late = sorted(lag for _, lag in list(SEND_LATENESS.samples))
        return {
            "cpu": self.cpu.percent(),
            "wall": wall,
            "runq_wait_pct": 100 * (runqueue_wait_s() - self.wait0) / max(1e-9, wall),
            "late_p50_ms": 1000 * pct(late, 0.5),
            "late_p99_ms": 1000 * pct(late, 0.99),
            "late_max_ms": 1000 * (late[-1] if late else 0.0),
            "ticks": len(late),
            "gc_max_ms": self.gc.max_ms(),
            "gc_full": self.gc.full(),
        }


# ---------------------------------------------------------------- emulator side (child process)
async def serve(mode: str) -> None:
    use_loopback_only()
    endpoints: dict[int, Any] = {}
    window = Window()

    async def handle(req: dict[str, Any]) -> dict[str, Any]:
        op = req["op"]
        if op == "offer":
            endpoint = ENDPOINTS[mode]("echo")
            endpoints[id(endpoint)] = endpoint
            return {"sdp": await endpoint.accept_offer(req["sdp"]), "id": id(endpoint)}
        if op == "hangup":
            await endpoints.pop(req["id"]).close()
            return {}
        if op == "window_start":
            window.start()
            return {}
        if op == "window_end":
            return window.end()
        if op == "rss":
            return {"rss": psutil.Process().memory_info().rss}
        if op == "close":
            await asyncio.gather(*(e.close() for e in endpoints.values()), return_exceptions=True)
            endpoints.clear()
            return {}
        return {"error": op}

    await serve_rpc(handle)
    await asyncio.Event().wait()


# ---------------------------------------------------------------- generator side (this process)
def memory() -> tuple[int, int]:
    info = psutil.Process().memory_full_info()
    return info.rss, info.uss


async def set_up(
    mode: str, count: int, rpcs: list[Rpc], args: argparse.Namespace, calls: list[CallMedia], hang_up: bool = False
) -> list[tuple[float, float]]:
    """Set up `count` calls through the RPC connections (one call in flight per connection): (started, connected).

    `hang_up`: each call is closed at both ends as soon as it connected (churn: setup + teardown, no media load).
    """
    remaining = [count]
    done: list[tuple[float, float]] = []

    async def worker(rpc: Rpc) -> None:
        while remaining[0] > 0:
            remaining[0] -= 1
            started = time.monotonic()
            media = call_media(CALLS[mode], codec=args.codec, stats_interval_s=2.0)
            calls.append(media)
            offer = await media.create_offer()
            answer = await rpc.call(op="offer", sdp=offer)
            await media.accept_answer(answer["sdp"])
            if await media.wait_connected(30):
                done.append((started, time.monotonic()))
            if hang_up:
                calls.remove(media)
                await media.close()
                await rpc.call(op="hangup", id=answer["id"])

    await asyncio.wait_for(asyncio.gather(*(worker(r) for r in rpcs)), args.timeout)
    return done


async def measured(rpc: Rpc, window: Window, seconds: float) -> tuple[dict[str, float], dict[str, float]]:
    await rpc.call(op="window_start")
    window.start()
    await asyncio.sleep(seconds)
    gen = window.end()
    return gen, await rpc.call(op="window_end")


async def run_variant(mode: str, args: argparse.Namespace) -> dict[str, Any]:
    child = Child([os.path.abspath(__file__), "--serve", "--mode", mode, *tree_args(args)])
    rpcs = [await Rpc.open(child.port) for _ in range(args.concurrency)]
    calls: list[CallMedia] = []
    window = Window()
    try:
        churn_gen, churn_emu, churned = {}, {}, []
        if args.churn:
            await set_up(mode, min(args.churn, 2 * args.concurrency), rpcs, args, calls, hang_up=True)  # warm-up
            await rpcs[0].call(op="window_start")
            window.start()
            churned = await set_up(mode, args.churn, rpcs, args, calls, hang_up=True)
            churn_gen = window.end()
            churn_emu = await rpcs[0].call(op="window_end")
        background = await set_up(mode, args.background, rpcs, args, calls)
        await asyncio.sleep(1.0)
        quiet_gen, quiet_emu = await measured(rpcs[0], window, args.quiet) if args.background else ({}, {})
        gc.collect()
        rss0, uss0 = memory()
        emu_rss0 = (await rpcs[0].call(op="rss"))["rss"]
        await rpcs[0].call(op="window_start")
        window.start()
        t0 = time.monotonic()
        ramp = await set_up(mode, args.calls, rpcs, args, calls)
        t1 = time.monotonic()
        ramp_gen = window.end()
        ramp_emu = await rpcs[0].call(op="window_end")
        await asyncio.sleep(1.0)
        after_gen, after_emu = await measured(rpcs[0], window, args.quiet)
        gc.collect()
        rss1, uss1 = memory()
        emu_rss1 = (await rpcs[0].call(op="rss"))["rss"]
        wall = t1 - t0
        up = len(background) + len(ramp)
        # teardown: every call hung up at both ends at once (the churn's CPU per call = setup + this)
        await rpcs[0].call(op="window_start")
        window.start()
        await asyncio.gather(*(c.close() for c in calls), return_exceptions=True)
        await rpcs[0].call(op="close")
        down_gen, down_emu = window.end(), await rpcs[0].call(op="window_end")
        closed, calls[:] = len(calls), []
        setups = [connected - started for started, connected in ramp]

        def churn_cpu_ms(w: dict[str, float]) -> float:
            return 1000 * w["cpu"] / 100 * w["wall"] / max(1, len(churned)) if churned else float("nan")

        return {
            "mode": mode,
            "churned": len(churned),
            "churn_setups_per_s": len(churned) / churn_gen["wall"] if churned else float("nan"),
            "churn_gen_cpu_ms": churn_cpu_ms(churn_gen),
            "churn_emu_cpu_ms": churn_cpu_ms(churn_emu),
            "churn_gen_runq_pct": churn_gen.get("runq_wait_pct", float("nan")),
            "churn_emu_runq_pct": churn_emu.get("runq_wait_pct", float("nan")),
            "background": len(background),
            "connected": len(ramp),
            "wall_s": wall,
            "setups_per_s": len(ramp) / wall,
            "setup_p50_ms": 1000 * pct(setups, 0.5),
            "setup_p99_ms": 1000 * pct(setups, 0.99),
            "cpu_gen": ramp_gen["cpu"],
            "cpu_emu": ramp_emu["cpu"],
            "gen_per_core_s": len(ramp) / max(1e-9, ramp_gen["cpu"] / 100 * ramp_gen["wall"]),
            "emu_per_core_s": len(ramp) / max(1e-9, ramp_emu["cpu"] / 100 * ramp_emu["wall"]),
            "gen_media_pct_per_call": after_gen["cpu"] / max(1, up),
            "emu_media_pct_per_call": after_emu["cpu"] / max(1, up),
            "gen_runq_pct": ramp_gen["runq_wait_pct"],
            "emu_runq_pct": ramp_emu["runq_wait_pct"],
            "quiet_gen": quiet_gen,
            "quiet_emu": quiet_emu,
            "ramp_gen": ramp_gen,
            "ramp_emu": ramp_emu,
            "load1": os.getloadavg()[0],
            "rss_mb_per_call": (rss1 - rss0) / 2**20 / max(1, len(ramp)),
            "uss_mb_per_call": (uss1 - uss0) / 2**20 / max(1, len(ramp)),
            "emu_rss_mb_per_call": (emu_rss1 - emu_rss0) / 2**20 / max(1, len(ramp)),
            "teardown_gen_cpu_ms": 1000 * down_gen["cpu"] / 100 * down_gen["wall"] / max(1, closed),
            "teardown_emu_cpu_ms": 1000 * down_emu["cpu"] / 100 * down_emu["wall"] / max(1, closed),
        }
    finally:
        await asyncio.gather(*(c.close() for c in calls), return_exceptions=True)
        await rpcs[0].call(op="close")
        for rpc in rpcs:
            await rpc.close()
        child.stop()


def tree_args(args: argparse.Namespace) -> list[str]:
    return ["--tree", args.tree] if args.tree else []


async def one_variant(args: argparse.Namespace) -> None:
    use_loopback_only()
    print("RESULT " + json.dumps(await run_variant(args.modes, args)), flush=True)


# ---------------------------------------------------------------- driver
def variant_process(variant: str, mode: str, args: argparse.Namespace) -> dict[str, Any]:
    """One variant in fresh processes: memory or caches of one must not help the next."""
    env = {k: v for k, v in os.environ.items() if k != "RTCLOAD_DTLS_CERTIFICATE"}
    argv = [sys.executable, os.path.abspath(__file__), "--one", "--modes", mode]
    if variant == "per-call":
        env["RTCLOAD_DTLS_CERTIFICATE"] = "per-call"
    elif variant.startswith("tree:"):
        argv += ["--tree", variant[5:]]
    elif variant != "new":
        raise SystemExit(f"unknown variant {variant!r}: new, per-call or tree:PATH")
    for name in ("calls", "background", "churn", "concurrency", "codec", "timeout", "quiet"):
        argv += [f"--{name}", str(getattr(args, name))]
    argv += ["--no-uvloop"] if args.no_uvloop else []
    out = subprocess.run(
        argv, capture_output=True, text=True, timeout=3 * args.timeout + 60, check=True, env=env
    ).stdout
    return json.loads(next(line for line in out.splitlines() if line.startswith("RESULT "))[7:])


def median_of(runs: list[dict[str, Any]]) -> dict[str, Any]:
    row = dict(runs[0])
    for key, value in runs[0].items():
        if isinstance(value, (int, float)):
            row[key] = statistics.median(r[key] for r in runs)
        elif isinstance(value, dict):
            row[key] = {k: statistics.median(r[key].get(k, 0.0) for r in runs) for k in value}
    return row


def print_row(label: str, r: dict[str, Any], n: int) -> None:
    rg, re_, qg, qe = r["ramp_gen"], r["ramp_emu"], r["quiet_gen"], r["quiet_emu"]
    if r["churned"]:
        print(
            f"{label} churn (setup + hang-up, nothing else running): {r['churned']:.0f} calls, "
            f"{r['churn_setups_per_s']:.0f}/s | CPU per call gen/emu {r['churn_gen_cpu_ms']:.2f}/"
            f"{r['churn_emu_cpu_ms']:.2f} ms = {1000 / max(1e-9, r['churn_gen_cpu_ms']):.0f}/"
            f"{1000 / max(1e-9, r['churn_emu_cpu_ms']):.0f} per core-s | runq wait gen/emu "
            f"{r['churn_gen_runq_pct']:.0f}/{r['churn_emu_runq_pct']:.0f} % | of which teardown "
            f"{r['teardown_gen_cpu_ms']:.2f}/{r['teardown_emu_cpu_ms']:.2f} ms: setup alone "
            f"{1000 / max(1e-9, r['churn_gen_cpu_ms'] - r['teardown_gen_cpu_ms']):.0f}/"
            f"{1000 / max(1e-9, r['churn_emu_cpu_ms'] - r['teardown_emu_cpu_ms']):.0f} per core-s",
            flush=True,
        )
    print(
        f"{label}: connected={r['connected']:.0f} (+{r['background']:.0f} up) wall={r['wall_s']:.2f}s "
        f"setups/s={r['setups_per_s']:.0f} setup p50/p99={r['setup_p50_ms']:.0f}/{r['setup_p99_ms']:.0f} ms | "
        f"CPU gen/emu {r['cpu_gen']:.0f}/{r['cpu_emu']:.0f} % | setups per core-s gen/emu "
        f"{r['gen_per_core_s']:.0f}/{r['emu_per_core_s']:.0f} (media of the calls up included) | runq wait gen/emu "
        f"{r['gen_runq_pct']:.0f}/{r['emu_runq_pct']:.0f} % | load1 {r['load1']:.1f}",
        flush=True,
    )
    if qg:
        print(
            f"    tick lateness p50/p99/max ms, gen: quiet {qg['late_p50_ms']:.2f}/{qg['late_p99_ms']:.2f}/"
            f"{qg['late_max_ms']:.1f} -> ramp {rg['late_p50_ms']:.2f}/{rg['late_p99_ms']:.2f}/{rg['late_max_ms']:.1f}; "
            f"emu: quiet {qe['late_p50_ms']:.2f}/{qe['late_p99_ms']:.2f}/{qe['late_max_ms']:.1f} -> ramp "
            f"{re_['late_p50_ms']:.2f}/{re_['late_p99_ms']:.2f}/{re_['late_max_ms']:.1f}",
            flush=True,
        )
    print(
        f"    GC during ramp gen/emu: longest pause {rg['gc_max_ms']:.1f}/{re_['gc_max_ms']:.1f} ms, full collections "
        f"{rg['gc_full']:.0f}/{re_['gc_full']:.0f} | media per call {r['gen_media_pct_per_call']:.2f}/"
        f"{r['emu_media_pct_per_call']:.2f} % core | RSS MB per call gen/emu {r['rss_mb_per_call']:.2f}/"
        f"{r['emu_rss_mb_per_call']:.2f} (n={n})",
        flush=True,
    )


def run_all(args: argparse.Namespace) -> None:
    variants = args.variants.split(",")
    modes = args.modes.split(",")
    runs: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for _ in range(args.repeat):
        for mode in modes:
            for variant in variants:
                runs.setdefault((mode, variant), []).append(variant_process(variant, mode, args))
    rows = {key: median_of(value) for key, value in runs.items()}
    for (mode, variant), row in rows.items():
        print_row(f"{mode} {variant}", row, len(runs[(mode, variant)]))
    for mode in modes:
        base = rows.get((mode, variants[-1]))
        for variant in variants[:-1]:
            row = rows[(mode, variant)]
            if base is None or row is base:
                continue
            if row["churned"] and base["churned"]:
                print(
                    f"ratio {mode} {variant} / {variants[-1]}: churn CPU per call gen "
                    f"{row['churn_gen_cpu_ms'] / max(1e-9, base['churn_gen_cpu_ms']):.2f}x emu "
                    f"{row['churn_emu_cpu_ms'] / max(1e-9, base['churn_emu_cpu_ms']):.2f}x",
                    flush=True,
                )
            print(
                f"ratio {mode} {variant} / {variants[-1]}: setups per core-s gen "
                f"{row['gen_per_core_s'] / max(1e-9, base['gen_per_core_s']):.2f}x emu "
                f"{row['emu_per_core_s'] / max(1e-9, base['emu_per_core_s']):.2f}x; tick lateness p99 in ramp gen "
                f"{row['ramp_gen']['late_p99_ms']:.2f} vs {base['ramp_gen']['late_p99_ms']:.2f} ms",
                flush=True,
            )
    if len(modes) > 1 and "naive" in modes:
        for mode in modes:
            if mode != "naive":
                fast, naive = rows[(mode, variants[0])], rows[("naive", variants[0])]
                print(f"ratio {mode}/naive: setups/s {fast['setups_per_s'] / max(1e-9, naive['setups_per_s']):.2f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=200, help="calls set up in the measured ramp")
    parser.add_argument("--background", type=int, default=50, help="calls up (media running) before the ramp")
    parser.add_argument(
        "--churn", type=int, default=200, help="first, this many setups each hung up at once (no media load; 0: skip)"
    )
    parser.add_argument("--concurrency", type=int, default=20)
    parser.add_argument("--quiet", type=float, default=3.0, help="seconds of each quiet window")
    parser.add_argument("--modes", default="engine", help="any of naive,lean,engine")
    parser.add_argument("--variants", default="new", help="new, per-call, tree:PATH (the last is the ratio's base)")
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--codec", default="opus", choices=["opus", "pcmu", "pcma"])
    parser.add_argument("--timeout", type=float, default=120.0)
    parser.add_argument("--no-uvloop", action="store_true")
    parser.add_argument("--tree", default="", help=argparse.SUPPRESS)
    parser.add_argument("--one", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--mode", default="engine", help=argparse.SUPPRESS)
    args = parser.parse_args()
    loop = new_loop(not args.no_uvloop)
    asyncio.set_event_loop(loop)
    if args.serve:
        loop.run_until_complete(serve(args.mode))
    elif args.one:
        loop.run_until_complete(one_variant(args))
    else:
        run_all(args)


if __name__ == "__main__":
    main()
