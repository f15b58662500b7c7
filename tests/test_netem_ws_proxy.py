"""The signaling chaos proxy in front of the real emulator, with rtcload's SignalingClient behind it."""

from __future__ import annotations

import asyncio

from rtcload.netem.ws_proxy import ChaosProxy
from rtcload.signaling import EventKind, HealthConfig


def next_event(client, kind: EventKind) -> asyncio.Future:
    """A future resolved with the loop time of the client's next `kind` event."""
    loop = asyncio.get_running_loop()
    seen: asyncio.Future = loop.create_future()

    def listener(event) -> None:
        if event.kind is kind and not seen.done():
            seen.set_result(loop.time())

    client.events.subscribe(listener)
    return seen


async def test_client_registers_through_the_proxy(emulator, make_client):
    async with ChaosProxy(emulator.url) as proxy:
        client = await make_client("alice", url=proxy.url)
        assert client.ready and client.sessid
        assert [s.sessid for s in emulator.sessions_of("alice")] == [client.sessid]
        assert proxy.counters.accepted == 1 and proxy.counters.active == 1
        assert proxy.counters.bytes_up > 0 and proxy.counters.bytes_down > 0


async def test_added_latency_per_direction_adds_up_in_a_round_trip(emulator, make_client):
    async with ChaosProxy(emulator.url) as proxy:
        client = await make_client("alice", url=proxy.url)
        base = min([await client.ping() for _ in range(3)])
        proxy.latency_up_s, proxy.latency_down_s = 0.05, 0.15
        rtt = await client.ping()
        assert rtt - base + 0.002 >= 0.2 and rtt - base < 0.2 + 0.05, (base, rtt)
        proxy.latency_s = 0.0
        assert await client.ping() < base + 0.05


async def test_drop_all_makes_the_client_reconnect(emulator, make_client):
    async with ChaosProxy(emulator.url) as proxy:
        client = await make_client("alice", url=proxy.url)
        reconnected = next_event(client, EventKind.RECONNECTED)
        assert proxy.drop_all() == 1
        await asyncio.wait_for(reconnected, 15)
        assert client.ready and client.reconnect_count == 1
        assert proxy.counters.dropped == 1 and proxy.counters.accepted >= 2


async def test_scheduled_and_random_drops(emulator, make_client):
    async with ChaosProxy(emulator.url, seed=3) as proxy:
        client = await make_client("alice", url=proxy.url)
        first = next_event(client, EventKind.RECONNECTED)
        proxy.schedule_drops([0.2])
        await asyncio.wait_for(first, 15)
        proxy.drop_rate_per_s = 2.0  # each new connection lives Exp(mean 0.5 s)
        reconnects = asyncio.Event()
        client.events.subscribe(
            lambda e: reconnects.set() if e.kind is EventKind.RECONNECTED and client.reconnect_count >= 3 else None
        )
        proxy.drop_all()
        await asyncio.wait_for(reconnects.wait(), 30)
        proxy.drop_rate_per_s = 0.0
        assert proxy.counters.dropped >= 3
        steady = next_event(client, EventKind.RECONNECTED)
        proxy.drop_all()  # the next connection is not randomly dropped any more
        await asyncio.wait_for(steady, 15)
        await client.ping()


async def test_slow_reads_stretch_a_round_trip(emulator, make_client):
    async with ChaosProxy(emulator.url) as proxy:
        client = await make_client("alice", url=proxy.url)
        before = proxy.counters.bytes_down
        proxy.read_rate_down_bytes_s = 400.0
        rtt = await client.ping()
        pong_bytes = proxy.counters.bytes_down - before
        # each 20-byte chunk (rate x 50 ms) is followed by a pause of len/rate before the next read
        assert rtt >= (pong_bytes - 20) / 400.0 > 0.1, (rtt, pong_bytes)


async def test_half_open_stall_is_detected_by_the_health_probe_and_recovered(emulator, make_client):
    health = HealthConfig(inbound_silence_s=0.5, probe_timeout_s=0.5, check_every_s=0.1)
    async with ChaosProxy(emulator.url) as proxy:
        client = await make_client("alice", url=proxy.url, health=health)
        old_sessid = client.sessid
        detected = next_event(client, EventKind.RECOVERY_REQUIRED)
        reconnected = next_event(client, EventKind.RECONNECTED)
        stalled_at = asyncio.get_running_loop().time()
        assert proxy.stall(None) == 1  # forever: only a new connection can help
        # documented bound: silence noticed within inbound_silence + check_every, then the probe is
        # declared lost within probe_timeout + check_every
        bound = health.inbound_silence_s + health.probe_timeout_s + 2 * health.check_every_s
        detected_at = await asyncio.wait_for(detected, 10)
        assert detected_at - stalled_at <= bound + 0.3, detected_at - stalled_at
        # recovery: the first backoff delay (cap 1 s in these tests) plus a login on a fresh socket
        recovered_at = await asyncio.wait_for(reconnected, 15)
        assert recovered_at - detected_at <= 1.0 + 2.0, recovered_at - detected_at
        assert client.ready and client.sessid == old_sessid
        assert proxy.counters.stalled == 1 and proxy.counters.accepted == 2
        await client.ping()
