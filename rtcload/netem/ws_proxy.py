"""TCP-level chaos proxy for the signaling WebSocket: latency, drops, half-open stalls, slow reads.

It forwards bytes, so it works for any WebSocket (or TLS) stream without parsing frames. Each
accepted connection is a `_Link` with one pump per direction ("up" = client→server, "down" =
server→client). A pump reads, stamps the chunk with its due time (arrival + that direction's
latency) and queues it; a writer delivers chunks in order once due and while the link is not
stalled. The queue is bounded, so a stalled or slow link pushes back on the sender as TCP would.

Faults:
- `drop_all()` aborts every connection (RST-like, no WebSocket close frame); `schedule_drops()`
  does so at given delays; `drop_rate_per_s` drops each connection after an exponential time.
- `stall(seconds | None)` freezes the connections open now: the sockets stay open, nothing is
  forwarded either way (not even EOF) until the stall ends, or ever with None. New connections
  are not affected, so a client that detects the half-open socket can reconnect.
- `read_rate_*_bytes_s` makes the proxy read slowly from that side (a slow reader).
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

__all__ = ["ChaosProxy", "ProxyCounters"]

_CHUNK = 65536
_QUEUE_CHUNKS = 64


@dataclass
class ProxyCounters:
    accepted: int = 0
    active: int = 0
    dropped: int = 0  # connections the proxy aborted (drop_all, schedules, random drops)
    stalled: int = 0  # connections frozen by stall()
    upstream_failures: int = 0
    bytes_up: int = 0
    bytes_down: int = 0
    chunks_up: int = 0
    chunks_down: int = 0


class _Link:
    """One proxied connection: client socket ↔ upstream socket."""

    def __init__(self, proxy: ChaosProxy, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.proxy = proxy
        self.client = (reader, writer)
        self.upstream: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None
        self.flowing = asyncio.Event()  # cleared while stalled
        self.flowing.set()
        self.opened_at = time.monotonic()
        self._timers: list[asyncio.TimerHandle] = []
        self._closed = asyncio.Event()

    async def run(self) -> None:
        proxy = self.proxy
        try:
            self.upstream = await asyncio.open_connection(proxy.upstream_host, proxy.upstream_port)
        except OSError:
            proxy.counters.upstream_failures += 1
            self.abort()
            return
        if proxy.drop_rate_per_s > 0:
            self.drop_in(proxy.rng.expovariate(proxy.drop_rate_per_s))
        pumps = {
            asyncio.ensure_future(self._pump("up", self.client[0], self.upstream[1])),
            asyncio.ensure_future(self._pump("down", self.upstream[0], self.client[1])),
        }
        closed = asyncio.ensure_future(self._closed.wait())
        try:
            running = set(pumps)
            while running:  # until both directions saw EOF, one failed, or the link was aborted
                done, _ = await asyncio.wait(running | {closed}, return_when=asyncio.FIRST_COMPLETED)
                if closed in done:
                    break
                running -= done
                if any(task.exception() is not None for task in done):
                    break
        finally:
            for task in (*pumps, closed):
                task.cancel()
            self.abort()

    async def _pump(self, direction: str, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        queue: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue(_QUEUE_CHUNKS)
        deliver = asyncio.ensure_future(self._deliver(direction, queue, writer))
        try:
            loop = asyncio.get_running_loop()
            while True:
                data = await reader.read(_CHUNK)
                rate = self.proxy.read_rate(direction)
                if rate is None or not data:
                    await queue.put((loop.time() + self.proxy.latency(direction), data))
                    if not data:
                        break
                    continue
                # a slow reader: take `rate` x 50 ms at a time, pausing len/rate after each piece
                size = max(1, int(rate * 0.05))
                for start in range(0, len(data), size):
                    piece = data[start : start + size]
                    await queue.put((loop.time() + self.proxy.latency(direction), piece))
                    await asyncio.sleep(len(piece) / rate)
            await deliver
        finally:
            deliver.cancel()

    async def _deliver(
        self, direction: str, queue: asyncio.Queue[tuple[float, bytes]], writer: asyncio.StreamWriter
    ) -> None:
        loop = asyncio.get_running_loop()
        counters = self.proxy.counters
        while True:
            due, data = await queue.get()
            wait = due - loop.time()
            if wait > 0:
                await asyncio.sleep(wait)
            await self.flowing.wait()
            if not data:
                if writer.can_write_eof():
                    writer.write_eof()
                return
            writer.write(data)
            if direction == "up":
                counters.bytes_up += len(data)
                counters.chunks_up += 1
            else:
                counters.bytes_down += len(data)
                counters.chunks_down += 1
            await writer.drain()

    def drop_in(self, delay: float) -> None:
        self._timers.append(asyncio.get_running_loop().call_later(delay, self.drop))

    def drop(self) -> None:
        if not self._closed.is_set():
            self.proxy.counters.dropped += 1
            self.abort()

    def stall(self, seconds: float | None) -> None:
        self.proxy.counters.stalled += 1
        self.flowing.clear()
        if seconds is not None:
            self._timers.append(asyncio.get_running_loop().call_later(seconds, self.flowing.set))

    def abort(self) -> None:
        """Close both sockets at once without flushing (the peer sees a reset / abrupt EOF)."""
        self._closed.set()
        for timer in self._timers:
            timer.cancel()
        self._timers.clear()
        for pair in (self.client, self.upstream):
            if pair is not None:
                pair[1].transport.abort()


class ChaosProxy:
    """`async with ChaosProxy("ws://127.0.0.1:8081/", listen_port=0) as proxy: client uses proxy.url`."""

    def __init__(
        self,
        upstream_url: str,
        listen_host: str = "127.0.0.1",
        listen_port: int = 0,
        latency_s: float = 0.0,
        drop_rate_per_s: float = 0.0,
        seed: int | None = None,
    ) -> None:
        parts = urlsplit(upstream_url)
        if parts.hostname is None:
            raise ValueError(f"upstream url without a host: {upstream_url!r}")
        self.upstream_url = upstream_url
        self.upstream_host = parts.hostname
        self.upstream_port = parts.port or (443 if parts.scheme in ("wss", "https") else 80)
        self._parts = parts
        self.listen_host, self.listen_port = listen_host, listen_port
        self.latency_up_s = self.latency_down_s = latency_s
        self.read_rate_up_bytes_s: float | None = None
        self.read_rate_down_bytes_s: float | None = None
        self.drop_rate_per_s = drop_rate_per_s  # applies to connections accepted from now on
        self.rng = random.Random(seed)
        self.counters = ProxyCounters()
        self.links: set[_Link] = set()
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._timers: list[asyncio.TimerHandle] = []

    # ------------------------------------------------------------ knobs

    @property
    def latency_s(self) -> float:
        return max(self.latency_up_s, self.latency_down_s)

    @latency_s.setter
    def latency_s(self, value: float) -> None:
        """Added one-way latency in both directions (round trips grow by twice this)."""
        self.latency_up_s = self.latency_down_s = value

    def latency(self, direction: str) -> float:
        return self.latency_up_s if direction == "up" else self.latency_down_s

    def slow_reads(self, bytes_s: float | None) -> None:
        """Read from both sides at most `bytes_s` (None: full speed)."""
        self.read_rate_up_bytes_s = self.read_rate_down_bytes_s = bytes_s

    def read_rate(self, direction: str) -> float | None:
        return self.read_rate_up_bytes_s if direction == "up" else self.read_rate_down_bytes_s

    def drop_all(self) -> int:
        """Abort every open connection now; returns how many."""
        links = [link for link in self.links if not link._closed.is_set()]
        for link in links:
            link.drop()
        return len(links)

    def schedule_drops(self, delays_s: Iterable[float]) -> None:
        """drop_all() after each delay (seconds from now)."""
        loop = asyncio.get_running_loop()
        self._timers.extend(loop.call_later(delay, self.drop_all) for delay in delays_s)

    def stall(self, seconds: float | None = None) -> int:
        """Half-open the connections open now for `seconds` (None: forever); returns how many."""
        links = [link for link in self.links if not link._closed.is_set()]
        for link in links:
            link.stall(seconds)
        return len(links)

    # ------------------------------------------------------------ lifecycle

    @property
    def url(self) -> str:
        netloc = f"{self.listen_host}:{self.listen_port}"
        return urlunsplit((self._parts.scheme, netloc, self._parts.path, self._parts.query, self._parts.fragment))

    async def start(self) -> ChaosProxy:
        self._server = await asyncio.start_server(self._accept, self.listen_host, self.listen_port)
        self.listen_port = self._server.sockets[0].getsockname()[1]
        return self

    async def stop(self) -> None:
        for timer in self._timers:
            timer.cancel()
        if self._server is not None:
            self._server.close()
        for link in list(self.links):
            link.abort()
        if self._tasks:  # aborted links end their run() promptly; cancelling would upset asyncio.streams
            await asyncio.wait(list(self._tasks), timeout=5)
        if self._server is not None:
            await self._server.wait_closed()
            self._server = None

    async def __aenter__(self) -> ChaosProxy:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        link = _Link(self, reader, writer)
        self.links.add(link)
        self.counters.accepted += 1
        self.counters.active += 1
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
        try:
            await link.run()
        finally:
            self.links.discard(link)
            self.counters.active -= 1
            if task is not None:
                self._tasks.discard(task)
