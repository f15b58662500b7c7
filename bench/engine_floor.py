"""The floor under a Python-driven media engine: what one RTP packet costs at the least, beside aiortc's path.

Part 1 (micro): tight loops over pre-built packets, microseconds per packet operation:
  our header pack / parse (rtcload.media.engine.rtp), pylibsrtp protect / unprotect (through pylibsrtp's
  Session and through the engine's direct libsrtp call, takeover.Srtp; the floor takes the cheaper), the engine's
  receive statistics, bare `sendto` / `recvfrom` on loopback UDP, and RTCP (SR + SDES, protected) amortised
  per packet; baseline in the same run: aiortc's RtpPacket serialise / parse with the same SRTP.
Part 2 (paced): N call endpoints (each 1 sent + 1 received stream, 50 packets/s each way) driven by one
  drift-corrected 20 ms tick in one thread, a socket pair per call, SRTP session per call and direction,
  RFC 3550 receive statistics per stream. Prints CPU % of a core, microseconds per packet operation, tick
  lateness, and the implied call endpoints per core. This is the floor: no asyncio, no ICE, no DTLS demux.

Loopback only; bounded by --packets and --duration.

    python bench/engine_floor.py --calls 1000 --duration 10
"""

from __future__ import annotations

import argparse
import math
import os
import socket
import statistics
import struct
import sys
import time
import timeit
from collections.abc import Callable

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from aiortc.rtp import RtpPacket as AiortcRtpPacket
from pylibsrtp import Policy, Session

from bench._common import pct, runqueue_wait_s
from rtcload.media.engine.receive_stats import ReceiveStats
from rtcload.media.engine.rtcp import build_sdes_cname, build_sr, compound, ntp_from_unix
from rtcload.media.engine.rtp import pack_rtp, parse_rtp
from rtcload.media.engine.takeover import Srtp
from rtcload.media.sequence import LossRunTracker

TICK_S = 0.02
PACKETS_PER_S = 50
SO_TIMESTAMPNS = getattr(socket, "SO_TIMESTAMPNS", 35)  # Linux value; Python exposes it from 3.x on Linux
_TIMESPEC = struct.Struct("@qq")
KEY = bytes(range(30))  # AES_CM_128_HMAC_SHA1_80 master key (16) + salt (14); any fixed key will do here


def srtp_pair(ssrc: int) -> tuple[Session, Session]:
    tx = Session(policy=Policy(key=KEY, ssrc_type=Policy.SSRC_ANY_OUTBOUND))
    rx = Session(policy=Policy(key=KEY, ssrc_type=Policy.SSRC_ANY_INBOUND))
    return tx, rx


def per_op_us(label: str, count: int, body: Callable[[int], None], results: dict[str, float]) -> None:
    """Run body(i) for i in range(count) and record microseconds of CPU per call."""
    started = time.process_time()
    for i in range(count):
        body(i)
    results[label] = 1e6 * (time.process_time() - started) / count


