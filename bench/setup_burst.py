"""Setups + hang-ups per core-second while N calls' media runs, and what the burst does to that media.

The issue-21 target: ">= 200 setups + hang-ups per core-second with 500 calls' media up, not only on an idle
machine". Two processes on loopback, as bench/setup_rate.py: this one is the generator (EngineCallMedia
offerers, a 440 Hz tone), a child is the emulator side (EngineMediaEndpoint echo answerers with the
embedded emulator's 60 ms echo playout). SDP goes over a private JSON-lines socket, so what is measured is
the whole media setup and teardown of both ends: offer/answer, ICE gathering and checks, DTLS handshake,
SRTP keys, the engine taking the call over, and the close.

Per run (fresh processes):
1. warm-up: 2 x concurrency setups + hang-ups (a process' first gather and imports are not counted);
2. `--background` calls set up and left running (their media on the engine's send thread), settle;
3. quiet window (`--quiet` s): the CPU time the running media costs each process (its rate is what the
   burst's "net" figures subtract), the background streams' send intervals and echo jitter;
4. the burst: `--burst` calls, each set up and at once hung up at both ends, `--concurrency` in flight.
   Process CPU time (user + system, every thread: the send thread included) of each process over the
   burst, setup latency (offer created -> ICE+DTLS connected), and the background calls' media during it.
Every run is repeated with 0 background calls (the same burst on an idle engine): the baseline, and the
ratio of the two.

"Per core-second" (CPU time, not wall: the machine may be shared; run-queue wait is printed beside it):
- the headline, net of the media: the burst's calls over the CPU-seconds the event-loop thread spent on
  them, i.e. its CPU during the burst less its media share, taken as the quiet window's loop CPU per RTP
  packet received times the packets received during the burst (the send thread is media: left out). Not
  printed (NaN) when a process waited for a CPU more than STARVED_PCT of the burst: a backlog makes each
  packet cheaper, so the quiet rate no longer says what the media cost;
- the whole process (every thread, media included) over the burst, and that less the quiet window's
  CPU rate times the burst's wall time (NaN when starved, as above).

Background media during the burst, from both sides:
- generator send intervals (timed in C at the sendto, one stream in `--sample-every`) p99 / max, and the
  count of gaps over 30 ms on every background stream (the C send-gap counters);
- the emulator's echo: the same counters on its streams;
- self-jitter: the RFC 3550 jitter the generator measures on each background call's echo (kernel receive
  stamps), its largest value per call over the window, p50 / p99 over the calls.
A fast setup that stalls the media shows here.

    python bench/setup_burst.py --background 500 --burst 300 --concurrency 20 --codec pcmu --repeat 2

Bounded: background + burst calls per run, --timeout s per phase, loopback only.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import time
from typing import Any

import _tree  # noqa: F401  (--tree PATH, or this checkout, first on sys.path)
import psutil

from bench._common import (
    Child,
    GcPauses,
    LagProbe,
    Rpc,
    call_media,
    new_loop,
    pct,
    runqueue_wait_s,
    serve_rpc,
)
from rtcload.emulator.playout import DEFAULT_ECHO_PLAYOUT_S, parse_playout
from rtcload.media.engine.call_media import EngineCallMedia, EngineMediaEndpoint
from rtcload.media.engine.engine import engine_for
from rtcload.media.engine.native import NativeEngineStream
from rtcload.media.loopback import use_loopback_only

JITTER_POLL_S = 0.25
CALL_TIMEOUT_S = 60.0
STARVED_PCT = 40.0  # run-queue wait (% of the burst's wall time) above which "net of media" is not printed


def cpu_s() -> float:
    """CPU time of this process so far (user + system, all threads)."""
    times = psutil.Process().cpu_times()
    return times.user + times.system


def loop_thread_cpu_s() -> float:
    """CPU time of this process' main thread (the event loop: setups, receive callbacks, RTCP)."""
    pid = os.getpid()
    return next((t.user_time + t.system_time for t in psutil.Process().threads() if t.id == pid), 0.0)


