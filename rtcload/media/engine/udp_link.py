"""The engine's Link over a plain UDP socket of its own, with no ICE: what benches and tests drive streams with.

In a call, takeover.Link wraps the ICE pair aiortc selected; this is the same interface (send, fileno,
relayed) over a socket bound to 127.0.0.1, so the C path's Tx can `dup()` it like an ICE socket.
"""

from __future__ import annotations

import socket


class UdpLink:
    relayed = False

    def __init__(self, remote: tuple[str, int], host: str = "127.0.0.1") -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((host, 0))
        self.remote_addr = remote

    def send(self, data: bytes) -> None:
        self.sock.sendto(data, self.remote_addr)

    def closing(self) -> bool:
        return self.sock.fileno() < 0

    def fileno(self) -> int:
        return self.sock.fileno()
