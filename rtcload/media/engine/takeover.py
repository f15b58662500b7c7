"""Taking a call's media over from aiortc once DTLS is connected.

Checked against aiortc 1.16.0 and aioice 0.13.0 (pinned in pyproject.toml); the private names used:
- `RTCDtlsTransport._tx_srtp` / `._rx_srtp` (pylibsrtp Sessions, set in `_setup_srtp` before the
  state becomes "connected") and `.transport._connection` (the aioice Connection);
- `Connection._nominated[1]` (the selected CandidatePair: `.protocol`, `.remote_addr`,
  `.local_candidate.type`) and `Connection._protocols` (one StunProtocol per local candidate);
- a relayed candidate's protocol has a `TurnTransport` whose `_TurnTransport__inner_protocol` is the TURN
  client (`peer_to_channel`, `channel_refresh_at`, `_send`);
- pylibsrtp 1.0 `Session._srtp` / `._cdata` / `._buffer` (its context and 1500-byte work buffer): `Srtp`
  calls libsrtp on them directly, which halves the per-packet cost of `Session.protect`/`unprotect`;
- `RTCPeerConnection.__connect` calls `sender.send(params)` / `receiver.receive(params)` once DTLS is
  connected; replacing them per instance means aiortc never starts its RTP/RTCP tasks or the decoder
  thread, and `sender.stop()`/`receiver.stop()` are no-ops because they never "started".

Receive: each local candidate's `StunProtocol.datagram_received` is shadowed per instance. RTP/RTCP
(first byte 128..191, RFC 7983) goes to the engine straight from the socket read; STUN (consent
freshness, ICE) and DTLS (close_notify) take aiortc's original path, so both keep working.
"""

from __future__ import annotations

import struct
import time
from collections.abc import Awaitable, Callable
from typing import Any

import pylibsrtp
from aiortc import RTCRtpTransceiver
from pylibsrtp import _binding

_CHANNEL_HEADER = struct.Struct("!HH")

DatagramSink = Callable[[bytes, float], None]


class Link:
    """The selected ICE pair's send path: a plain `sendto` for host/srflx pairs, TURN channel data for relay."""

    __slots__ = ("_closed", "_connection", "_protocol", "_remote", "_sendto", "_turn", "relayed")

    def __init__(self, connection: Any) -> None:
        self._connection = connection
        self._turn: Any = None
        self.relayed = False
        self.refresh()

    def refresh(self) -> None:
        """Re-read the nominated pair (call after ICE changes it)."""
        pair = self._connection._nominated.get(1)
        if pair is None:
            raise ConnectionError("ICE has no selected pair")
        self._protocol = pair.protocol
        self._remote = pair.remote_addr
        transport = pair.protocol.transport
        self._sendto = transport.sendto
        self.relayed = pair.local_candidate.type == "relay"
        self._turn = getattr(transport, "_TurnTransport__inner_protocol", None) if self.relayed else None
        # asyncio transports say is_closing(); aioice's TurnTransport has none (its TURN client's transport has)
        inner = getattr(self._turn, "transport", None)
        closing = getattr(transport, "is_closing", None) or getattr(inner, "is_closing", None)
        self._closed = closing or (lambda: False)

    def send(self, data: bytes) -> None:
        """Raises ConnectionError once the pair's socket is closed (the engine then drops the stream),
        instead of asyncio logging "socket.send() raised exception." for every frame of a dead call."""
        if self._closed():
            raise ConnectionError("the call's ICE socket is closed")
        turn = self._turn
        if turn is None:
            self._sendto(data, self._remote)
            return
        channel = turn.peer_to_channel.get(self._remote)
        if channel is not None and time.time() < turn.channel_refresh_at.get(channel, 0.0):
            turn._send(_CHANNEL_HEADER.pack(channel, len(data)) + data)
        else:  # no channel yet, or it needs a refresh: aioice binds/refreshes (one task per packet, rare)
            self._sendto(data, self._remote)

    def closing(self) -> bool:
        """True once the pair's socket is closed or closing (send() would raise ConnectionError)."""
        return bool(self._closed())

    @property
    def remote_addr(self) -> tuple[str, int]:
        return self._remote

    def fileno(self) -> int:
        """The selected pair's UDP socket (the native engine sends on a dup() of it); OSError if there is none."""
        sock = self._protocol.transport.get_extra_info("socket")
        if sock is None:
            raise OSError("the selected pair's transport has no socket")
        return int(sock.fileno())