class Window:
    """CPU time (all threads; the loop thread alone), run-queue wait, GC pauses and the send thread's
    stalls (ticks that found whole 20 ms periods missed) of this process over one window."""

    def __init__(self) -> None:
        self.gc = GcPauses()
        self.lag = LagProbe(0.01)  # the event loop's own lateness: what delays a forward on the loop
        self.cpu0 = self.loop0 = self.wait0 = self.wall0 = 0.0
        self.stalls0 = 0

    def start(self) -> None:
        if self.lag._task is None:
            self.lag.start()
        self.lag.reset()
        self.gc.reset()
        self.stalls0 = self._sender_stalls()
        self.cpu0, self.loop0 = cpu_s(), loop_thread_cpu_s()
        self.wait0, self.wall0 = runqueue_wait_s(), time.monotonic()

    @staticmethod
    def _sender() -> Any:
        return engine_for(asyncio.get_running_loop()).sender

    def _sender_stalls(self) -> int:
        sender = self._sender()
        return int(sender.stalls) if sender is not None else 0

    def end(self) -> dict[str, float]:
        wall = time.monotonic() - self.wall0
        sender = self._sender()
        return {
            "cpu_s": cpu_s() - self.cpu0,
            "loop_cpu_s": loop_thread_cpu_s() - self.loop0,
            "wall_s": wall,
            "runq_pct": 100 * (runqueue_wait_s() - self.wait0) / max(1e-9, wall),
            "gc_max_ms": self.gc.max_ms(),
            "lag_p99_ms": self.lag.p99_ms(),
            "lag_max_ms": 1000 * max((lag for _, lag in list(self.lag.window.samples)), default=0.0),
            "sender_stalls": self._sender_stalls() - self.stalls0,
            "sender_realtime": float(bool(sender is not None and sender.realtime)),
        }


def native_streams(sessions: list[Any]) -> list[NativeEngineStream]:
    return [s.stream for s in sessions if isinstance(getattr(s, "stream", None), NativeEngineStream)]


class StreamWatch:
    """Send timing of a set of running streams over a window: intervals of a sample, gaps over 30 ms of all."""

    def __init__(self, streams: list[NativeEngineStream], sample_every: int, seconds: float) -> None:
        self.streams = streams
        self.sampled = streams[::sample_every]
        for stream in self.sampled:
            stream.time_sends(int(60 * seconds) + 200)
        self.over0: dict[int, int] = {}
        self.packets0 = 0

    def start(self) -> None:
        for stream in self.sampled:
            stream.send_intervals()  # from the window's start only
        self.over0 = {id(s): s.send_timing().gaps_over for s in self.streams}
        self.packets0 = sum(s.nrx.packets for s in self.streams)

    def end(self) -> dict[str, float]:
        intervals = [g for stream in self.sampled for g in stream.send_intervals()]
        over = [s.send_timing().gaps_over - self.over0.get(id(s), 0) for s in self.streams]
        return {
            "packets": sum(s.nrx.packets for s in self.streams) - self.packets0,  # RTP received (the loop's media)
            "streams": len(self.streams),
            "send_p99_ms": 1000 * pct(intervals, 0.99),
            "send_max_ms": 1000 * max(intervals, default=0.0),
            "gaps_over_30ms": sum(over),
            "streams_with_gaps": sum(1 for n in over if n > 0),
        }


# ---------------------------------------------------------------- emulator side (child process)
async def serve(playout_s: float) -> None:
    use_loopback_only()
    endpoints: dict[int, EngineMediaEndpoint] = {}
    window = Window()
    watch: list[StreamWatch] = []

    async def handle(req: dict[str, Any]) -> dict[str, Any]:
        op = req["op"]
        if op == "offer":
            endpoint = EngineMediaEndpoint("echo", playout_s=playout_s)
            endpoints[id(endpoint)] = endpoint
            return {"sdp": await endpoint.accept_offer(req["sdp"]), "id": id(endpoint)}
        if op == "hangup":
            await endpoints.pop(req["id"]).close()
            return {}
        if op == "watch":  # the calls up now are the background: time their echo sends
            watch[:] = [StreamWatch(native_streams(list(endpoints.values())), req["every"], req["seconds"])]
            return {"streams": len(watch[0].streams)}
        if op == "window_start":
            for w in watch:
                w.start()
            window.start()
            return {}
        if op == "window_end":
            return {**window.end(), **(watch[0].end() if watch else {})}
        if op == "close":
            await asyncio.gather(*(e.close() for e in endpoints.values()), return_exceptions=True)
            endpoints.clear()
            return {}
        return {"error": op}

    await serve_rpc(handle)
    await asyncio.Event().wait()


