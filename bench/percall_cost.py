"""CPU per steady call outside the per-packet path: RTCP and ICE consent, the Python way and rtcload's way, same run.

What a steady engine call costs besides its 50 packets a second each way is RTCP (a Chrome-profile client
sends an SR or RR every 2.5 s on average and receives aiortc-cadence reports every second) and ICE
consent freshness (a Binding request every 2.5 s from the client, every 5 s from the far end, each
answered). This times each operation both ways on real objects (libsrtp contexts, loopback UDP sockets,
aioice's codecs) and prints microseconds per operation and per call-second at those rates, so the saving
per call reads beside `bench/calls_per_core.py` without the noise of a shared machine's scheduler.

    python bench/percall_cost.py [--repeat 20000]
"""

from __future__ import annotations

import argparse
import os
import socket
import sys
import time
from collections.abc import Callable

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import pylibsrtp
from aioice import stun

from rtcload.media.aiortc_private import stun as fast_stun
from rtcload.media.engine.native import NativeEngineStream
from rtcload.media.engine.rtcp import ReportBlock, build_rr, build_sdes_cname, compound
from rtcload.media.engine.rtp import pack_rtp
from rtcload.media.engine.stream import Codec, EngineStream
from rtcload.media.engine.takeover import Srtp
from rtcload.media.engine.udp_link import UdpLink

KEY = bytes(range(30))
PCMU = Codec("pcmu", 0, 8000)
# per call and second (bench/calls_per_core.py's steady calls: Chrome-profile client, aiortc-cadence emulator)
RTCP_SENT_PER_S = 0.4  # client: 2.5 s mean (the emulator sends 1.0)
RTCP_RECEIVED_PER_S = 1.0  # client (the emulator receives 0.4)
STUN_RECEIVED_PER_S = 0.6  # client: 0.4 responses to its checks + 0.2 requests from the far end
STUN_RESPONSES_BUILT_PER_S = 0.2  # client answers the far end's 0.2 checks a second


def session(outbound: bool) -> pylibsrtp.Session:
    kind = pylibsrtp.Policy.SSRC_ANY_OUTBOUND if outbound else pylibsrtp.Policy.SSRC_ANY_INBOUND
    return pylibsrtp.Session(pylibsrtp.Policy(key=KEY, ssrc_type=kind))


def per_op_us(function: Callable[[], object], repeat: int) -> float:
    function()
    best = float("inf")
    for _ in range(3):
        start = time.thread_time()
        for _ in range(repeat):
            function()
        best = min(best, time.thread_time() - start)
    return 1e6 * best / repeat


def stream(native: bool, sink: socket.socket) -> EngineStream:
    kind = NativeEngineStream if native else EngineStream
    s = kind(UdpLink(sink.getsockname()), Srtp(session(True)), Srtp(session(False)), PCMU, ssrc=1, cname="c" * 16)  # type: ignore[arg-type]
    sender = session(True)
    for seq in range(50):  # a far end heard, so reports carry a block
        s.on_datagram(sender.protect(pack_rtp(0, seq, 160 * seq, 0xABC, b"\xff" * 160)), 100.0 + 0.02 * seq)
    return s


