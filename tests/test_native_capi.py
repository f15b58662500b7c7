"""The C extension's Python-facing edges: setters, closed state, the libsrtp check and the counters.

Regression tests for issue 22's review of `_native.c`: a setter that failed without an exception set
(SystemError on `del tx.now`), `rx.closed = <object whose bool() raises>` swallowing the error, `Tx.fd`
reading 2**64-1 after close, libsrtp function pointers used without checking their signature, stale
kernel stamps falling back to the callback time uncounted, and SRTP replays counted apart from forgeries.
"""

from __future__ import annotations

import fcntl
import os
import socket
import struct
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pylibsrtp
import pytest
from pylibsrtp import _binding

from rtcload.media.engine.native import (
    EXPECTED_SRTP_SIGNATURE,
    NativeEngineStream,
    _native,
    native_available,
    srtp_signature_mismatch,
)
from rtcload.media.engine.rtcp import build_rr, compound
from rtcload.media.engine.rtp import pack_rtp
from rtcload.media.engine.stream import Codec, EngineStream
from rtcload.media.engine.takeover import Srtp

pytestmark = pytest.mark.skipif(not native_available(), reason="the C extension is not built")

KEY = bytes(range(30))
PCMU = Codec("pcmu", 0, 8000)
ROOT = Path(__file__).resolve().parents[1]


def session(outbound: bool) -> pylibsrtp.Session:
    ssrc_type = pylibsrtp.Policy.SSRC_ANY_OUTBOUND if outbound else pylibsrtp.Policy.SSRC_ANY_INBOUND
    return pylibsrtp.Session(pylibsrtp.Policy(key=KEY, ssrc_type=ssrc_type))


def context(srtp: Srtp) -> int:
    return int(_binding.ffi.cast("uintptr_t", srtp._context))


def new_rx() -> tuple[object, Srtp]:
    rx_srtp = Srtp(session(False))
    return _native.Rx(rx_srtp._session, context(rx_srtp), 0, 8000), rx_srtp


def new_tx() -> object:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    tx_srtp = Srtp(session(True))
    fd = os.dup(sock.fileno())
    sock.close()
    return _native.Tx(fd, "127.0.0.1", 9, tx_srtp._session, context(tx_srtp), 7, 0, 160)


class Falsy:
    def __bool__(self) -> bool:
        raise ZeroDivisionError("bool() of this object fails")


@pytest.mark.parametrize(
    ("kind", "field"),
    [
        ("tx", "now"),  # DOUBLE_GETSET
        ("tx", "next_rtcp"),
        ("tx", "marker"),  # BOOL_GETSET
        ("tx", "sending"),
        ("tx", "seq"),  # INT_GETSET
        ("rx", "rejected"),
        ("rx", "closed"),
    ],
)
def test_deleting_a_field_is_a_type_error_not_a_system_error(kind, field):
    obj = new_tx() if kind == "tx" else new_rx()[0]
    with pytest.raises(TypeError, match=f"cannot delete {field}"):
        delattr(obj, field)


def test_a_failing_bool_when_closing_a_receive_side_is_raised_and_the_stream_stays_open():
    rx, _ = new_rx()
    with pytest.raises(ZeroDivisionError):
        rx.closed = Falsy()
    assert rx.closed is False
    rx.closed = True
    assert rx.closed is True


def test_a_closed_send_side_reports_fd_minus_one():
    tx = new_tx()
    assert tx.fd >= 0
    tx.close()
    assert tx.fd == -1
    tx.close()  # idempotent
    assert tx.fd == -1


def test_the_libsrtp_functions_match_the_checked_2x_signature():
    assert srtp_signature_mismatch() is None
    assert _binding.ffi.typeof(_binding.lib.srtp_unprotect).cname == EXPECTED_SRTP_SIGNATURE


def test_a_libsrtp_3_style_signature_is_refused():
    """libsrtp 3 takes (ctx, const uint8_t *in, size_t in_len, uint8_t *out, size_t *out_len): C calling it
    as 2.x's (ctx, buf, int *len) would write past the buffer. The check names the function and both types."""
    ffi = _binding.ffi
    v3 = "srtp_err_status_t(*)(struct srtp_ctx_t_ *, const uint8_t *, size_t, uint8_t *, size_t *)"
    v2 = EXPECTED_SRTP_SIGNATURE
    lib = type("Lib", (), {})()
    lib.srtp_protect = ffi.cast(v2, 0)
    lib.srtp_unprotect = ffi.cast(v3, 0)
    lib.srtp_unprotect_rtcp = ffi.cast(v2, 0)
    lib.srtp_protect_rtcp = ffi.cast(v2, 0)  # the send thread's SRTCP (Tx.protect_rtcp)
    reason = srtp_signature_mismatch(ffi, lib)
    assert reason is not None and "srtp_unprotect is" in reason and "size_t" in reason
    lib.srtp_unprotect = ffi.cast(v2, 0)
    assert srtp_signature_mismatch(ffi, lib) is None


