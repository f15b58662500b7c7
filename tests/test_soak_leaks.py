"""Issue 22, leak-free soak: calls that end during a socket drop or a platform restart leave no media
behind - no peer connection, no UDP socket, no dup()ed engine fd - on the emulator or the generator.

Real emulator, real clients with the media engine, real sockets; both sides run in this process, so
/proc/self counts both.
"""

from __future__ import annotations

import asyncio
import gc
import os

from rtcload.emulator import Emulator
from rtcload.emulator.aiortc_answerer import AiortcAnswerer
from rtcload.loadgen.resources import udp_socket_count
from rtcload.media.engine.call_media import EngineCallMedia
from rtcload.media.loopback import use_loopback_only
from rtcload.media.media_settings import MediaSettings
from rtcload.media.session import live_peer_connections
from rtcload.signaling import EventKind, SignalingClient
from tests.conftest import fast_config, reconnecting_config

use_loopback_only()


# Each test compares with the sockets and fds open when it started: "<=", because a previous test's
# sockets may still be closing then (in a full suite the base can shrink under us, never grow).
def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


async def settle(predicate, timeout: float = 20.0) -> bool:
    """Closing a peer connection finishes on the loop (aioice, DTLS): poll until `predicate` holds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while loop.time() < deadline:
        gc.collect()
        if predicate():
            return True
        await asyncio.sleep(0.2)
    return predicate()


async def client(url: str, name: str) -> SignalingClient:
    config = reconnecting_config(url, name)
    c = SignalingClient(
        config, lambda: EngineCallMedia("tone:440", settings=MediaSettings(codec="opus", stats_interval_s=1.0))
    )
    await c.connect(timeout=20)
    return c


async def test_rebuilds_racing_a_call_end_leave_no_emulator_media():
    """Two reattaches of one call at once (back-to-back reconnection logins), and a reattach racing the
    call's end: before the fix each left a peer connection with its UDP socket in the emulator."""
    base_fds, base_udp = open_fds(), udp_socket_count()
    async with Emulator(fast_config(grace_s=10), AiortcAnswerer(loopback_only=True)) as emu:
        alice = await client(emu.url, "leaky")
        try:
            calls = [await alice.call("echo", answer_timeout_s=20) for _ in range(2)]
            first, second = (emu.legs[c.id] for c in calls)
            # the same leg rebuilt twice concurrently: one endpoint replaces the other
            await asyncio.gather(emu.calls.reattach(first), emu.calls.reattach(first))
            # a rebuild and the end of the call at once: the offer is built for a leg already ended
            await asyncio.gather(
                emu.calls.reattach(second), emu.calls.end_leg(second, "NORMAL_CLEARING", "test", send_bye=True)
            )
            assert await calls[1].wait_ended(20)
            await calls[0].hangup()
            assert await emu.wait_for(lambda: emu.snapshot()["live_legs"] == 0, 20)
            assert await settle(lambda: not emu.answerer.endpoints and live_peer_connections() == 0), (
                list(emu.answerer.endpoints),
                live_peer_connections(),
            )
        finally:
            await alice.close()
    assert await settle(lambda: udp_socket_count() <= base_udp and open_fds() <= base_fds), (
        udp_socket_count(),
        open_fds(),
        base_fds,
    )


async def test_calls_ended_by_drops_and_restarts_leave_no_socket_behind():
    """Calls held across socket drops and restarts, some ending mid-recovery: afterwards no UDP socket,
    dup()ed fd or peer connection is left on either side (before the fix: one per raced rebuild)."""
    base_fds, base_udp = open_fds(), udp_socket_count()
    async with Emulator(fast_config(grace_s=10), AiortcAnswerer(loopback_only=True)) as emu:
        clients = [await client(emu.url, f"soak{i}") for i in range(4)]
        try:
            reattached = asyncio.Event()
            clients[0].events.subscribe(lambda e: reattached.set() if e.kind is EventKind.CALL_REATTACHED else None)
            for round_ in range(4):
                calls = [await c.call("echo", answer_timeout_s=20) for c in clients]
                reattached.clear()
                if round_ % 2:
                    await emu.restart(keep_sessions=True)
                    await emu.restart(keep_sessions=True)  # back to back: two reconnection logins per client
                else:
                    for c in clients:
                        emu.drop_socket(c.sessid)
                await asyncio.wait_for(reattached.wait(), 20)
                # end half the calls while their rebuild may still be in flight
                await asyncio.gather(*(c.hangup() for c in calls[::2]), return_exceptions=True)
                await asyncio.gather(*(c.hangup() for c in calls[1::2]), return_exceptions=True)
                assert all([await c.wait_ended(20) for c in calls])
            assert await emu.wait_for(lambda: emu.snapshot()["live_legs"] == 0, 20)
            assert await settle(lambda: not emu.answerer.endpoints and live_peer_connections() == 0), (
                list(emu.answerer.endpoints),
                live_peer_connections(),
            )
        finally:
            for c in clients:
                await c.close()
    assert await settle(lambda: udp_socket_count() <= base_udp and open_fds() <= base_fds), (
        udp_socket_count(),
        open_fds(),
        base_fds,
    )


async def test_hangup_during_a_reconnect_leaves_no_media_behind():
    """Hangups around a socket loss, both ways round:
    - after the client saw the loss: the hangup holds the call's media lock until signaling is back, and
      the platform's attach for the call waits for that lock; before the fix it then built a new peer
      connection for the ended call that nobody closed (the generator's leak);
    - before the client saw it: the bye fails at once, the SDK-like client destroys the call and only
      acks the platform's attach; before the fix the emulator kept that leg and its offer's media for
      the rest of the session (the emulator's leak)."""
    async with Emulator(fast_config(grace_s=3), AiortcAnswerer(loopback_only=True)) as emu:
        bob = await client(emu.url, "hanger")
        lost = asyncio.Event()
        bob.events.subscribe(lambda e: lost.set() if e.kind is EventKind.SOCKET_LOST else None)
        try:
            for noticed in (True, False, True, False):
                call = await bob.call("echo", answer_timeout_s=20)
                lost.clear()
                assert emu.drop_socket(bob.sessid)
                if noticed:
                    await asyncio.wait_for(lost.wait(), 10)
                await call.hangup()  # noticed: waits for the reconnect, then the bye; else: the bye fails
                assert call.ended
                await bob.wait_ready(20)
            assert await emu.wait_for(lambda: emu.snapshot()["live_legs"] == 0, 20), emu.snapshot()
            assert await settle(lambda: live_peer_connections() == 0 and not emu.answerer.endpoints), (
                live_peer_connections(),
                list(emu.answerer.endpoints),
            )
        finally:
            await bob.close()


async def test_media_closed_while_gathering_leaves_no_socket():
    """A call's media closed while its offer is still gathering ICE candidates (a call that ends while
    a reattach builds its new media): aioice binds the socket after close() emptied its list, and the
    socket stayed open for good. close() now waits for the gathering first."""
    base = udp_socket_count()
    for _ in range(5):
        media = EngineCallMedia("tone:440", settings=MediaSettings(codec="opus", stats_interval_s=1.0))
        offer = asyncio.ensure_future(media.create_offer())
        for _ in range(3):  # into setLocalDescription: gathering has started, no socket bound yet
            await asyncio.sleep(0)
        await media.close()
        await asyncio.wait({offer}, timeout=10)
    assert await settle(lambda: udp_socket_count() <= base), (udp_socket_count(), base)