def micro(packets: int, payload_size: int, loop_costs: bool = True) -> dict[str, float]:
    """Per-operation costs; `loop_costs` also runs a uvloop of its own (not from inside a running loop)."""
    payload = bytes(payload_size)
    tx, rx = srtp_pair(1)
    tx_aiortc, rx_aiortc = srtp_pair(2)
    results: dict[str, float] = {}
    per_op_us("engine pack_rtp", packets, lambda i: pack_rtp(111, i, i * 960, 1, payload), results)
    protected: list[bytes] = []
    per_op_us(
        "engine pack_rtp + SRTP protect",
        packets,
        lambda i: protected.append(tx.protect(pack_rtp(111, i, i * 960, 1, payload))),
        results,
    )
    per_op_us("engine SRTP unprotect + parse_rtp", packets, lambda i: parse_rtp(rx.unprotect(protected[i])), results)
    # the engine's own hot path calls libsrtp on pylibsrtp's context without its per-call allocations
    fast_tx, fast_rx = (Srtp(s) for s in srtp_pair(3))
    fast_protected: list[bytes] = []
    per_op_us(
        "engine pack_rtp + direct libsrtp protect (takeover.Srtp)",
        packets,
        lambda i: fast_protected.append(fast_tx.protect(pack_rtp(111, i, i * 960, 3, payload))),
        results,
    )
    per_op_us(
        "engine direct libsrtp unprotect + parse_rtp",
        packets,
        lambda i: parse_rtp(fast_rx.unprotect(fast_protected[i])),
        results,
    )
    plain = [pack_rtp(111, i, i * 960, 1, payload) for i in range(packets)]
    per_op_us("engine parse_rtp", packets, lambda i: parse_rtp(plain[i]), results)
    stats = ReceiveStats(48000)
    per_op_us(
        "engine ReceiveStats.on_packet", packets, lambda i: stats.on_packet(i & 0xFFFF, i * 960, i * 0.02, 160), results
    )
    runs = LossRunTracker()
    per_op_us("LossRunTracker.on_packet", packets, lambda i: runs.on_packet(i & 0xFFFF), results)

    def rtcp(i: int) -> None:
        tx.protect_rtcp(
            compound(build_sr(1, ntp_from_unix(time.time()), i, i, i, []), build_sdes_cname(1, "rtcload@bench"))
        )

    per_op_us("RTCP SR+SDES build + protect (per report)", max(1, packets // 10), rtcp, results)
    results["RTCP amortised per packet (1 report/s/stream)"] = (
        results["RTCP SR+SDES build + protect (per report)"] / PACKETS_PER_S
    )

    aiortc_protected: list[bytes] = []

    def aiortc_send(i: int) -> None:
        packet = AiortcRtpPacket(
            payload_type=111, sequence_number=i & 0xFFFF, timestamp=i * 960, ssrc=2, payload=payload
        )
        aiortc_protected.append(tx_aiortc.protect(packet.serialize()))

    per_op_us("baseline aiortc RtpPacket serialize + SRTP protect", packets, aiortc_send, results)
    per_op_us(
        "baseline aiortc SRTP unprotect + RtpPacket.parse",
        packets,
        lambda i: AiortcRtpPacket.parse(rx_aiortc.unprotect(aiortc_protected[i])),
        results,
    )

    a = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    b = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    a.bind(("127.0.0.1", 0))
    b.bind(("127.0.0.1", 0))
    b.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 22)
    b.setblocking(False)
    target = b.getsockname()
    datagram = protected[0]
    batch = 1000  # send then drain in batches so the receive buffer never overflows
    sent = received = 0
    send_cpu = recv_cpu = 0.0
    for _ in range(max(1, packets // batch)):
        t = time.process_time()
        for _ in range(batch):
            a.sendto(datagram, target)
        send_cpu += time.process_time() - t
        sent += batch
        t = time.process_time()
        while True:
            try:
                b.recvfrom(2048)
            except BlockingIOError:
                break
            received += 1
        recv_cpu += time.process_time() - t
    # the same with the kernel's arrival timestamp (SO_TIMESTAMPNS): jitter immune to loop scheduling
    b.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
    stamped = 0
    stamp_cpu = 0.0
    for _ in range(max(1, packets // batch)):
        for _ in range(batch):
            a.sendto(datagram, target)
        t = time.process_time()
        while True:
            try:
                _data, ancillary, _flags, _addr = b.recvmsg(2048, 64)
            except BlockingIOError:
                break
            for _level, _kind, raw in ancillary:
                _seconds, _nanoseconds = _TIMESPEC.unpack_from(raw)
            stamped += 1
        stamp_cpu += time.process_time() - t
    a.close()
    b.close()
    results["bare sendto (loopback UDP)"] = 1e6 * send_cpu / sent
    results["bare recvfrom (loopback UDP)"] = 1e6 * recv_cpu / max(1, received)
    results["recvmsg + kernel timestamp (SO_TIMESTAMPNS)"] = 1e6 * stamp_cpu / max(1, stamped)
    callback_us, transport_send_us = loop_datagram_us(datagram, packets) if loop_costs else (math.nan, math.nan)
    results["event-loop datagram callback (uvloop), per datagram"] = callback_us
    results["uvloop transport.sendto(data, addr)"] = transport_send_us
    results["_recv_ratio"] = received / sent
    return results


def loop_datagram_us(datagram: bytes, packets: int) -> tuple[float, float]:
    """CPU per datagram when uvloop reads a socket and calls a protocol, and per uvloop transport.sendto.

    What the engine's receive and send paths ride on, beside the bare socket calls.
    """
    import asyncio

    import uvloop

    loop = uvloop.new_event_loop()
    count = 0
    done = loop.create_future()
    total = max(1000, packets)

    class Counter(asyncio.DatagramProtocol):
        def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
            nonlocal count
            count += 1
            if count == total and not done.done():
                done.set_result(None)

    async def run() -> tuple[float, float]:
        transport, _ = await loop.create_datagram_endpoint(Counter, local_addr=("127.0.0.1", 0))
        sock = transport.get_extra_info("socket")
        target = sock.getsockname()
        sender = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        started = time.process_time()
        sent_cpu = 0.0
        expected = 0
        for _ in range(total // 100):
            t = time.process_time()
            for _ in range(100):  # bursts of 100, like one tick of 100 calls
                sender.sendto(datagram, target)
            sent_cpu += time.process_time() - t
            expected += 100
            for _ in range(10_000):  # let the loop read the burst (bounded)
                if count >= expected:
                    break
                await asyncio.sleep(0)
        await asyncio.wait_for(done, 10)
        elapsed = time.process_time() - started - sent_cpu
        # the engine sends through the ICE pair's uvloop transport with an address, not a raw socket
        sink = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sink.bind(("127.0.0.1", 0))
        address = sink.getsockname()
        t = time.process_time()
        for _ in range(total):
            transport.sendto(datagram, address)
        transport_send_us = 1e6 * (time.process_time() - t) / total
        transport.close()
        sender.close()
        sink.close()
        return 1e6 * elapsed / count, transport_send_us

    try:
        return loop.run_until_complete(run())
    except TimeoutError:
        return float("nan"), float("nan")
    finally:
        loop.close()


def floor_costs(results: dict[str, float]) -> tuple[float, float, float]:
    """(us per sent packet, us per received packet, CPU seconds per second of one call endpoint) at the floor."""
    protect = min(
        results["engine pack_rtp + SRTP protect"], results["engine pack_rtp + direct libsrtp protect (takeover.Srtp)"]
    )
    unprotect = min(
        results["engine SRTP unprotect + parse_rtp"], results["engine direct libsrtp unprotect + parse_rtp"]
    )
    tx = protect + results["bare sendto (loopback UDP)"]
    rx = unprotect + results["bare recvfrom (loopback UDP)"]
    rx += results["engine ReceiveStats.on_packet"]
    rtcp = results["RTCP amortised per packet (1 report/s/stream)"]
    return tx, rx, PACKETS_PER_S * (tx + rx + 2 * rtcp) / 1e6


class FloorCall:
    """One call endpoint at the floor: a socket pair, SRTP both ways, RFC 3550 receive statistics."""

    __slots__ = ("recv_sock", "rx", "send_sock", "seq", "ssrc", "stats", "target", "timestamp", "tx")

    def __init__(self, ssrc: int) -> None:
        self.ssrc = ssrc
        self.send_sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.recv_sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.send_sock.bind(("127.0.0.1", 0))
        self.recv_sock.bind(("127.0.0.1", 0))
        self.recv_sock.setblocking(False)
        self.target = self.recv_sock.getsockname()
        self.tx, self.rx = (Srtp(s) for s in srtp_pair(ssrc))
        self.stats = ReceiveStats(48000)
        self.seq = 0
        self.timestamp = 0

    def close(self) -> None:
        self.send_sock.close()
        self.recv_sock.close()


def paced(calls: int, duration_s: float, payload_size: int) -> dict[str, float]:
    payload = bytes(payload_size)
    endpoints = [FloorCall(0x1000 + i) for i in range(calls)]
    lateness: list[float] = []
    send_cpu = recv_cpu = 0.0
    received = sent = 0
    ticks = round(duration_s / TICK_S)
    try:
        start_wall = time.monotonic()
        start_cpu = time.process_time()
        start_wait = runqueue_wait_s()
        for tick in range(ticks):
            due = start_wall + tick * TICK_S  # drift-corrected: every tick is scheduled from the start
            delay = due - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            now = time.monotonic()
            lateness.append(max(0.0, now - due))
            t = time.process_time()
            for call in endpoints:
                call.send_sock.sendto(
                    call.tx.protect(pack_rtp(111, call.seq, call.timestamp, call.ssrc, payload)), call.target
                )
                call.seq += 1
                call.timestamp += 960
            sent += calls
            t2 = time.process_time()
            send_cpu += t2 - t
            for call in endpoints:
                try:
                    data = call.recv_sock.recv(2048)
                except BlockingIOError:
                    continue
                packet = parse_rtp(call.rx.unprotect(data))
                call.stats.on_packet(packet.sequence, packet.timestamp, now, len(packet.payload))
                received += 1
            recv_cpu += time.process_time() - t2
        wall = time.monotonic() - start_wall
        cpu = time.process_time() - start_cpu
        wait = runqueue_wait_s() - start_wait
    finally:
        for call in endpoints:
            call.close()
    cpu_pct = 100 * cpu / wall
    return {
        "calls": calls,
        "wall_s": wall,
        "cpu_pct": cpu_pct,
        "runq_wait_pct": 100 * wait / wall,  # runnable but not running: other load on the machine
        "us_per_sent_packet": 1e6 * send_cpu / max(1, sent),
        "us_per_received_packet": 1e6 * recv_cpu / max(1, received),
        "us_per_packet_op": 1e6 * cpu / max(1, sent + received),
        "tick_late_p50_ms": 1000 * pct(lateness, 0.5),
        "tick_late_p99_ms": 1000 * pct(lateness, 0.99),
        "received_ratio": received / max(1, sent),
        "lost": sum(c.stats.cumulative_lost for c in endpoints),
        "endpoints_per_core": 100 * calls / cpu_pct if cpu_pct else 0.0,
        "saturated": pct(lateness, 0.99) > TICK_S,  # the 20 ms clock was not kept: CPU figures are a ceiling
    }


def calibration_us() -> float:
    """A pure-Python reference loop, so floors measured on different days (or a busier VM) can be compared."""
    return 1e6 * min(timeit.repeat("sum(range(1000))", number=2000, repeat=5)) / 2000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=1000, help="call endpoints in the paced part")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds of the paced part")
    parser.add_argument("--packets", type=int, default=50_000, help="packets per micro-benchmark loop")
    parser.add_argument("--payload", type=int, default=160, help="RTP payload bytes (160 = 20 ms of G.711)")
    parser.add_argument("--repeat", type=int, default=3, help="micro-benchmark runs; the median is printed")
    args = parser.parse_args()
    if args.calls * 2 + 16 > 20_000:
        parser.error("too many calls for the file-descriptor budget")

    print(f"calibration: sum(range(1000)) = {calibration_us():.1f} us (lower = faster machine)")
    runs = [micro(args.packets, args.payload) for _ in range(args.repeat)]
    results = {label: statistics.median(run[label] for run in runs) for label in runs[0]}
    print(
        f"## micro ({args.packets} packets, {args.payload}-byte payload), microseconds of CPU per operation, "
        f"median of {args.repeat} runs"
    )
    for label, value in results.items():
        if not label.startswith("_"):
            print(f"{label:55s} {value:7.2f} us")
    engine_tx, engine_rx, per_endpoint_s = floor_costs(results)
    baseline_tx = results["baseline aiortc RtpPacket serialize + SRTP protect"] + results["bare sendto (loopback UDP)"]
    baseline_rx = results["baseline aiortc SRTP unprotect + RtpPacket.parse"] + results["bare recvfrom (loopback UDP)"]
    print(
        f"floor send (pack+protect+sendto)           {engine_tx:6.2f} us; aiortc objects {baseline_tx:6.2f} us "
        f"(ratio {baseline_tx / engine_tx:.2f}x)"
    )
    print(
        f"floor receive (recv+unprotect+parse+stats) {engine_rx:6.2f} us; aiortc objects {baseline_rx:6.2f} us "
        f"(ratio {baseline_rx / engine_rx:.2f}x)"
    )
    print(
        f"floor per call endpoint (50 pkt/s each way + RTCP): {1e3 * per_endpoint_s:.3f} ms CPU per second "
        f"=> ~{1 / per_endpoint_s:.0f} call endpoints per core at the floor"
    )

    paced_result = paced(args.calls, args.duration, args.payload)
    print(f"## paced: {args.calls} call endpoints, one 20 ms tick, {args.duration:.0f} s")
    for key, value in paced_result.items():
        print(f"{key:28s} {value:.3f}" if isinstance(value, float) else f"{key:28s} {value}")


if __name__ == "__main__":
    main()