def test_a_mismatched_libsrtp_falls_back_to_the_python_path_with_one_log_line():
    """In a fresh interpreter whose pylibsrtp binding shows a libsrtp-3 signature: the extension is never
    configured, every call takes the Python path, and the reason is logged once."""
    code = textwrap.dedent(
        """
        import logging, sys
        logging.basicConfig(level=logging.WARNING, stream=sys.stdout, format="%(levelname)s %(message)s")
        from pylibsrtp import _binding
        ffi, real = _binding.ffi, _binding.lib
        class Lib:
            def __getattr__(self, name):
                return getattr(real, name)
        lib = Lib()
        lib.srtp_protect = ffi.cast(
            "srtp_err_status_t(*)(struct srtp_ctx_t_ *, const uint8_t *, size_t, uint8_t *, size_t *)", 0)
        _binding.lib = lib
        from rtcload.media.engine import native
        print("available", native.native_available(), native.native_path())
        """
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=env)
    assert out.returncode == 0, out.stderr
    assert "available False python" in out.stdout
    lines = [line for line in out.stdout.splitlines() if "not the checked 2.x API" in line]
    assert len(lines) == 1 and "srtp_protect is" in lines[0]


SIOCGSTAMPNS = 0x8907


def wait_until_the_kernel_stamps(sock: socket.socket, out: socket.socket) -> None:
    """Stamping switches on through the kernel's deferred work after the first SIOCGSTAMPNS: until then a
    datagram carries no stamp and the ioctl answers with its own time. Polls (bounded) until a datagram read
    40 ms after it was queued has a stamp at least 30 ms old, i.e. a real queue stamp."""
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        out.sendto(b"\x80probe", sock.getsockname())
        time.sleep(0.04)  # the datagram's age when read: what tells a real stamp from the ioctl's own time
        sock.recv(2048)
        stamp = fcntl.ioctl(sock.fileno(), SIOCGSTAMPNS, bytes(16))
        seconds, nanoseconds = struct.unpack("qq", stamp)
        if time.time() - (seconds + nanoseconds * 1e-9) >= 0.03:
            return
    raise AssertionError("the kernel never stamped a datagram on this socket within 20 s")


def test_a_datagram_with_no_kernel_stamp_is_not_counted_as_stale():
    """Before the kernel stamps a socket's datagrams, SIOCGSTAMPNS answers with the ioctl's own time: the
    engine must take the callback time without calling that a stale stamp (it did, on every datagram, while
    the kernel's deferred work had not switched stamping on)."""
    rx, _ = new_rx()
    sender = Srtp(session(True))
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    out = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    demux = _native.Demux(rx, lambda data, addr: None, sock.fileno(), None)
    try:
        for seq in range(1, 21):  # stamped or not, none of these is stale
            out.sendto(sender.protect(pack_rtp(0, seq, 160 * seq, 7, bytes(160))), sock.getsockname())
            demux(sock.recv(2048), ("127.0.0.1", 9))
        assert rx.packets == 20
        assert rx.stale_stamps == 0
    finally:
        sock.close()
        out.close()


def test_a_stale_kernel_stamp_is_counted_and_the_callback_time_used():
    """A datagram handled more than 1 s after the kernel queued it (or after a wall-clock step) has a stamp
    the engine cannot use: it falls back to the callback time, and says so in Rx.stale_stamps."""
    rx, _ = new_rx()
    sender = Srtp(session(True))
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    out = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    demux = _native.Demux(rx, lambda data, addr: None, sock.fileno(), None)  # enables the socket's stamps
    try:
        wait_until_the_kernel_stamps(sock, out)
        for seq in (1, 2):
            out.sendto(sender.protect(pack_rtp(0, seq, 160 * seq, 7, bytes(160))), sock.getsockname())
            data = sock.recv(2048)
            demux(data, ("127.0.0.1", 9))
        assert rx.stale_stamps == 0
        out.sendto(sender.protect(pack_rtp(0, 3, 480, 7, bytes(160))), sock.getsockname())
        data = sock.recv(2048)  # the socket's stamp is now this datagram's queue time...
        time.sleep(1.2)  # ...which is over 1 s old when it is handled: the point of this test is the delay
        before = time.monotonic()
        demux(data, ("127.0.0.1", 9))
        assert rx.stale_stamps == 1
        assert rx.last_rtp >= before  # the callback time, not the stale stamp
    finally:
        sock.close()
        out.close()


def test_replays_are_counted_apart_from_forgeries_on_both_paths():
    """SRTP/SRTCP replay (libsrtp replay_fail/replay_old) vs a forged packet vs oversized vs malformed."""
    sender = Srtp(session(True))
    first = sender.protect(pack_rtp(0, 100, 0, 7, bytes(160)))
    second = sender.protect(pack_rtp(0, 101, 160, 7, bytes(160)))
    rtcp = sender.protect_rtcp(compound(build_rr(7, [])))
    forged = bytearray(sender.protect(pack_rtp(0, 102, 320, 7, bytes(160))))  # a new index: checked, then fails
    forged[-1] ^= 0xFF
    datagrams = [first, second, first, second, rtcp, rtcp, bytes(forged), b"\x80" * 1501, b"\x80\x00\x01"]
    expected = {"replayed": 3, "unauthenticated": 1, "oversized": 1, "malformed": 1}

    class Link:
        relayed = False
        remote_addr = ("127.0.0.1", 9)

        def __init__(self) -> None:
            self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)

        def send(self, data: bytes) -> None:
            pass

        def fileno(self) -> int:
            return self.sock.fileno()

    for kind in (NativeEngineStream, EngineStream):
        stream = kind(Link(), Srtp(session(True)), Srtp(session(False)), PCMU, ssrc=9, cname="c")  # type: ignore[arg-type]
        for data in datagrams:
            stream.on_datagram(data, 1.0)
        assert stream.rejected_datagrams() == expected, kind.__name__
        assert stream.receive_stats.packets_received == 2
        stream.close()
