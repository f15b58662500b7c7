"""Stray datagrams that aiortc cannot survive are dropped before they reach it, and counted.

Why: a zero-length UDP datagram (a NAT keepalive, or anyone who learns the port) goes from aioice to
aiortc's DTLS loop, which reads `data[0]`, raises IndexError and closes the transport: the call's media
ends. Every peer connection rtcload makes (certificate.new_peer_connection) installs this guard once per
process; the engine's own receive paths drop and count empty datagrams before this point.
"""

from __future__ import annotations

from typing import Any

import aioice.ice

_ORIGINAL = aioice.ice.StunProtocol.datagram_received
empty_datagrams_dropped = 0  # this process, every path that reached aioice


def _datagram_received(self: Any, data: bytes | str, addr: tuple[Any, ...]) -> None:
    global empty_datagrams_dropped
    if not data:
        empty_datagrams_dropped += 1
        return
    _ORIGINAL(self, data, addr)


def install_stray_datagram_guard() -> None:
    """Idempotent: aioice's protocol drops (and counts) empty datagrams from now on."""
    aioice.ice.StunProtocol.datagram_received = _datagram_received  # type: ignore[method-assign]
