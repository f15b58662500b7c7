"""A dropped or closed WebSocket is freed by reference counting on both sides (issue 22, rtcload/ws_cycles.py).

Real emulator, real signaling client, real loopback sockets, in this process. The emulator aborts the
socket (the soak's drop fault); the client reconnects. With the collector off, a collection afterwards
must find no websockets or asyncio transport object: before the fix each drop left the server's and
the client's protocol, stream reader, transport and socket object in a cycle through the parser's
EOFError, which media processes (no automatic full collections) kept for good.
"""

from __future__ import annotations

import asyncio
import gc
from collections import Counter

from websockets.client import ClientProtocol
from websockets.protocol import State
from websockets.server import ServerProtocol

from rtcload.emulator import Emulator
from rtcload.emulator.control import send_control
from rtcload.protocol.backoff import BackoffPolicy
from rtcload.signaling import ClientConfig, EventKind, PasswordCredentials, SignalingClient
from tests.conftest import fast_config

DROPS = 3
TOKEN = "Control-Token-For-Tests-0001"


async def test_dropped_sockets_leave_no_cycle_on_either_side():
    async with Emulator(fast_config()) as emulator:
        config = ClientConfig(
            url=emulator.url,
            credentials=PasswordCredentials("bob", "bob-pass"),
            label="bob",
            backoff=BackoffPolicy(base_s=0.05, cap_s=0.2, max_attempts=20),
        )
        client = SignalingClient(config, None)
        await client.connect(timeout=20)
        reconnected = asyncio.Queue[None]()
        client.events.subscribe(lambda e: reconnected.put_nowait(None) if e.kind is EventKind.RECONNECTED else None)
        gc.collect()
        gc.disable()
        gc.set_debug(gc.DEBUG_SAVEALL)
        try:
            for _ in range(DROPS):
                assert emulator.drop_all() == 1
                await asyncio.wait_for(reconnected.get(), 20)
            for _ in range(3):  # the closed connections' last callbacks (connection_lost, handler's end)
                await asyncio.sleep(0)
            gc.collect()
            kinds = Counter(f"{type(o).__module__}.{type(o).__qualname__}" for o in gc.garbage)
        finally:
            gc.set_debug(0)
            gc.garbage.clear()
            gc.enable()
        await client.close()
    leftovers = {k: n for k, n in kinds.items() if k.startswith(("websockets.", "asyncio.")) or k == "socket.socket"}
    assert leftovers == {}, f"{DROPS} dropped sockets left cycles: {leftovers}"


def closed_protocols() -> list[str]:
    """websockets protocols still in memory whose connection is closed (found without a collection)."""
    # isinstance, not the type's __module__: some live object's class may define __module__ as a property
    return [
        type(o).__qualname__
        for o in gc.get_objects()
        if isinstance(o, (ClientProtocol, ServerProtocol)) and o.state is State.CLOSED
    ]


async def test_closed_connections_are_freed_without_a_collection():
    """The soak's paths, control connections closed cleanly, drops and a restart, leave no protocol behind
    *before* any collection. websockets keeps each protocol's parser generator (`discard()`, suspended at
    its last `yield`, its frame holding the protocol) in `protocol.parser`: a cycle on every connection,
    closed cleanly or not. A collection frees it only by finalizing the generator, so the garbage check
    above (DEBUG_SAVEALL) never saw it; media processes, which never collect in full, kept every one (an
    8-user soak: +35 `ClientProtocol` per 90 s in the generator, +8 `ServerProtocol` in the emulator)."""
    async with Emulator(fast_config(control_token=TOKEN)) as emulator:
        config = ClientConfig(
            url=emulator.url,
            credentials=PasswordCredentials("bob", "bob-pass"),
            label="bob",
            backoff=BackoffPolicy(base_s=0.05, cap_s=0.2, max_attempts=20),
        )
        client = SignalingClient(config, None)
        await client.connect(timeout=20)
        reconnected = asyncio.Queue[None]()
        client.events.subscribe(lambda e: reconnected.put_nowait(None) if e.kind is EventKind.RECONNECTED else None)
        gc.collect()
        gc.disable()
        try:
            assert closed_protocols() == []
            # the fault schedule's own connections: a request, a clean close on both sides
            assert (await send_control(emulator.url, TOKEN, "drop", share=1.0))["dropped"] == 1
            await asyncio.wait_for(reconnected.get(), 20)
            assert (await send_control(emulator.url, TOKEN, "restart", keep_sessions=True))["restarting"]
            await asyncio.wait_for(reconnected.get(), 20)
            await client.close()  # the client's own clean close
            # the closed connections' last callbacks (connection_lost, then the cut) run on the loop
            loop = asyncio.get_running_loop()
            deadline = loop.time() + 10
            while closed_protocols() and loop.time() < deadline:
                await asyncio.sleep(0.05)
            left = Counter(closed_protocols())
        finally:
            gc.enable()
    assert left == {}, f"closed WebSocket protocols kept by a cycle: {dict(left)}"
