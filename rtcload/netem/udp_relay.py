"""asyncio UDP relay applying an `Impairment` per direction between a client and a media target.

One socket on 127.0.0.1 (or `host`): datagrams from the target address (or any address in
`target_aliases`) go "down" to the client; every other source is the client, remembered as the
last-seen client address, and goes "up" to the target. The emulator is told the relay's address
as the client's candidate and the client the relay's address as the emulator's candidate, so both
ICE agents see only the relay and never find a direct path around it.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from dataclasses import asdict, dataclass, field
from typing import Any

from rtcload.netem.impairment import Impairer, Impairment, packet_class

Addr = tuple[str, int]

__all__ = ["DirectionCounters", "UdpRelay"]


@dataclass
class DirectionCounters:
    packets_in: int = 0
    packets_out: int = 0
    dropped: int = 0
    delayed: int = 0  # copies sent later than on arrival (delay, jitter or rate queue)
    duplicated: int = 0
    bytes_in: int = 0
    bytes_out: int = 0
    dropped_by: dict[str, int] = field(default_factory=dict)  # reason → count
    rtp_in: int = 0
    rtp_dropped: int = 0
    # per RTP packet in arrival order, True when dropped (bounded): burst analysis of what was injected
    rtp_loss_trace: deque[bool] = field(default_factory=lambda: deque(maxlen=200_000))

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data.pop("rtp_loss_trace")
        return data


class _Protocol(asyncio.DatagramProtocol):
    def __init__(self, relay: UdpRelay) -> None:
        self.relay = relay

    def datagram_received(self, data: bytes, addr: tuple[Any, ...]) -> None:
        self.relay._received(data, (addr[0], addr[1]))

    def error_received(self, exc: Exception) -> None:  # ICMP port unreachable etc.: UDP is lossy anyway
        self.relay.errors += 1


class UdpRelay:
    """Forward UDP between the last-seen client and `target`, impairing "up" and "down" independently."""

    def __init__(
        self,
        target: Addr | None,
        up: Impairment | None = None,
        down: Impairment | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        client: Addr | None = None,
    ) -> None:
        self.target = target
        self.target_aliases: set[Addr] = set()
        self.client = client  # initial guess (from the offer) until the client's first datagram
        self.host, self.port = host, port
        self.up = Impairer(up or Impairment(), "up")
        self.down = Impairer(down or Impairment(), "down")
        self.counters = {"up": DirectionCounters(), "down": DirectionCounters()}
        self.errors = 0
        self._transport: asyncio.DatagramTransport | None = None
        self._started_at = 0.0
        self._timers: set[asyncio.TimerHandle] = set()

    @property
    def address(self) -> Addr:
        return self.host, self.port

    async def start(self) -> UdpRelay:
        loop = asyncio.get_running_loop()
        transport, _ = await loop.create_datagram_endpoint(lambda: _Protocol(self), local_addr=(self.host, self.port))
        self._transport = transport
        self.port = transport.get_extra_info("sockname")[1]
        self._started_at = time.monotonic()
        return self

    async def stop(self) -> None:
        for timer in self._timers:
            timer.cancel()
        self._timers.clear()
        if self._transport is not None:
            self._transport.close()
            self._transport = None

    async def __aenter__(self) -> UdpRelay:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    def set_impairment(self, up: Impairment | None = None, down: Impairment | None = None) -> None:
        """Change one or both directions mid-call (None leaves that direction as it is)."""
        if up is not None:
            self.up.reconfigure(up)
        if down is not None:
            self.down.reconfigure(down)

    def elapsed(self) -> float:
        """Seconds since start: the clock of the blackout schedule."""
        return time.monotonic() - self._started_at

    def _is_target(self, addr: Addr) -> bool:
        return addr == self.target or addr in self.target_aliases

    def _received(self, data: bytes, addr: Addr) -> None:
        if self._is_target(addr):
            direction, destination = "down", self.client
        else:
            self.client = addr
            direction, destination = "up", self.target
        impairer = self.up if direction == "up" else self.down
        counters = self.counters[direction]
        counters.packets_in += 1
        counters.bytes_in += len(data)
        kind = packet_class(data)
        now = self.elapsed()
        send_times = impairer.decide(now, len(data), kind)
        if kind == "rtp":
            counters.rtp_in += 1
            counters.rtp_dropped += not send_times
            counters.rtp_loss_trace.append(not send_times)
        if destination is None or not send_times:
            counters.dropped += 1
            reason = impairer.last_drop.value if impairer.last_drop is not None else "no-destination"
            counters.dropped_by[reason] = counters.dropped_by.get(reason, 0) + 1
            return
        if len(send_times) > 1:
            counters.duplicated += len(send_times) - 1
        for send_at in send_times:
            wait = send_at - now
            if wait <= 0:
                self._send(data, destination, counters)
            else:
                counters.delayed += 1
                self._send_later(wait, data, destination, counters)

    def _send_later(self, wait: float, data: bytes, destination: Addr, counters: DirectionCounters) -> None:
        loop = asyncio.get_running_loop()
        handle: asyncio.TimerHandle

        def fire() -> None:
            self._timers.discard(handle)
            self._send(data, destination, counters)

        handle = loop.call_later(wait, fire)
        self._timers.add(handle)

    def _send(self, data: bytes, destination: Addr, counters: DirectionCounters) -> None:
        if self._transport is None:
            return
        self._transport.sendto(data, destination)
        counters.packets_out += 1
        counters.bytes_out += len(data)

    def snapshot(self) -> dict[str, Any]:
        """Counters per direction as plain data (for reports and release())."""
        return {
            "relay": f"{self.host}:{self.port}",
            "target": None if self.target is None else f"{self.target[0]}:{self.target[1]}",
            "up": self.counters["up"].as_dict(),
            "down": self.counters["down"].as_dict(),
            "errors": self.errors,
        }
