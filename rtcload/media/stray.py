"""Stray datagrams at a call's media ports: dropped before aiortc sees what it cannot use, and counted per call.

Why: a zero-length UDP datagram (a NAT keepalive, or anyone who learns the port) goes from aioice to
aiortc's DTLS loop, which reads `data[0]`, raises IndexError and closes the transport: the call's media
ends. Every peer connection rtcload makes (certificate.new_peer_connection) installs this guard once per
process. It also counts, per ICE connection (so per call), every datagram that is neither media nor a
STUN/DTLS packet aiortc would act on, so a soak or hostile-network run shows what hit its ports:

- `empty`: zero-length (aiortc would die on it);
- `oversized`: in RTP/RTCP's range (128..191) and over 1,500 bytes: pylibsrtp raises ValueError ("packet
  is too long") where aiortc catches only pylibsrtp.Error, and its DTLS transport closes (the lean and
  naive paths, the emulator's aiortc answerers, and every call before the engine takes it over);
- `stun`: in STUN's first-byte range (RFC 7983: 0..3) but not a STUN message, or a STUN request aioice
  refused (wrong method, no or wrong credentials: answered 400/401, as ICE requires);
- `dtls`: in DTLS's range (20..63) but not DTLS record framing (content type, version 0xFEnn, length);
  a well-framed forged record goes on to OpenSSL, which discards it silently (not counted);
- `unknown`: outside every RFC 7983 range (aiortc ignores these).

Each drop here is exactly what aioice/aiortc would have done with the datagram (ignore it), minus the
crash on an empty one. RTP/RTCP-range datagrams that fail SRTP are counted where they fail: by the
engine's receive path for calls it carries, and on aiortc's path (the lean and naive baselines, every
call before the engine takes it over) by a counting wrapper around aiortc's receive SRTP session
(`unauthenticated`, `replayed`, `malformed` for shorter than a header); aiortc still drops them as
before. `AudioSession.rejected_datagrams()` adds everything up per call.
"""

from __future__ import annotations

import weakref
from collections import Counter
from typing import Any

import aioice.ice
import pylibsrtp
from aioice import stun

from rtcload.media.aiortc_private import dtls, ice
from rtcload.media.aiortc_private import stun as fast_stun

# Every kind of rejected datagram, here and in the engine: a bounded label set (Prometheus `kind`).
KINDS = ("empty", "oversized", "unauthenticated", "replayed", "malformed", "stun", "dtls", "unknown")

_ORIGINAL = aioice.ice.StunProtocol.datagram_received
_ORIGINAL_RESPOND_ERROR = aioice.ice.Connection.respond_error
empty_datagrams_dropped = 0  # this process, every path that reached aioice
_per_connection: weakref.WeakKeyDictionary[Any, Counter[str]] = weakref.WeakKeyDictionary()
MAX_SRTP_DATAGRAM = 1500  # pylibsrtp's unprotect buffer (Session._cdata): longer packets raise ValueError
_DTLS_CONTENT_TYPES = frozenset({20, 21, 22, 23, 24, 25})  # RFC 9147 also has ack (26) and cid/unified headers


def _count(connection: Any, kind: str) -> None:
    try:
        counts = _per_connection.get(connection)
        if counts is None:
            counts = _per_connection[connection] = Counter()
    except TypeError:  # not weak-referenceable: counted for the process only
        return
    counts[kind] += 1


def dtls_framed(data: bytes) -> bool:
    """True when `data` is a sequence of DTLS 1.0/1.2 records (13-byte header: type, 0xFEnn version,
    epoch, sequence, length) that fills the datagram exactly. DTLS 1.3's unified header (first byte
    0x2X..0x3X) is passed on unchecked: aiortc may negotiate it."""
    if data[0] >= 32:
        return True
    position = 0
    while position < len(data):
        if len(data) - position < 13 or data[position] not in _DTLS_CONTENT_TYPES or data[position + 1] != 0xFE:
            return False
        position += 13 + int.from_bytes(data[position + 11 : position + 13], "big")
    return position == len(data)