def rtcp_costs(repeat: int) -> list[tuple[str, float, float, float]]:
    sink = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sink.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 16)
    sink.bind(("127.0.0.1", 0))
    python, native = stream(False, sink), stream(True, sink)
    assert isinstance(native, NativeEngineStream)

    def drain() -> None:
        sink.setblocking(False)
        try:
            while True:
                sink.recv(2048)
        except BlockingIOError:
            pass

    send_py = per_op_us(lambda: (python.send_rtcp(), drain()), repeat)
    # what the C stream did before: EngineStream.send_rtcp's Python build, Tx.protect_rtcp, the link's sendto
    native._send_rtcp_packet = lambda plain: native.link.send(native.ntx.protect_rtcp(plain))  # type: ignore[method-assign]
    send_py_on_c = per_op_us(lambda: (EngineStream.send_rtcp(native), drain()), repeat)
    del native._send_rtcp_packet
    send_c = per_op_us(lambda: (native.send_rtcp(), drain()), repeat)
    drain_only = per_op_us(drain, repeat)
    # received: an RR with a block about us + SDES, SRTCP-protected, fed to the receive path
    sender = session(True)
    block = ReportBlock(1, 0, 0, 1000, 40, 0, 0)
    sdes = build_sdes_cname(0xABC, "far")
    rx = native.nrx

    def receive() -> None:  # a fresh SRTCP index each time: libsrtp's replay check would drop a repeat
        rx.datagram(sender.protect_rtcp(compound(build_rr(0xABC, [block]), sdes)), 200.0)

    protect_only = per_op_us(lambda: sender.protect_rtcp(compound(build_rr(0xABC, [block]), sdes)), repeat)
    rx.on_rtcp = native._on_rtcp_plain
    receive_py = per_op_us(receive, repeat) - protect_only
    rx.on_rtcp = None
    receive_c = per_op_us(receive, repeat) - protect_only
    python.close()
    native.close()
    sink.close()
    return [
        ("RTCP report sent (Python build + protect + link sendto)", send_py - drain_only, 0.0, RTCP_SENT_PER_S),
        ("RTCP report sent on the C stream before (Python build)", send_py_on_c - drain_only, 0.0, RTCP_SENT_PER_S),
        ("RTCP report sent (Tx.send_report)", send_c - drain_only, 0.0, RTCP_SENT_PER_S),
        ("RTCP received: parse + RTT (Python _on_rtcp)", receive_py, 0.0, RTCP_RECEIVED_PER_S),
        ("RTCP received: parse + RTT (C rtcp_read)", receive_c, 0.0, RTCP_RECEIVED_PER_S),
    ]


def stun_costs(repeat: int) -> list[tuple[str, float, float, float]]:
    tid = os.urandom(12)

    def response() -> bytes:
        m = stun.Message(stun.Method.BINDING, stun.Class.RESPONSE, transaction_id=tid)
        m.attributes["XOR-MAPPED-ADDRESS"] = ("127.0.0.1", 40000)
        m.add_message_integrity(b"k" * 22)
        m.add_fingerprint()
        return bytes(m)

    data = response()
    build_aioice = per_op_us(response, repeat)
    parse_aioice = per_op_us(lambda: stun.parse_message(data), repeat)
    fast_stun.install()
    build_fast = per_op_us(response, repeat)
    parse_fast = per_op_us(lambda: stun.parse_message(data), repeat)
    return [
        ("STUN response built (aioice: ipaddress, byte-wise XOR)", build_aioice, 0.0, STUN_RESPONSES_BUILT_PER_S),
        ("STUN response built (fast IPv4 codecs)", build_fast, 0.0, STUN_RESPONSES_BUILT_PER_S),
        ("STUN datagram in: guard parse + aioice parse (before)", 2 * parse_aioice, 0.0, STUN_RECEIVED_PER_S),
        ("STUN datagram in: one parse, fast codecs (now)", parse_fast, 0.0, STUN_RECEIVED_PER_S),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=20000)
    args = parser.parse_args()
    rows = rtcp_costs(args.repeat) + stun_costs(args.repeat)
    print(f"{'operation':62} {'us/op':>7} {'per s':>6} {'us per call-second':>18}")
    for name, us, _unused, rate in rows:
        per_call = f"{us * rate:18.1f}" if rate else " " * 18
        print(f"{name:62} {us:7.1f} {rate:6.1f} {per_call}")
    by = {name: us for name, us, _u, _r in rows}
    before = (
        RTCP_SENT_PER_S * by["RTCP report sent on the C stream before (Python build)"]
        + RTCP_RECEIVED_PER_S * by["RTCP received: parse + RTT (Python _on_rtcp)"]
        + STUN_RESPONSES_BUILT_PER_S * by["STUN response built (aioice: ipaddress, byte-wise XOR)"]
        + STUN_RECEIVED_PER_S * by["STUN datagram in: guard parse + aioice parse (before)"]
    )
    after = (
        RTCP_SENT_PER_S * by["RTCP report sent (Tx.send_report)"]
        + RTCP_RECEIVED_PER_S * by["RTCP received: parse + RTT (C rtcp_read)"]
        + STUN_RESPONSES_BUILT_PER_S * by["STUN response built (fast IPv4 codecs)"]
        + STUN_RECEIVED_PER_S * by["STUN datagram in: one parse, fast codecs (now)"]
    )
    saved = before - after
    print(
        f"client side, these operations: {before:.1f} -> {after:.1f} us per call-second; "
        f"at 1,000 calls {saved / 10:.1f} % of a core saved ({before / 10:.1f} -> {after / 10:.1f} %)"
    )


if __name__ == "__main__":
    main()
