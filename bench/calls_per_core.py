"""Concurrent two-way calls per core: naive aiortc, the lean path and the media engine, in the same run.

Two processes on loopback: this one (the generator: N CallMedia, LeanCallMedia or EngineCallMedia
offerers sending a 440 Hz tone) and a child (the emulator side: N echo MediaEndpoint, LeanMediaEndpoint or
EngineMediaEndpoint answerers).
SDP goes over a private JSON-lines TCP socket so only media cost is measured. For each mode: set up N
calls (bounded concurrency), settle, then a measured window of CPU% per process (psutil, all
threads, 100 = one core), loop lag p99 (rtcload.loadgen.health probe), send-interval p99 (gap
between a track's consecutive sends), loss and jitter from getStats, and packets received vs the
50/s expected (self-induced shortfall). Bounded: N calls, one window of --duration seconds.
Engine mode: loss/jitter come from the engine's own RFC 3550 counters (the same MediaStats), the send
interval is timed at the socket for one stream in ten, and the engine's tick lateness is reported for
both processes. --calls takes one count for every mode or one per mode (naive cannot carry hundreds).

    python bench/calls_per_core.py --calls 50 --duration 20 --modes naive,lean --codec opus
    python bench/calls_per_core.py --modes naive,lean,engine --calls 25,100,400 --duration 15
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import time
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import psutil

from bench._common import Child, CpuWindow, GcPauses, LagProbe, Rpc, new_loop, pct, runqueue_wait_s, serve_rpc
from bench.engine_floor import PACKETS_PER_S, floor_costs, micro
from rtcload.emulator.playout import DEFAULT_ECHO_PLAYOUT_S, parse_playout
from rtcload.media.encoded import SEND_GAPS
from rtcload.media.endpoint import MediaEndpoint
from rtcload.media.engine.call_media import EngineCallMedia, EngineMediaEndpoint
from rtcload.media.engine.clock import SEND_LATENESS
from rtcload.media.engine.engine import engine_for
from rtcload.media.engine.native import ENV_SWITCH, NativeEngineStream, native_path
from rtcload.media.lean import LeanCallMedia, LeanMediaEndpoint
from rtcload.media.loopback import use_loopback_only
from rtcload.media.media_settings import MediaSettings
from rtcload.media.peer import CallMedia
from rtcload.media.session import AudioSession
from rtcload.media.stats import sample_stats

EXPECTED_PPS = 50.0


# ---------------------------------------------------------------- answerer (child process)
class TickTimer:
    """Engine mode: how long each tick of this process' engine takes (the send burst of every stream)."""

    def __init__(self) -> None:
        self.durations: list[float] = []  # wall time, preemption by other load included
        self.cpu_durations: list[float] = []  # CPU time of the loop thread during the tick
        self._wrapped = False

    def attach(self) -> None:
        engine = engine_for(asyncio.get_running_loop())
        if self._wrapped:
            return
        self._wrapped = True
        original = engine.clock._on_tick
        durations = self.durations

        cpu_durations = self.cpu_durations

        def timed(elapsed: int, send: int) -> None:
            started, started_cpu = time.perf_counter(), time.thread_time()
            original(elapsed, send)
            durations.append(time.perf_counter() - started)
            cpu_durations.append(time.thread_time() - started_cpu)

        engine.clock._on_tick = timed


ENDPOINTS = {
    "naive": MediaEndpoint,
    "lean": LeanMediaEndpoint,
    "engine": EngineMediaEndpoint,
    "engine-py": EngineMediaEndpoint,
}
CALLS = {"naive": CallMedia, "lean": LeanCallMedia, "engine": EngineCallMedia, "engine-py": EngineCallMedia}
ENGINE_MODES = ("engine", "engine-py")  # engine-py: the pure-Python per-packet path (RTCLOAD_ENGINE_NATIVE=0)
SEND_SAMPLE_EVERY = 10  # engine mode: one stream in ten has its socket sends timed