# ---------------------------------------------------------------- generator side (this process)
async def calls(
    count: int, rpcs: list[Rpc], args: argparse.Namespace, up: list[EngineCallMedia], hang_up: bool
) -> tuple[list[float], int]:
    """`count` calls through the RPC connections, one in flight per connection: setup latencies (s) of the
    connected ones, and how many failed. `hang_up`: each is closed at both ends as soon as it connected."""
    remaining = [count]
    setups: list[float] = []
    failed = [0]

    async def one_call(rpc: Rpc) -> None:
        started = time.monotonic()
        media = call_media(EngineCallMedia, codec=args.codec, stats_interval_s=2.0)
        offer = await media.create_offer()
        answer = await rpc.call(op="offer", sdp=offer)
        await media.accept_answer(answer["sdp"])
        if await media.wait_connected(30):
            setups.append(time.monotonic() - started)
        else:
            failed[0] += 1
        if hang_up:
            await media.close()
            await rpc.call(op="hangup", id=answer["id"])
        else:
            up.append(media)

    async def worker(rpc: Rpc) -> None:
        while remaining[0] > 0:
            remaining[0] -= 1
            await asyncio.wait_for(one_call(rpc), CALL_TIMEOUT_S)  # a stuck call fails the run, it never hangs

    await asyncio.wait_for(asyncio.gather(*(worker(r) for r in rpcs)), args.timeout)
    return setups, failed[0]


async def jitter_max(background: list[EngineCallMedia], stop: asyncio.Event) -> list[float]:
    """Each background call's largest echo jitter (ms) seen while the window runs."""
    worst = [0.0] * len(background)
    while not stop.is_set():
        for i, media in enumerate(background):
            stream = media.stream
            if stream is not None:
                jitter = stream.receive_stats.jitter_s
                if jitter is not None and 1000 * jitter > worst[i]:
                    worst[i] = 1000 * jitter
        try:
            await asyncio.wait_for(stop.wait(), JITTER_POLL_S)
        except TimeoutError:
            pass
    return worst


async def window(
    rpc: Rpc, gen: Window, watch: StreamWatch | None, background: list[EngineCallMedia], body: Any
) -> tuple[dict[str, float], dict[str, float], list[float], Any]:
    """Run `body` (a coroutine) inside a measured window of both processes."""
    await rpc.call(op="window_start")
    if watch:
        watch.start()
    stop = asyncio.Event()
    jitter = asyncio.ensure_future(jitter_max(background, stop))
    gen.start()
    result = await body
    g = gen.end()
    stop.set()
    if watch:
        g.update(watch.end())
    e = await rpc.call(op="window_end")
    return g, e, await jitter, result


