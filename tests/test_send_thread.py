"""The engine's send thread: packets keep their 20 ms spacing while the loop is blocked, a real stall is
reported (send gaps, the `generator` gate), oversized forwards and send drops are counted, never fatal.

Real parts: the C engine (`_native.Sender`) on a real uvloop loop, real libsrtp sessions, real loopback
UDP sockets, and the kernel's own receive stamps (SO_TIMESTAMPNS) as the clock of the far end, so what
is measured is what the wire carried, not what the sender believes. The stall test stops a real child
process with SIGSTOP. Timing assertions leave wide margins (the machine is shared): a blocked loop on
the old loop-driven clock gave a 300 ms gap, the thread keeps it under 100 ms even when descheduled.
"""

from __future__ import annotations

import asyncio
import errno
import gc
import itertools
import json
import os
import signal
import socket
import struct
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pylibsrtp
import pytest
import uvloop

from rtcload.gates.defaults import evaluate_gates
from rtcload.media.engine.engine import MediaEngine
from rtcload.media.engine.native import NativeEngineStream, native_available
from rtcload.media.engine.stream import Codec
from rtcload.media.engine.takeover import Srtp
from rtcload.media.engine.udp_link import UdpLink
from rtcload.media.media_settings import MediaSettings
from rtcload.media.rating import send_snapshot_of
from rtcload.media.stats import MediaStats
from rtcload.results.send_gaps import send_gap_summary

pytestmark = pytest.mark.skipif(not native_available(), reason="the C engine is not built")

KEY = bytes(range(30))
PCMU = Codec("pcmu", 0, 8000)
SO_TIMESTAMPNS = getattr(socket, "SO_TIMESTAMPNS", 35)
REPO = Path(__file__).resolve().parent.parent


def session(outbound: bool) -> pylibsrtp.Session:
    kind = pylibsrtp.Policy.SSRC_ANY_OUTBOUND if outbound else pylibsrtp.Policy.SSRC_ANY_INBOUND
    return pylibsrtp.Session(pylibsrtp.Policy(key=KEY, ssrc_type=kind))


def stamped_receiver() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


def kernel_arrivals(sock: socket.socket) -> list[tuple[int, float]]:
    """(RTP sequence, kernel receive time) of every queued datagram, read without waiting."""
    sock.setblocking(False)
    rx = Srtp(session(False))
    out = []
    while True:
        try:
            data, ancillary, _flags, _addr = sock.recvmsg(2048, socket.CMSG_SPACE(16))
        except BlockingIOError:
            return out
        stamp = next(d for level, kind, d in ancillary if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS)
        seconds, nanoseconds = struct.unpack("qq", stamp[:16])
        plain = rx.unprotect(data)
        out.append((struct.unpack_from("!H", plain, 2)[0], seconds + nanoseconds * 1e-9))


def native_stream(remote: tuple[str, int]) -> NativeEngineStream:
    stream = NativeEngineStream(UdpLink(remote), Srtp(session(True)), Srtp(session(False)), PCMU, 0x5E1D, "thread")  # type: ignore[arg-type]
    stream._next_rtcp = float("inf")  # RTCP would take the receiver's sequence parse off course
    stream.frames = (bytes(160),)
    stream.set_sending(True)
    return stream


def max_interval(arrivals: list[tuple[int, float]]) -> float:
    times = [t for _, t in arrivals]
    return max(b - a for a, b in itertools.pairwise(times))


class Cycle:
    def __init__(self) -> None:
        self.me = self
        self.payload = [object() for _ in range(4)]


def test_packets_keep_their_spacing_while_the_loop_is_blocked_by_a_sleep_and_a_full_collection():
    receiver = stamped_receiver()
    heap: list[Cycle] = []

    async def scenario() -> NativeEngineStream:
        engine = MediaEngine(asyncio.get_running_loop())
        stream = native_stream(receiver.getsockname())
        engine.add(stream)
        await asyncio.sleep(0.2)
        heap.extend(Cycle() for _ in range(400_000))  # ended calls' reference cycles, as under churn
        del heap[:]  # unreachable now: only the collector frees them
        started = time.monotonic()
        gc.collect()  # on the loop's thread, holding the GIL
        time.sleep(0.3)  # a slow callback: the loop runs nothing else
        blocked = time.monotonic() - started
        await asyncio.sleep(0.2)
        engine.remove(stream)
        stream.close()
        assert blocked >= 0.3
        return stream

    loop = uvloop.new_event_loop()
    try:
        stream = loop.run_until_complete(scenario())
    finally:
        loop.close()
    arrivals = kernel_arrivals(receiver)
    receiver.close()
    assert len(arrivals) >= 25  # ~0.7 s of 20 ms frames, minus the machine's slack
    assert [s for s, _ in arrivals] == sorted(s for s, _ in arrivals)
    gap = max_interval(arrivals)
    assert gap < 0.1, f"the wire had a {gap * 1000:.0f} ms gap while the loop was blocked for 300 ms"
    timing = stream.send_timing()
    assert timing.gap_max_s < 0.1 and timing.drops == 0
    assert abs(timing.gap_max_s - gap) < 0.03  # the sender's own record agrees with the wire