def socket_fd(protocol: Any) -> int:
    """The UDP socket a candidate's protocol reads, or -1 (a TURN-relayed candidate has no socket of its own)."""
    try:
        sock = protocol.transport.get_extra_info("socket")
        return -1 if sock is None else int(sock.fileno())
    except (AttributeError, OSError, ValueError):
        return -1


def intercept_datagrams(
    connection: Any, sink: DatagramSink, native: Callable[[Callable[[bytes, Any], None], int], Any] | None = None
) -> Callable[[], None]:
    """Send every RTP/RTCP datagram arriving on any of the call's local candidates to `sink(data, arrival)`.

    Returns a function that restores aiortc's path. The arrival time is taken at the socket read.
    `native(original, fd)`, when given, builds the C callable that does the same (native.py) instead; it
    stamps arrivals with the kernel's receive time of the datagram on socket `fd`.
    """
    restored: list[Any] = []
    monotonic = time.monotonic
    for protocol in list(connection._protocols):
        original = protocol.datagram_received
        if native is not None:
            protocol.datagram_received = native(original, socket_fd(protocol))
            restored.append(protocol)
            continue

        def received(data: bytes, addr: Any, _original: Any = original) -> None:
            if not data:  # zero-length: aiortc's DTLS loop would die on it (stray.py); counted there
                _original(data, addr)
            elif 127 < data[0] < 192:
                sink(data, monotonic())
            else:
                _original(data, addr)

        protocol.datagram_received = received
        restored.append(protocol)

    def restore() -> None:
        for protocol in restored:
            protocol.__dict__.pop("datagram_received", None)

    return restore


def hook_transceiver(
    transceiver: RTCRtpTransceiver,
    on_send: Callable[[Any], Awaitable[None]],
    on_receive: Callable[[Any], Awaitable[None]],
) -> None:
    """Replace aiortc's sender.send / receiver.receive of this transceiver with the engine's hand-over."""
    transceiver.sender.send = on_send  # type: ignore[method-assign]
    transceiver.receiver.receive = on_receive  # type: ignore[method-assign]


_lib = _binding.lib
_MAX_PLAIN_RTP = 1500 - pylibsrtp.SRTP_MAX_TRAILER_LEN
_MAX_PLAIN_RTCP = 1500 - pylibsrtp.SRTP_MAX_SRTCP_TRAILER_LEN


class Srtp:
    """One direction's libsrtp context, called without pylibsrtp's per-call allocations (the hot path).

    Raises pylibsrtp.Error like pylibsrtp does (replayed, unauthenticated or oversized packets).
    """

    __slots__ = ("_buffer", "_cdata", "_context", "_length", "_session", "status")

    def __init__(self, session: pylibsrtp.Session) -> None:
        self._session = session  # keeps the context alive: pylibsrtp frees it when the Session is collected
        self._context = session._srtp[0]
        self._cdata = session._cdata
        self._buffer = session._buffer
        self._length = _binding.ffi.new("int *")
        self.status = 0  # libsrtp's status of the last failed call (9, 10: a replay)

    def _run(self, data: bytes, function: Any, limit: int) -> bytes:
        size = len(data)
        if size > limit:
            raise pylibsrtp.Error(f"packet of {size} bytes is too long")
        length = self._length
        length[0] = size
        self._buffer[0:size] = data
        status = function(self._context, self._cdata, length)
        if status:
            self.status = status
            raise pylibsrtp.Error(f"libsrtp error {status}")
        return self._buffer[0 : length[0]]

    def protect(self, data: bytes) -> bytes:
        return self._run(data, _lib.srtp_protect, _MAX_PLAIN_RTP)

    def protect_rtcp(self, data: bytes) -> bytes:
        return self._run(data, _lib.srtp_protect_rtcp, _MAX_PLAIN_RTCP)

    def unprotect(self, data: bytes) -> bytes:
        return self._run(data, _lib.srtp_unprotect, 1500)

    def unprotect_rtcp(self, data: bytes) -> bytes:
        return self._run(data, _lib.srtp_unprotect_rtcp, 1500)


def srtp_sessions(dtls_transport: Any) -> tuple[Srtp, Srtp]:
    """(tx, rx) SRTP contexts of a connected DTLS transport."""
    tx, rx = dtls_transport._tx_srtp, dtls_transport._rx_srtp
    if tx is None or rx is None:
        raise ConnectionError("DTLS transport has no SRTP keys yet")
    return Srtp(tx), Srtp(rx)


def ice_connection(dtls_transport: Any) -> Any:
    return dtls_transport.transport._connection
