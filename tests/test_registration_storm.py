"""200 clients registering at once against one emulator: all ready, none lost."""

from __future__ import annotations

import asyncio

from rtcload.signaling import ClientConfig, PasswordCredentials, SignalingClient

CLIENTS = 200


async def test_200_concurrent_registrations_all_ready(emulator):
    clients = [
        SignalingClient(
            ClientConfig(
                url=emulator.url, credentials=PasswordCredentials(f"storm{i:03d}", "pw"), label=f"storm{i:03d}"
            )
        )
        for i in range(CLIENTS)
    ]
    try:
        results = await asyncio.gather(*(c.connect(timeout=60) for c in clients), return_exceptions=True)
        failures = [r for r in results if isinstance(r, BaseException)]
        assert not failures, failures[:3]
        assert all(c.ready for c in clients)
        assert len({c.sessid for c in clients}) == CLIENTS
        snap = emulator.snapshot()
        assert snap["registered"] == CLIENTS and emulator.counters["logins_ok"] == CLIENTS
        assert emulator.counters["logins_failed"] == 0
        totals = sorted(r.total_s for r in results)
        assert totals[-1] < 60
    finally:
        await asyncio.gather(*(c.close() for c in clients))
    assert await emulator.wait_for(lambda: emulator.snapshot()["connections"] == 0, 30)
