"""How long the wire goes silent while the event loop is blocked: the media clock's independence from Python.

One real engine stream (real libsrtp, loopback UDP) sends to a socket that records the kernel's receive
stamps (SO_TIMESTAMPNS); the loop then builds and collects a heap of reference cycles (a full collection,
as ended calls' aiortc objects cause under churn) and sleeps 300 ms. Printed: how long the loop was busy
and the largest interval between two packets on the wire. On the send thread the interval stays one
frame (20 ms); on a loop-driven clock it is the whole time the loop was busy. Bounded: one stream, ~2 s.

    python bench/blocked_loop.py                     # this checkout
    PYTHONPATH=/tmp/base python3 /tmp/base/bench/blocked_loop.py   # needs this file copied there
"""

from __future__ import annotations

import asyncio
import gc
import itertools
import os
import socket
import struct
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import pylibsrtp
import uvloop

from rtcload.media.engine.engine import MediaEngine
from rtcload.media.engine.native import NativeEngineStream
from rtcload.media.engine.stream import Codec
from rtcload.media.engine.takeover import Srtp
from rtcload.media.engine.udp_link import UdpLink

KEY = bytes(range(30))
SO_TIMESTAMPNS = getattr(socket, "SO_TIMESTAMPNS", 35)


class Cycle:
    def __init__(self) -> None:
        self.me = self
        self.payload = [object() for _ in range(4)]


def session(outbound: bool) -> pylibsrtp.Session:
    kind = pylibsrtp.Policy.SSRC_ANY_OUTBOUND if outbound else pylibsrtp.Policy.SSRC_ANY_INBOUND
    return pylibsrtp.Session(pylibsrtp.Policy(key=KEY, ssrc_type=kind))


def arrivals(sock: socket.socket) -> list[float]:
    sock.setblocking(False)
    out = []
    while True:
        try:
            _data, ancillary, _flags, _addr = sock.recvmsg(2048, socket.CMSG_SPACE(16))
        except BlockingIOError:
            return out
        for level, kind, data in ancillary:
            if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS:
                seconds, nanoseconds = struct.unpack("qq", data[:16])
                out.append(seconds + nanoseconds * 1e-9)


async def scenario(receiver: socket.socket) -> float:
    engine = MediaEngine(asyncio.get_running_loop())
    link = UdpLink(receiver.getsockname())
    stream = NativeEngineStream(link, Srtp(session(True)), Srtp(session(False)), Codec("pcmu", 0, 8000), 1, "b")  # type: ignore[arg-type]
    stream._next_rtcp = float("inf")
    stream.frames = (bytes(160),)
    stream.set_sending(True)
    engine.add(stream)
    await asyncio.sleep(0.2)
    started = time.monotonic()
    heap = [Cycle() for _ in range(400_000)]
    del heap
    gc.collect()
    time.sleep(0.3)
    busy = time.monotonic() - started
    await asyncio.sleep(0.2)
    engine.remove(stream)
    stream.close()
    return busy


def main() -> None:
    receiver = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    receiver.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    receiver.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
    receiver.bind(("127.0.0.1", 0))
    busy = uvloop.run(scenario(receiver))
    times = arrivals(receiver)
    gap = max(b - a for a, b in itertools.pairwise(times))
    print(f"loop busy {busy * 1000:.0f} ms; {len(times)} packets; largest interval on the wire {gap * 1000:.1f} ms")


if __name__ == "__main__":
    main()
