"""A dropped WebSocket is freed by reference counting on both sides (issue 22, rtcload/ws_cycles.py).

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

from rtcload.emulator import Emulator
from rtcload.protocol.backoff import BackoffPolicy
from rtcload.signaling import ClientConfig, EventKind, PasswordCredentials, SignalingClient
from tests.conftest import fast_config

DROPS = 3


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