async def serve(mode: str, playout_s: float = 0.0) -> None:
    use_loopback_only()
    endpoints: list[AudioSession] = []
    cpu = CpuWindow(psutil.Process())
    lag = LagProbe()
    lag.start()
    rss_start = psutil.Process().memory_info().rss
    gc_pauses = GcPauses()
    ticks = TickTimer()
    wait_start = 0.0
    wall_start = 0.0

    async def handle(req: dict[str, Any]) -> dict[str, Any]:
        nonlocal rss_start, wait_start, wall_start
        op = req["op"]
        if op == "offer":
            endpoint: AudioSession = (
                EngineMediaEndpoint("echo", playout_s=playout_s) if mode in ENGINE_MODES else ENDPOINTS[mode]("echo")
            )
            endpoints.append(endpoint)
            return {"sdp": await endpoint.accept_offer(req["sdp"])}
        if op == "rss_start":
            rss_start = psutil.Process().memory_info().rss
            return {}
        if op == "window_start":
            cpu.start()
            wait_start, wall_start = runqueue_wait_s(), time.monotonic()
            lag.reset()
            SEND_LATENESS.samples.clear()
            gc_pauses.reset()
            if mode in ENGINE_MODES and req.get("tick_timer", True):
                ticks.attach()
            ticks.durations.clear()
            ticks.cpu_durations.clear()
            return {}
        if op == "window_end":
            return {
                **gc_pauses.summary(),
                "runq_wait_pct": 100 * (runqueue_wait_s() - wait_start) / max(1e-9, time.monotonic() - wall_start),
                "tick_p99_ms": 1000 * pct(ticks.durations, 0.99),
                "tick_cpu_p99_ms": 1000 * pct(ticks.cpu_durations, 0.99),
                "cpu": cpu.percent(),
                "lag_p99_ms": lag.p99_ms(),
                "tick_late_p99_ms": 1000 * SEND_LATENESS.p99(whole=True),
                "threads": psutil.Process().num_threads(),
                "rss_mb_per_call": (psutil.Process().memory_info().rss - rss_start) / 2**20 / max(1, len(endpoints)),
            }
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


class TimedLink:
    """Engine mode: stands in for one stream's Link and times its RTP sends (RTCP is not on the 20 ms clock)."""

    def __init__(self, link: Any, gaps: list[float]) -> None:
        self._link = link
        self._gaps = gaps
        self._last: float | None = None

    def send(self, data: bytes) -> None:
        if not 191 < data[1] < 224:
            now = time.monotonic()
            if self._last is not None:
                self._gaps.append(now - self._last)
            self._last = now
        self._link.send(data)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._link, name)


