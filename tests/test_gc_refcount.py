"""Ended calls are freed by reference counting alone (issue 21, "No stall from our own housekeeping").

Real calls: the generator's VirtualEndpoint (signaling client + media engine) against the real emulator
on the media engine, loopback. With the collector off, every object of an ended call on both sides (the
signaling call, the session, the aiortc peer connection, aioice's ICE connection, the engine stream, the
emulator's media endpoint; its ended legs are kept 30 s by design, hangup.py) must be gone as soon as
the call's teardown is over, and a collection afterwards must find (next to) nothing: what it would find
is what a full collection walks for 150-210 ms under churn while every stream's packets wait
(engineering-notes "Measured 2026-12-06").
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import weakref
from typing import Any

from rtcload.emulator import Emulator
from rtcload.emulator.aiortc_answerer import AiortcAnswerer
from rtcload.loadgen.endpoint import VirtualEndpoint
from rtcload.loadgen.settings import settings_from_options
from rtcload.media.engine.takeover import ice_connection
from rtcload.media.loopback import use_loopback_only
from rtcload.signaling import PasswordCredentials
from tests.conftest import fast_config

use_loopback_only()

CALLS = 3
# a collection after CALLS ended calls may find a few incidental objects; one call's cycles were ~700
MAX_GARBAGE_PER_CALL = 20


async def until(predicate: Any, timeout: float = 20.0) -> None:
    """Wait for a state change that has no event of its own (a call registered in both processes' maps)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        assert loop.time() < deadline, "timed out waiting for the call's state"
        await asyncio.sleep(0.02)


def media_up(endpoint: VirtualEndpoint, answerer: AiortcAnswerer) -> bool:
    """Both sides' engine streams exist: the call's media was taken over on both sides."""
    ours = any(c.media is not None and c.media.stream is not None for c in endpoint.client.calls.values())
    return ours and any(e.stream is not None for e in answerer.endpoints.values())


def released(emulator: Emulator, answerer: AiortcAnswerer) -> bool:
    """The emulator ended the call and released its media endpoint."""
    return not answerer.endpoints and all(leg.ended for leg in emulator.calls.ctx.legs.values())


def call_objects(endpoint: VirtualEndpoint, answerer: AiortcAnswerer) -> dict[str, Any]:
    """The live call's objects on both sides, while it is up."""
    (call,) = endpoint.client.calls.values()
    (far,) = answerer.endpoints.values()
    media = call.media
    return {
        "signaling call": call,
        "generator session": media,
        "generator peer connection": media.pc,
        "generator ICE connection": ice_connection(media.transceiver.sender.transport),
        "generator engine stream": media.stream,
        "emulator media endpoint": far,
        "emulator peer connection": far.pc,
        "emulator ICE connection": ice_connection(far.transceiver.sender.transport),
        "emulator engine stream": far.stream,
    }


async def test_ended_calls_are_freed_without_the_garbage_collector():
    answerer = AiortcAnswerer(loopback_only=True)  # the media engine, as `rtcload emulator` runs it
    async with Emulator(fast_config(), answerer) as emulator:
        settings = settings_from_options(argparse.Namespace(rtc_stats_interval="1"), emulator.url)
        endpoint = VirtualEndpoint(settings, PasswordCredentials("alice", "alice-pass"), "alice")
        assert all(s.ok for s in await endpoint.register())
        await endpoint.outbound_call("echo", 0.5)  # warm-up: one-time caches (codecs, frames, certificate)
        await until(lambda: released(emulator, answerer))
        gc.collect()
        gc.disable()
        try:
            refs: list[tuple[str, weakref.ref[Any]]] = []
            for _ in range(CALLS):
                task = asyncio.ensure_future(endpoint.outbound_call("echo", 1.0))
                await until(lambda: media_up(endpoint, answerer))
                refs += [(name, weakref.ref(obj)) for name, obj in call_objects(endpoint, answerer).items()]
                samples = await task
                assert not [s for s in samples if not s.ok], samples
                await until(lambda: released(emulator, answerer))
            await asyncio.sleep(0)  # the ended tasks' last callbacks
            alive = sorted({name for name, ref in refs if ref() is not None})
            garbage = gc.collect()
        finally:
            gc.enable()
        await endpoint.unregister()
    assert alive == [], f"still alive after teardown without a collection: {alive}"
    assert garbage <= MAX_GARBAGE_PER_CALL * CALLS, f"a collection found {garbage} objects after {CALLS} calls"


class UdpSender:
    """aioice's TransactionSender over a real loopback UDP socket (toward a port where nobody answers)."""

    def __init__(self, transport: asyncio.DatagramTransport) -> None:
        self.transport = transport

    def send_stun(self, message: Any, addr: tuple[str, int]) -> None:
        self.transport.sendto(bytes(message), addr)


async def test_a_timed_out_stun_check_is_freed_without_the_garbage_collector():
    """aioice keeps a timed-out transaction in a cycle through its TransactionTimeout's traceback: consent
    checks of ending calls and losing candidate pairs left hundreds per minute under churn (teardown.py)."""
    from aioice import stun

    loop = asyncio.get_running_loop()
    silent, _ = await loop.create_datagram_endpoint(asyncio.DatagramProtocol, local_addr=("127.0.0.1", 0))
    sender, _ = await loop.create_datagram_endpoint(asyncio.DatagramProtocol, local_addr=("127.0.0.1", 0))
    request = stun.Message(message_method=stun.Method.BINDING, message_class=stun.Class.REQUEST)
    gc.collect()
    gc.disable()
    try:
        transaction = stun.Transaction(request, silent.get_extra_info("sockname"), UdpSender(sender), retransmissions=0)
        ref = weakref.ref(transaction)
        try:
            await transaction.run()
        except stun.TransactionTimeout:
            pass
        else:
            raise AssertionError("nobody answers: the check must time out")
        del transaction
        await asyncio.sleep(0)  # the loop's handle that resumed this step holds the future until the next one
        alive = ref() is not None
    finally:
        gc.enable()
        silent.close()
        sender.close()
    assert not alive, "the timed-out transaction is only freed by a garbage collection"