def test_the_python_engine_reports_the_stall_its_loop_clock_suffers(monkeypatch):
    """RTCLOAD_ENGINE_NATIVE=0: the reference path keeps its loop-driven clock, and says when it stalled."""
    from rtcload.media.engine.native import ENV_SWITCH
    from rtcload.media.engine.stream import EngineStream

    monkeypatch.setenv(ENV_SWITCH, "0")
    receiver = stamped_receiver()

    async def scenario() -> EngineStream:
        engine = MediaEngine(asyncio.get_running_loop())
        assert engine.sender is None
        stream = EngineStream(UdpLink(receiver.getsockname()), Srtp(session(True)), Srtp(session(False)), PCMU, 7, "py")  # type: ignore[arg-type]
        stream._next_rtcp = float("inf")
        stream.frames = (bytes(160),)
        stream.set_sending(True)
        engine.add(stream)
        await asyncio.sleep(0.2)
        time.sleep(0.3)
        await asyncio.sleep(0.2)
        engine.remove(stream)
        return stream

    loop = uvloop.new_event_loop()
    try:
        stream = loop.run_until_complete(scenario())
    finally:
        loop.close()
    wire = max_interval(kernel_arrivals(receiver))
    receiver.close()
    timing = stream.send_timing()
    assert wire >= 0.25 and timing.gap_max_s >= 0.25 and timing.gaps_over >= 1  # the wire's gap, and it knows
    assert abs(timing.gap_max_s - wire) < 0.03


CHILD = textwrap.dedent(
    """
    import asyncio, json, sys, uvloop
    sys.path.insert(0, {repo!r})
    from tests.test_send_thread import native_stream
    from rtcload.media.engine.engine import MediaEngine

    async def main():
        engine = MediaEngine(asyncio.get_running_loop())
        stream = native_stream(("127.0.0.1", {port}))
        engine.add(stream)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)  # until the parent says
        engine.remove(stream)
        timing = stream.send_timing()
        print(json.dumps({{"gap_max_s": timing.gap_max_s, "gaps_over": timing.gaps_over,
                          "gaps": timing.gaps, "drops": timing.drops}}), flush=True)

    uvloop.run(main())
    """
)


def test_a_stopped_generator_reports_the_stall_and_the_generator_gate_fails():
    receiver = stamped_receiver()
    receiver.settimeout(20)
    script = CHILD.format(repo=str(REPO), port=receiver.getsockname()[1])
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    child = subprocess.Popen([sys.executable, "-c", script], stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env)
    try:
        receiver.recv(2048)  # the child is sending
        time.sleep(0.3)
        os.kill(child.pid, signal.SIGSTOP)
        time.sleep(0.25)
        os.kill(child.pid, signal.SIGCONT)
        time.sleep(0.3)
        out, _ = child.communicate(b"stop\n", timeout=30)
    finally:
        if child.poll() is None:
            child.kill()
    timing = json.loads(out)
    receiver.setblocking(False)
    arrivals = kernel_arrivals(receiver)
    receiver.close()
    assert 0.24 <= timing["gap_max_s"] < 1.5, timing  # the stall (250 ms, more if the machine is busy)
    assert timing["gaps_over"] >= 1 and timing["drops"] == 0
    assert abs(max_interval(arrivals) - timing["gap_max_s"]) < 0.03  # and as the wire showed it
    wall = time.time() - time.monotonic()
    row = {
        "call_id": "c1",
        "send_gap_max_ms": timing["gap_max_s"] * 1000,
        "send_gaps_over_30ms": timing["gaps_over"],
        "send_drops": 0,
        "send_gap_starts": ";".join(f"{start + wall:.3f}" for start, _ in timing["gaps"]),
    }
    gaps = send_gap_summary([row, {**row, "call_id": "c2"}, {"call_id": "aiortc-path"}])
    assert gaps["calls_with_gaps"] == 2 and gaps["worst_instant_calls"] == 2 and gaps["worst_instant_at"]
    summary = {"generator": {"cpu_mean": 5.0, "send_gaps": gaps}, "registrations": {"attempted": 0, "failed": 0}}
    (verdict,) = [v for v in evaluate_gates(summary, disabled=("registered", "calls_answered", "media"))]
    assert not verdict.passed
    assert "send gap of" in verdict.message and "2 calls with gaps over 30 ms" in verdict.message
    assert "2 of them at once at" in verdict.message