def start_profilers(args: argparse.Namespace, mode: str, child_pid: int) -> list[subprocess.Popen[bytes]]:
    """py-spy on both processes for the measured window (collapsed stacks; bench/profile_summary.py reads them)."""
    procs = []
    for side, pid in (("gen", os.getpid()), ("emu", child_pid)):
        out = f"{args.profile}-{mode}-{side}.txt"
        cmd = ["py-spy", "record", "--pid", str(pid), "--duration", str(int(args.duration)), "--rate", "200"]
        # --native has to pause the process to unwind C frames; Python-only sampling does not
        cmd += ["--format", "raw", "--output", out] + (["--native"] if args.profile_native else ["--nonblocking"])
        procs.append(subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
    return procs


async def media_stats(call: Any) -> Any:
    """Engine calls count RTP themselves (aiortc's getStats sees nothing once the engine took over)."""
    return call.engine_stats() if isinstance(call, EngineCallMedia) else await sample_stats(call.pc)


def python_engine(on: bool) -> None:
    """engine-py: switch the engine's C path off in this process and the child it starts."""
    if on:
        os.environ[ENV_SWITCH] = "0"
    else:
        os.environ.pop(ENV_SWITCH, None)


async def run_mode(mode: str, n_calls: int, args: argparse.Namespace, playout: str = "0") -> dict[str, Any]:
    lean = mode == "lean"
    engine = mode in ENGINE_MODES
    python_engine(mode == "engine-py")  # both processes: the child inherits the environment
    serve_args = ["--serve", "--mode", mode, "--echo-playout", playout] + (["--no-uvloop"] if args.no_uvloop else [])
    child = Child([os.path.abspath(__file__), *serve_args])
    rpcs = [await Rpc.open(child.port) for _ in range(args.setup_concurrency)]
    await rpcs[0].call(op="rss_start")
    naive_gaps: list[float] = []
    engine_gaps: list[float] = []
    calls: list[CallMedia] = []
    setup_s: list[float] = []
    lag = LagProbe()
    lag.start()
    gen_cpu = CpuWindow(psutil.Process())
    gc_pauses = GcPauses()
    ticks = TickTimer()
    rss_before = psutil.Process().memory_info().rss
    try:
        queue: asyncio.Queue[int] = asyncio.Queue()
        for i in range(n_calls):
            queue.put_nowait(i)

        async def worker(rpc: Rpc) -> None:
            while not queue.empty():
                queue.get_nowait()
                started = time.monotonic()
                media = CALLS[mode](
                    "tone:440", settings=MediaSettings(codec=args.codec, stats_interval_s=args.stats_interval)
                )
                if mode == "naive":
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
        timed_native: list[NativeEngineStream] = []
        if engine:
            for c in calls[::SEND_SAMPLE_EVERY]:
                stream = getattr(c, "stream", None)
                if isinstance(stream, NativeEngineStream):
                    stream.time_sends(int(60 * (args.duration + 10)))  # timed in C at the sendto, send thread
                    timed_native.append(stream)
                elif stream is not None:
                    stream.link = TimedLink(stream.link, engine_gaps)
        before = {id(c): await media_stats(c) for c in calls}
        if engine and not args.profile:  # profiles show the engine alone, without the bench's tick wrapper
            ticks.attach()
        ticks.durations.clear()
        ticks.cpu_durations.clear()
        gc_pauses.reset()
        SEND_GAPS.samples.clear()
        SEND_LATENESS.samples.clear()
        naive_gaps.clear()
        engine_gaps.clear()
        for stream in timed_native:
            stream.send_intervals()  # from the window's start only
        lag.reset()
        await rpcs[0].call(op="window_start", tick_timer=not args.profile)
        profilers = start_profilers(args, mode, child.pid) if args.profile else []
        gen_cpu.start()
        gen_wait_start = runqueue_wait_s()
        window_start = time.monotonic()
        await asyncio.sleep(args.duration)
        cpu_gen = gen_cpu.percent()
        window = time.monotonic() - window_start
        gen_wait_pct = 100 * (runqueue_wait_s() - gen_wait_start) / window
        emu = await rpcs[0].call(op="window_end")
        for profiler in profilers:
            profiler.wait(30)
        gen_lag = lag.p99_ms()
        tick_late_p99_ms = 1000 * SEND_LATENESS.p99(whole=True)
        gen_gc = gc_pauses.summary()
        for stream in timed_native:
            engine_gaps.extend(stream.send_intervals())
        gaps = [g for _, g in SEND_GAPS.samples] if lean else list(engine_gaps) if engine else list(naive_gaps)
        after = {id(c): await media_stats(c) for c in calls}
        rss_after = psutil.Process().memory_info().rss
        received = sum(after[k].packets_received - before[k].packets_received for k in after)
        lost = sum(after[k].packets_lost - before[k].packets_lost for k in after)
        remote_lost = sum((after[k].remote_packets_lost or 0) - (before[k].remote_packets_lost or 0) for k in after)
        jitters = [1000 * s.jitter_s for s in after.values() if s.jitter_s is not None]
        rtts = [1000 * s.rtt_s for s in after.values() if s.rtt_s is not None]
        expected = EXPECTED_PPS * window * len(calls)
        connected = sum(1 for c in calls if c.connected.is_set())
        per_endpoint = (cpu_gen + emu["cpu"]) / 2 / max(1, connected)
        return {
            "mode": mode,
            "path": native_path() if engine else "-",
            "playout_ms": 1000 * parse_playout(playout) if engine else 0.0,
            "codec": args.codec,
            "calls": n_calls,
            "connected": connected,
            "setup_p50_ms": 1000 * pct(setup_s, 0.5),
            "setups_per_s": len(setup_s) / setup_wall if setup_wall else 0.0,
            "cpu_gen": cpu_gen,
            "cpu_emu": emu["cpu"],
            "gen_runq_wait_pct": gen_wait_pct,
            "emu_runq_wait_pct": emu["runq_wait_pct"],
            "core_pct_per_endpoint": per_endpoint,
            "gen_endpoints_per_core": 100 * connected / max(1e-9, cpu_gen),
            "emu_endpoints_per_core": 100 * connected / max(1e-9, emu["cpu"]),
            "gen_lag_p99_ms": gen_lag,
            "gen_tick_late_p99_ms": tick_late_p99_ms if engine else float("nan"),
            "emu_tick_late_p99_ms": emu["tick_late_p99_ms"] if engine else float("nan"),
            "gen_tick_p99_ms": 1000 * pct(ticks.durations, 0.99) if engine else float("nan"),
            "emu_tick_p99_ms": emu["tick_p99_ms"] if engine else float("nan"),
            "gen_tick_cpu_p99_ms": 1000 * pct(ticks.cpu_durations, 0.99) if engine else float("nan"),
            "emu_tick_cpu_p99_ms": emu["tick_cpu_p99_ms"] if engine else float("nan"),
            "gen_gc_full": gen_gc["gc_full"],
            "gen_gc_max_ms": gen_gc["gc_max_ms"],
            "emu_gc_max_ms": emu["gc_max_ms"],
            "emu_lag_p99_ms": emu["lag_p99_ms"],
            "send_p50_ms": 1000 * pct(gaps, 0.5),
            "send_p99_ms": 1000 * pct(gaps, 0.99),
            "send_gap_max_ms": 1000 * max(gaps, default=0.0),
            "send_gaps_over_30ms": sum(1 for g in gaps if g > 0.030),
            # mean |interval - 20 ms|: what the sender's own timing alone adds to the RFC 3550 jitter (~E|D|)
            "send_mad_ms": 1000 * sum(abs(g - 0.02) for g in gaps) / len(gaps) if gaps else float("nan"),
            "rx_loss_pct": 100 * lost / max(1, received + lost),
            "remote_loss_pct": 100 * remote_lost / max(1, received + lost),
            "rx_shortfall_pct": 100 * (1 - received / expected) if expected else 0.0,
            "jitter_p50_ms": pct(jitters, 0.5),
            "jitter_p99_ms": pct(jitters, 0.99),
            "rtt_p50_ms": pct(rtts, 0.5),
            "threads_gen": psutil.Process().num_threads(),
            "threads_emu": emu["threads"],
            "rss_mb_per_call": (rss_after - rss_before) / 2**20 / max(1, len(calls)),
            "emu_rss_mb_per_call": emu["rss_mb_per_call"],
        }
    finally:
        gc_pauses.uninstall()
        lag.stop()
        await asyncio.gather(*(c.close() for c in calls), return_exceptions=True)
        await rpcs[0].call(op="close")
        for rpc in rpcs:
            await rpc.close()
        child.stop()


COLUMNS = [
    ("mode", "{}"),
    ("path", "{}"),
    ("playout_ms", "{:.0f}"),
    ("load1", "{:.1f}"),
    ("codec", "{}"),
    ("connected", "{}"),
    ("setup_p50_ms", "{:.0f}"),
    ("cpu_gen", "{:.1f}"),
    ("cpu_emu", "{:.1f}"),
    ("gen_runq_wait_pct", "{:.0f}"),
    ("emu_runq_wait_pct", "{:.0f}"),
    ("core_pct_per_endpoint", "{:.2f}"),
    ("gen_endpoints_per_core", "{:.0f}"),
    ("emu_endpoints_per_core", "{:.0f}"),
    ("gen_lag_p99_ms", "{:.1f}"),
    ("emu_lag_p99_ms", "{:.1f}"),
    ("gen_tick_late_p99_ms", "{:.1f}"),
    ("emu_tick_late_p99_ms", "{:.1f}"),
    ("gen_tick_p99_ms", "{:.1f}"),
    ("emu_tick_p99_ms", "{:.1f}"),
    ("gen_tick_cpu_p99_ms", "{:.1f}"),
    ("emu_tick_cpu_p99_ms", "{:.1f}"),
    ("gen_gc_full", "{}"),
    ("gen_gc_max_ms", "{:.1f}"),
    ("emu_gc_max_ms", "{:.1f}"),
    ("send_p50_ms", "{:.1f}"),
    ("send_p99_ms", "{:.1f}"),
    ("send_gap_max_ms", "{:.1f}"),
    ("send_gaps_over_30ms", "{:.0f}"),
    ("send_mad_ms", "{:.2f}"),
    ("rx_loss_pct", "{:.3f}"),
    ("remote_loss_pct", "{:.3f}"),
    ("rx_shortfall_pct", "{:.2f}"),
    ("jitter_p50_ms", "{:.2f}"),
    ("jitter_p99_ms", "{:.2f}"),
    ("rtt_p50_ms", "{:.1f}"),
    ("setups_per_s", "{:.0f}"),
    ("threads_gen", "{}"),
    ("threads_emu", "{}"),
    ("rss_mb_per_call", "{:.2f}"),
    ("emu_rss_mb_per_call", "{:.2f}"),
]


async def main_async(args: argparse.Namespace) -> None:
    use_loopback_only()
    floor_us = statistics.median(floor_costs(micro(5000, 160, loop_costs=False))[2] for _ in range(3)) * 1e6 / 100
    floor_pct = floor_us * PACKETS_PER_S * 2 / 1e4  # % of a core per call endpoint at the floor
    print(
        f"floor in this run (bench/engine_floor.py micro, median of 3): {floor_us:.1f} us per packet operation = "
        f"{floor_pct:.3f} % core per call endpoint = ~{100 / floor_pct:.0f} endpoints per core",
        flush=True,
    )
    results = []
    modes = args.modes.split(",")
    counts = [int(c) for c in str(args.calls).split(",")]
    if len(counts) == 1:
        counts *= len(modes)
    if len(counts) != len(modes):
        raise SystemExit(f"--calls needs one count or one per mode ({len(modes)}), got {args.calls}")
    playouts = args.echo_playout.split(",")
    if len(playouts) == 1:
        playouts *= len(modes)
    if len(playouts) != len(modes):
        raise SystemExit(f"--echo-playout needs one value or one per mode ({len(modes)}), got {args.echo_playout}")
    for mode, n_calls, playout in zip(modes, counts, playouts, strict=True):
        runs = []
        for _ in range(args.repeat):
            load_before = os.getloadavg()[0]
            result = await run_mode(mode, n_calls, args, playout)
            result["load1"] = max(load_before, os.getloadavg()[0])
            runs.append(result)
            print(" ".join(f"{k}={fmt.format(result[k])}" for k, fmt in COLUMNS), flush=True)
        results.append(runs[0] if len(runs) == 1 else median_row(runs))
    print("| " + " | ".join(k for k, _ in COLUMNS) + " |")
    print("|" + "---|" * len(COLUMNS))
    for r in results:
        print("| " + " | ".join(fmt.format(r[k]) for k, fmt in COLUMNS) + " |")
    if args.repeat > 1:
        print(f"(each row: median of {args.repeat} runs per field)")
    by_mode = {(r["mode"], r["calls"]): r for r in results}  # ratios only between runs of the same call count
    for slow, fast in (("naive", "lean"), ("naive", "engine"), ("lean", "engine"), ("engine-py", "engine")):
        for (mode, n_calls), r in by_mode.items():
            other = by_mode.get((fast, n_calls))
            if mode == slow and other is not None:
                ratio = r["core_pct_per_endpoint"] / max(1e-9, other["core_pct_per_endpoint"])
                print(
                    f"ratio {slow}/{fast} CPU per call endpoint at {n_calls} calls = {ratio:.2f}x "
                    f"({fast} fits {ratio:.2f}x more calls/core)"
                )
    for r in results:
        print(
            f"{r['mode']} x{r['calls']}: ~{100 / max(1e-9, r['core_pct_per_endpoint']):.0f} call endpoints per core "
            f"at this load, {r['core_pct_per_endpoint'] / floor_pct:.1f}x the floor measured in this run"
        )


def median_row(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Field-by-field median of repeated runs (numbers), first run's value for text fields."""
    row = dict(runs[0])
    for key, value in runs[0].items():
        if isinstance(value, int) and not isinstance(value, bool):
            row[key] = statistics.median_low(r[key] for r in runs)
        elif isinstance(value, float):
            row[key] = statistics.median(r[key] for r in runs)
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", default="50", help="calls for every mode, or one count per mode: 25,100,400")
    parser.add_argument("--duration", type=float, default=20.0)
    parser.add_argument("--settle", type=float, default=3.0)
    parser.add_argument("--repeat", type=int, default=1, help="runs per mode; the table shows each field's median")
    parser.add_argument(
        "--modes", default="naive,lean", help="any of naive,lean,engine,engine-py (the engine without its C path)"
    )
    parser.add_argument("--codec", default="opus", choices=["opus", "pcmu", "pcma"])
    parser.add_argument("--setup-concurrency", type=int, default=10)
    parser.add_argument("--stats-interval", type=float, default=2.0)
    parser.add_argument("--no-uvloop", action="store_true")
    parser.add_argument("--profile", default="", help="py-spy both processes in the window: PREFIX-mode-gen/emu.txt")
    parser.add_argument("--profile-native", action="store_true", help="include native (C) frames in the profile")
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--mode", default="lean", help=argparse.SUPPRESS)
    parser.add_argument(
        "--echo-playout",
        default=f"{DEFAULT_ECHO_PLAYOUT_S * 1000:g}ms",
        help="the engine echo's playout delay (the emulator's default), or one per mode: 60ms,0 (0: forward at once)",
    )
    args = parser.parse_args()
    loop = new_loop(not args.no_uvloop)
    asyncio.set_event_loop(loop)
    if args.serve:
        loop.run_until_complete(serve(args.mode, parse_playout(args.echo_playout)))
    else:
        loop.run_until_complete(main_async(args))


if __name__ == "__main__":
    main()