def _datagram_received(self: Any, data: bytes | str, addr: tuple[Any, ...]) -> None:
    global empty_datagrams_dropped
    if not data:
        empty_datagrams_dropped += 1
        _count(self.receiver, "empty")
        return
    first = data[0]
    if isinstance(first, int):
        if first < 4:
            try:
                message = stun.parse_message(data)  # type: ignore[arg-type]
            except ValueError:  # aioice would hand it to aiortc, which ignores this range
                _count(self.receiver, "stun")
                return
            fast_stun.dispatch(self, message, addr)  # aioice's own handling, without parsing it again
            return
        elif 19 < first < 64:
            if not dtls_framed(data):  # type: ignore[arg-type]
                _count(self.receiver, "dtls")
                return
        elif 127 < first < 192:
            if len(data) > MAX_SRTP_DATAGRAM:
                _count(self.receiver, "oversized")
                return
        else:
            _count(self.receiver, "unknown")
            return
    _ORIGINAL(self, data, addr)


def _respond_error(self: Any, request: Any, addr: Any, protocol: Any, error_code: tuple[int, str]) -> None:
    """aioice refuses a STUN request (not a Binding, unauthenticated, role conflict): counted as `stun`."""
    if error_code[0] != 487:  # a role conflict is ICE working as designed, not a stray datagram
        _count(self, "stun")
    _ORIGINAL_RESPOND_ERROR(self, request, addr, protocol, error_code)


def srtp_failure_kind(exc: pylibsrtp.Error) -> str:
    """`replayed` for libsrtp's replay_fail/replay_old (pylibsrtp says "replay check failed ..."), else
    `unauthenticated`."""
    return "replayed" if "replay" in str(exc) else "unauthenticated"


class CountingSession:
    """aiortc's receive SRTP session, counting on the call's ICE connection what fails to unprotect.

    Everything else (and what the engine's takeover reads: `_srtp`, `_cdata`, `_buffer`) is the wrapped
    pylibsrtp Session's own; failures still raise, so aiortc drops them exactly as before.
    """

    __slots__ = ("_connection", "_inner")

    def __init__(self, inner: pylibsrtp.Session, connection: Any) -> None:
        self._inner = inner
        self._connection = connection

    def _failed(self, data: bytes, exc: pylibsrtp.Error) -> None:
        _count(self._connection, "malformed" if len(data) < 12 else srtp_failure_kind(exc))

    def unprotect(self, data: bytes) -> bytes:
        try:
            return self._inner.unprotect(data)
        except pylibsrtp.Error as exc:
            self._failed(data, exc)
            raise

    def unprotect_rtcp(self, data: bytes) -> bytes:
        try:
            return self._inner.unprotect_rtcp(data)
        except pylibsrtp.Error as exc:
            self._failed(data, exc)
            raise

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


def _setup_srtp(self: Any) -> None:
    dtls.ORIGINAL_SETUP_SRTP(self)
    received = dtls.receive_srtp(self)
    if received is not None and not isinstance(received, CountingSession):
        dtls.set_receive_srtp(self, CountingSession(received, ice.connection_or_none(self)))


def install_stray_datagram_guard() -> None:
    """Idempotent: aioice's protocol drops (and counts) stray datagrams from now on, and aiortc's receive
    SRTP sessions count what fails to unprotect."""
    aioice.ice.StunProtocol.datagram_received = _datagram_received  # type: ignore[method-assign]
    fast_stun.install()
    aioice.ice.Connection.respond_error = _respond_error  # type: ignore[method-assign]
    dtls.replace_setup_srtp(_setup_srtp)


def counts_for(connection: Any) -> dict[str, int]:
    """What the guard dropped (or aioice refused) on one ICE connection's sockets, by kind."""
    if connection is None:
        return {}
    try:
        return dict(_per_connection.get(connection, ()))
    except TypeError:
        return {}


def merge(*parts: dict[str, int]) -> dict[str, int]:
    """Counts by kind added up, zero kinds left out, in KINDS order."""
    total: Counter[str] = Counter()
    for part in parts:
        total.update(part)
    return {kind: total[kind] for kind in KINDS if total[kind] > 0}