def test_an_oversized_payload_to_forward_is_dropped_and_counted_and_the_stream_goes_on():
    receiver = stamped_receiver()
    stream = native_stream(receiver.getsockname())
    stream.frames = None  # an echo stream: it only forwards
    stream.forward(b"\x01" * 160, 1000, False, time.monotonic())
    stream.forward(b"\x02" * 1400, 1160, False, time.monotonic())  # legal RTP, too big once under SRTP
    stream.forward(b"\x03" * 160, 1320, False, time.monotonic())
    assert stream.ntx.take_error() is None  # not fatal: the engine keeps the stream
    timing = stream.send_timing()
    assert (timing.oversized, timing.drops, timing.lost_here) == (1, 0, 1)
    arrivals = kernel_arrivals(receiver)
    assert len(arrivals) == 2 and arrivals[1][0] == arrivals[0][0] + 1  # no sequence number was consumed
    stream.close()
    receiver.close()


def test_send_drops_are_counted_and_not_blamed_on_the_platform():
    receiver = stamped_receiver()
    first_sequence: list[int] = []

    async def scenario() -> NativeEngineStream:
        engine = MediaEngine(asyncio.get_running_loop())
        stream = native_stream(receiver.getsockname())
        first_sequence.append(stream._sequence)
        stream.ntx.inject_send_errors(3, errno.EAGAIN)  # the kernel refuses the next three (socket buffer full)
        engine.add(stream)
        while stream.sent.packets_sent < 10:
            await asyncio.sleep(0.02)
        engine.remove(stream)
        return stream

    loop = uvloop.new_event_loop()
    try:
        stream = loop.run_until_complete(scenario())
    finally:
        loop.close()
    arrivals = kernel_arrivals(receiver)
    receiver.close()
    timing = stream.send_timing()
    assert timing.drops == 3 and stream.ntx.take_error() is None
    sequences = [s for s, _ in arrivals]
    assert sequences[0] == (first_sequence[0] + 3) & 0xFFFF  # the first three consumed their numbers, unsent
    lost_at_far_end = ((sequences[-1] - first_sequence[0]) & 0xFFFF) + 1 - len(sequences)
    assert lost_at_far_end == 3
    stats = stream.media_stats()
    assert stats.send_drops == 3
    far_end = MediaStats(at=1.0, codec="pcmu", clock_rate=8000, packets_sent=stats.packets_sent,
                         remote_packets_lost=lost_at_far_end, send_drops=stats.send_drops)  # fmt: skip
    snapshot = send_snapshot_of(far_end)
    assert snapshot is not None and snapshot.packets_lost == 0  # the generator's loss, not the platform's
    gaps = send_gap_summary([{"call_id": "c", "send_gap_max_ms": 20.0, "send_gaps_over_30ms": 0, "send_drops": 3}])
    summary = {"generator": {"cpu_mean": 5.0, "send_gaps": gaps}}
    (verdict,) = evaluate_gates(summary, disabled=("registered", "calls_answered", "media"))
    assert not verdict.passed and "3 RTP packets dropped" in verdict.message
    stream.close()


async def test_a_real_echo_call_keeps_its_send_spacing_while_the_loop_is_blocked_and_the_emulator_owns_its_stall():
    """Through the real emulator (same loop): the generator's stream is sent by the thread, unharmed by a
    blocked loop; the emulator's echo waited for the loop, and its own media clock says so."""
    from rtcload.emulator import Emulator
    from rtcload.emulator.aiortc_answerer import AiortcAnswerer
    from rtcload.media.engine.call_media import EngineCallMedia
    from rtcload.media.engine.send_gaps import EMULATOR_SEND_GAPS
    from rtcload.media.loopback import use_loopback_only
    from tests.conftest import fast_config
    from tests.test_media_engine import connect

    use_loopback_only()
    over_before = EMULATOR_SEND_GAPS.gaps_over
    async with Emulator(fast_config(), AiortcAnswerer(loopback_only=True)) as emu:
        client = await connect(
            emu.url, lambda: EngineCallMedia("tone:440", settings=MediaSettings(codec="pcmu", stats_interval_s=0.5))
        )
        try:
            call = await client.call("echo", answer_timeout_s=20)
            media = call.media
            assert await media.analyzer.wait_until(lambda a: a.first_audio_at is not None, 20)
            assert isinstance(media.stream, NativeEngineStream)
            time.sleep(0.3)  # the loop (generator, emulator, signaling) runs nothing for 300 ms
            await asyncio.sleep(0.5)
            await call.hangup()
            timing = call.media_report.send_timing
            assert timing is not None and timing.gap_max_s < 0.1 and timing.drops == 0, timing
            for _ in range(200):  # the emulator ends its leg on the bye (no event to wait on from here)
                if EMULATOR_SEND_GAPS.gaps_over > over_before:
                    break
                await asyncio.sleep(0.05)
            snapshot = emu.snapshot()
        finally:
            await client.close()
    gaps = snapshot["media_clock"]["send_gaps"]
    assert EMULATOR_SEND_GAPS.gaps_over > over_before  # the echo was held by the loop: counted as its own
    # the echo waits 60 ms (its playout delay) anyway: the wire shows the 300 ms block less that
    assert gaps["gap_max_ms"] >= 180 and gaps["worst_instant_at"], gaps