def start_profilers(args: argparse.Namespace, child_pid: int) -> list[subprocess.Popen[bytes]]:
    """py-spy on both processes from the burst's start, `--profile-seconds` long (collapsed stacks:
    `PREFIX-gen.txt`, `PREFIX-emu.txt`; bench/profile_summary.py reads them). A bench aid only."""
    procs = []
    for side, pid in (("gen", os.getpid()), ("emu", child_pid)):
        cmd = ["py-spy", "record", "--pid", str(pid), "--duration", str(args.profile_seconds), "--rate", "200"]
        cmd += ["--format", "raw", "--output", f"{args.profile}-{side}.txt"]
        cmd += ["--native"] if args.profile_native else ["--nonblocking"]
        procs.append(subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
    return procs


async def run(background_n: int, args: argparse.Namespace) -> dict[str, Any]:
    tree = ["--tree", args.tree] if args.tree else []
    child = Child([os.path.abspath(__file__), "--serve", "--echo-playout", args.echo_playout, *tree])
    rpcs = [await Rpc.open(child.port) for _ in range(args.concurrency)]
    background: list[EngineCallMedia] = []
    gen = Window()
    try:
        await calls(2 * args.concurrency, rpcs, args, background, hang_up=True)  # warm-up
        _, bg_failed = await calls(background_n, rpcs, args, background, hang_up=False)
        await asyncio.sleep(args.settle)
        seconds = args.quiet + args.timeout
        watch = StreamWatch(native_streams(background), args.sample_every, seconds) if background else None
        await rpcs[0].call(op="watch", every=args.sample_every, seconds=seconds)
        quiet_g, quiet_e, quiet_jit, _ = await window(rpcs[0], gen, watch, background, asyncio.sleep(args.quiet))
        profilers = start_profilers(args, child.pid) if args.profile else []
        burst_g, burst_e, burst_jit, (setups, failed) = await window(
            rpcs[0], gen, watch, background, calls(args.burst, rpcs, args, background, hang_up=True)
        )
        for profiler in profilers:
            await asyncio.to_thread(profiler.wait, args.profile_seconds + 30)
        n = len(setups) + failed  # every call of the burst was set up (or tried for 30 s) and hung up

        def per_core(burst: dict[str, float], quiet: dict[str, float]) -> tuple[float, float]:
            """Gross and net per core-second; net is NaN when the subtraction cannot be trusted: a process
            starved of CPU (run queue wait over STARVED_PCT) falls behind its own media during the burst, so
            its media used less than the quiet rate and what is left is not the setups' cost."""
            media = quiet["cpu_s"] / max(1e-9, quiet["wall_s"]) * burst["wall_s"]
            left = burst["cpu_s"] - media
            trusted = burst["runq_pct"] <= STARVED_PCT and left > 0.2 * burst["cpu_s"]
            return n / max(1e-9, burst["cpu_s"]), n / left if trusted else float("nan")

        def loop_net_ms(burst: dict[str, float], quiet: dict[str, float]) -> float:
            """The loop thread's CPU per call, its media cost subtracted: the quiet window's loop CPU per RTP
            packet received times the packets the burst's window received (a starved loop falls behind its
            media, so per packet, not per second); per second when no media runs."""
            if burst["runq_pct"] > STARVED_PCT:  # a backlog makes each packet cheaper: not the quiet rate
                return float("nan")
            if quiet.get("packets"):
                media = quiet["loop_cpu_s"] / quiet["packets"] * burst.get("packets", 0)
            else:
                media = quiet["loop_cpu_s"] / max(1e-9, quiet["wall_s"]) * burst["wall_s"]
            return 1000 * (burst["loop_cpu_s"] - media) / max(1, n)

        gen_gross, gen_net = per_core(burst_g, quiet_g)
        emu_gross, emu_net = per_core(burst_e, quiet_e)
        return {
            "background": len(background),
            "background_failed": bg_failed,
            "burst": n,
            "failed": failed,
            "wall_s": burst_g["wall_s"],
            "per_s": n / burst_g["wall_s"],
            "setup_p50_ms": 1000 * pct(setups, 0.5),
            "setup_p99_ms": 1000 * pct(setups, 0.99),
            "gen_gross": gen_gross,
            "gen_net": gen_net,
            "emu_gross": emu_gross,
            "emu_net": emu_net,
            "gen_loop_net_ms": loop_net_ms(burst_g, quiet_g),
            "emu_loop_net_ms": loop_net_ms(burst_e, quiet_e),
            "gen_cpu_ms_per_call": 1000 * burst_g["cpu_s"] / max(1, n),
            "emu_cpu_ms_per_call": 1000 * burst_e["cpu_s"] / max(1, n),
            "gen_media_pct": 100 * quiet_g["cpu_s"] / quiet_g["wall_s"],
            "emu_media_pct": 100 * quiet_e["cpu_s"] / quiet_e["wall_s"],
            "quiet_gen": quiet_g,
            "quiet_emu": quiet_e,
            "burst_gen": burst_g,
            "burst_emu": burst_e,
            "quiet_jitter_p50_ms": pct(quiet_jit, 0.5),
            "quiet_jitter_p99_ms": pct(quiet_jit, 0.99),
            "burst_jitter_p50_ms": pct(burst_jit, 0.5),
            "burst_jitter_p99_ms": pct(burst_jit, 0.99),
            "load1": os.getloadavg()[0],
        }
    finally:
        await asyncio.gather(*(c.close() for c in background), return_exceptions=True)
        await rpcs[0].call(op="close")
        for rpc in rpcs:
            await rpc.close()
        child.stop()


async def one(args: argparse.Namespace) -> None:
    use_loopback_only()
    print("RESULT " + json.dumps(await run(args.background, args)), flush=True)


# ---------------------------------------------------------------- driver
def run_process(background: int, args: argparse.Namespace) -> dict[str, Any]:
    """One run in fresh processes (the heap and caches of one run must not help the next)."""
    argv = [sys.executable, os.path.abspath(__file__), "--one", "--background", str(background)]
    for name in ("burst", "concurrency", "codec", "timeout", "quiet", "settle", "sample_every", "echo_playout"):
        argv += [f"--{name.replace('_', '-')}", str(getattr(args, name))]
    argv += ["--no-uvloop"] if args.no_uvloop else []
    argv += ["--tree", args.tree] if args.tree else []
    out = subprocess.run(argv, capture_output=True, text=True, timeout=4 * args.timeout + 120, check=True).stdout
    return json.loads(next(line for line in out.splitlines() if line.startswith("RESULT "))[7:])


def _median(values: list[float]) -> float:
    """The median of the values that are numbers (a starved run's net figure is NaN: left out)."""
    kept = [v for v in values if v == v]
    return statistics.median(kept) if kept else float("nan")


def median_of(runs: list[dict[str, Any]]) -> dict[str, Any]:
    row = dict(runs[0])
    for key, value in runs[0].items():
        if isinstance(value, (int, float)):
            row[key] = _median([r[key] for r in runs])
        elif isinstance(value, dict):
            row[key] = {k: statistics.median(r[key].get(k, 0.0) for r in runs) for k in value}
    return row


def media_line(side: str, quiet: dict[str, float], burst: dict[str, float]) -> str:
    if "send_p99_ms" not in burst:
        return f"{side}: no background media"
    return (
        f"{side} send interval p99/max ms quiet {quiet['send_p99_ms']:.1f}/{quiet['send_max_ms']:.1f} -> burst "
        f"{burst['send_p99_ms']:.1f}/{burst['send_max_ms']:.1f}, gaps over 30 ms quiet "
        f"{quiet['gaps_over_30ms']:.0f} -> burst {burst['gaps_over_30ms']:.0f} "
        f"(in {burst['streams_with_gaps']:.0f} of {burst['streams']:.0f} streams)"
    )


def per_core(ms: float) -> float:
    return 1000 / ms if ms > 0 else float("nan")  # NaN stays NaN


def print_row(label: str, r: dict[str, Any], runs: int) -> None:
    bg, be = r["burst_gen"], r["burst_emu"]
    gen_loop, emu_loop = r["gen_loop_net_ms"], r["emu_loop_net_ms"]
    print(
        f"{label}: {r['burst']:.0f} setups + hang-ups ({r['failed']:.0f} failed) on {r['background']:.0f} calls up "
        f"({r['background_failed']:.0f} failed) in {r['wall_s']:.2f} s = {r['per_s']:.0f}/s wall | setup p50/p99 "
        f"{r['setup_p50_ms']:.0f}/{r['setup_p99_ms']:.0f} ms (n={runs}, load1 {r['load1']:.1f})\n"
        f"    setups + hang-ups per core-second, net of the media (loop thread, per RTP packet): gen "
        f"{per_core(gen_loop):.0f} ({gen_loop:.2f} ms CPU per call), emu {per_core(emu_loop):.0f} ({emu_loop:.2f} ms)"
        f"{' (nan: starved, run-queue wait over the limit)' if gen_loop != gen_loop or emu_loop != emu_loop else ''}\n"
        f"    whole process over the burst (media included): gen {r['gen_gross']:.0f}, emu {r['emu_gross']:.0f} per "
        f"core-second ({r['gen_cpu_ms_per_call']:.2f}/{r['emu_cpu_ms_per_call']:.2f} ms per call); net of the quiet "
        f"window's CPU rate gen {r['gen_net']:.0f}, emu {r['emu_net']:.0f} (nan: starved) | media alone gen/emu "
        f"{r['gen_media_pct']:.0f}/{r['emu_media_pct']:.0f} % of a core\n"
        f"    runq wait in burst gen/emu {bg['runq_pct']:.0f}/{be['runq_pct']:.0f} % | longest GC pause gen/emu "
        f"{bg['gc_max_ms']:.1f}/{be['gc_max_ms']:.1f} ms | loop lag p99/max gen {bg['lag_p99_ms']:.0f}/"
        f"{bg['lag_max_ms']:.0f}, emu {be['lag_p99_ms']:.0f}/{be['lag_max_ms']:.0f} ms | send-thread stalls gen/emu "
        f"{bg['sender_stalls']:.0f}/{be['sender_stalls']:.0f} (SCHED_FIFO {bg['sender_realtime']:.0f}/"
        f"{be['sender_realtime']:.0f})",
        flush=True,
    )
    if r["background"]:
        print("    " + media_line("generator", r["quiet_gen"], bg), flush=True)
        print("    " + media_line("emulator echo", r["quiet_emu"], be), flush=True)
        print(
            f"    self-jitter (echo, largest per call) p50/p99 ms quiet {r['quiet_jitter_p50_ms']:.2f}/"
            f"{r['quiet_jitter_p99_ms']:.2f} -> burst {r['burst_jitter_p50_ms']:.2f}/{r['burst_jitter_p99_ms']:.2f}",
            flush=True,
        )


def run_all(args: argparse.Namespace) -> None:
    runs: dict[int, list[dict[str, Any]]] = {args.background: [], 0: []}
    for _ in range(args.repeat):  # interleaved: the machine's load drifts over both alike
        for background in runs:
            runs[background].append(run_process(background, args))
    rows = {b: median_of(r) for b, r in runs.items()}
    print_row(f"with {args.background} up", rows[args.background], args.repeat)
    print_row("baseline, 0 up", rows[0], args.repeat)
    up, idle = rows[args.background], rows[0]
    print(
        f"ratio {args.background} up / 0 up: setups + hang-ups per core-second net of the media gen "
        f"{idle['gen_loop_net_ms'] / up['gen_loop_net_ms']:.2f}x, emu "
        f"{idle['emu_loop_net_ms'] / up['emu_loop_net_ms']:.2f}x; whole process gen "
        f"{up['gen_gross'] / idle['gen_gross']:.2f}x, emu {up['emu_gross'] / idle['emu_gross']:.2f}x; "
        f"setup p50 {up['setup_p50_ms'] / max(1e-9, idle['setup_p50_ms']):.2f}x",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--background", type=int, default=500, help="calls whose media runs during the burst")
    parser.add_argument("--burst", type=int, default=300, help="setups + hang-ups measured")
    parser.add_argument("--concurrency", type=int, default=20, help="burst (and background) calls in flight")
    parser.add_argument("--codec", default="pcmu", choices=["opus", "pcmu", "pcma"])
    parser.add_argument("--quiet", type=float, default=3.0, help="seconds of the quiet window (media alone)")
    parser.add_argument("--settle", type=float, default=2.0, help="seconds after the background is up")
    parser.add_argument("--sample-every", type=int, default=5, help="one background stream in N has sends timed")
    parser.add_argument("--echo-playout", default=f"{DEFAULT_ECHO_PLAYOUT_S * 1000:g}ms", help="the echo's delay")
    parser.add_argument("--repeat", type=int, default=1, help="runs of each (with media, baseline), interleaved")
    parser.add_argument("--timeout", type=float, default=180.0, help="seconds per phase at most")
    parser.add_argument("--no-uvloop", action="store_true")
    parser.add_argument("--tree", default="", help="import rtcload from this checkout (an A/B against another commit)")
    parser.add_argument("--profile", default="", help="with --one: py-spy both processes during the burst (PREFIX)")
    parser.add_argument("--profile-seconds", type=int, default=8)
    parser.add_argument("--profile-native", action="store_true", help="--profile with C frames (pauses the process)")
    parser.add_argument("--one", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    loop = new_loop(not args.no_uvloop)
    asyncio.set_event_loop(loop)
    if args.serve:
        loop.run_until_complete(serve(parse_playout(args.echo_playout, "--echo-playout")))
    elif args.one:
        loop.run_until_complete(one(args))
    else:
        run_all(args)


if __name__ == "__main__":
    main()