def test_the_worst_instant_is_the_window_where_most_calls_had_a_gap_begin():
    def row(call: str, gap_max: float, over: int, starts: str) -> dict:
        return {"call_id": call, "send_gap_max_ms": gap_max, "send_gaps_over_30ms": over, "send_drops": 0,
                "send_gap_starts": starts}  # fmt: skip

    rows = [row("a", 210.0, 1, "100.00"), row("b", 190.0, 2, "100.05;300.0"), row("c", 35.0, 1, "300.02"),
            row("d", 20.1, 0, "")]  # fmt: skip
    gaps = send_gap_summary(rows, limit_ms=250)
    assert (gaps["gap_max_ms"], gaps["gaps_over_threshold"], gaps["calls_with_gaps"]) == (210.0, 4, 3)
    assert gaps["worst_instant_calls"] == 2 and gaps["worst_instant_at"] == "1970-01-01T00:01:40.000Z"
    (verdict,) = evaluate_gates({"generator": {"send_gaps": gaps}}, disabled=("registered", "calls_answered", "media"))
    assert verdict.passed and "largest send gap 210.0 ms" in verdict.message  # under the 250 ms limit given


def test_streams_come_and_go_while_the_thread_ticks_and_each_is_released_once():
    """Setup and teardown under churn: add/remove race the thread's ticks; no stream is freed under a tick
    (a crash), none is kept (a leak): every Tx's reference count is back where it was."""
    from rtcload.media.engine import _native

    receiver = stamped_receiver()
    streams = [native_stream(receiver.getsockname()) for _ in range(40)]
    baseline = [sys.getrefcount(s.ntx) for s in streams]
    sender = _native.Sender(period=0.002)  # a tick every 2 ms: many ticks in flight during the churn
    deadline = time.monotonic() + 1.0
    rounds = 0
    while time.monotonic() < deadline:
        for s in streams:
            sender.add(s.ntx)
        sender.drain()
        for s in streams[::2]:
            assert sender.remove(s.ntx)
        for s in streams[1::2]:
            assert sender.remove(s.ntx)
        rounds += 1
    assert rounds > 10 and sender.ticks > 10
    for _ in range(1000):  # the tick in flight at the last removal ends; drain() then releases them
        sender.drain()
        if [sys.getrefcount(s.ntx) for s in streams] == baseline:
            break
        time.sleep(0.002)
    assert [sys.getrefcount(s.ntx) for s in streams] == baseline
    sender.stop()
    for s in streams:
        s.close()
    receiver.close()


@pytest.mark.parametrize("value", ["fast", "0ms"])
def test_a_bad_max_send_gap_is_a_usage_error_before_anything_runs(tmp_path, value):
    command = [sys.executable, "-m", "rtcload", "run", "--duration", "5s", "--results", str(tmp_path)]
    done = subprocess.run(
        [*command, "--rtc-max-send-gap", value],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2 and "--rtc-max-send-gap must be" in done.stderr, done.stderr
    assert not (tmp_path / "summary.json").exists()


def test_the_python_engine_drops_and_counts_an_oversized_forward_too():
    from rtcload.media.engine.stream import EngineStream

    receiver = stamped_receiver()
    stream = EngineStream(UdpLink(receiver.getsockname()), Srtp(session(True)), Srtp(session(False)), PCMU, 9, "py")  # type: ignore[arg-type]
    stream.set_sending(True)
    for payload in (b"\x01" * 160, b"\x02" * 1400, b"\x03" * 160):
        stream.forward(payload, 1000, False, time.monotonic())
    assert stream.send_timing().oversized == 1
    arrivals = kernel_arrivals(receiver)
    assert len(arrivals) == 2 and arrivals[1][0] == arrivals[0][0] + 1
    receiver.close()
