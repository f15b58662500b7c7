"""ICE consent freshness (RFC 7675) at a chosen interval, per connection.

Why: aioice checks consent every 5 s x uniform(0.8, 1.2) (its module constant CONSENT_INTERVAL, shared
by every connection of the process, the emulator's included). Chrome pings the selected pair about every
2.5 s (libwebrtc's stable writable connection ping interval; measured with the official SDK 2.27.10 in
Chromium 156: 0.42-0.46 binding requests a second toward the platform), so a client profile that
follows Chrome sets its own connection's interval, and nothing else in the process changes.

How: aioice's `Connection.connect()` starts `self.query_consent()` once ICE completes; an instance
attribute of that name replaces it for this connection only. The loop is aioice 0.13's (checked against
the pinned version): one binding request per nominated pair without retransmission, and after
CONSENT_FAILURES misses in a row the connection closes ("Consent to send expired").
"""

from __future__ import annotations

import asyncio
import logging
import random
from typing import Any

from aioice import stun
from aioice.ice import CONSENT_FAILURES

from rtcload.media.aiortc_private.ice import forget_consent_task, nominated_pairs

log = logging.getLogger("rtcload.media")

CHROME_CONSENT_INTERVAL_S = 2.5


def set_consent_interval(connection: Any, interval_s: float) -> None:
    """Check consent on `connection` (an aioice Connection, before connect()) every `interval_s` x 0.8-1.2."""
    if interval_s <= 0:
        raise ValueError(f"consent interval must be positive, not {interval_s}")

    async def query_consent() -> None:
        failures = 0
        while True:
            await asyncio.sleep(interval_s * (0.8 + 0.4 * random.random()))
            for pair in nominated_pairs(connection):
                request = connection.build_request(pair, nominate=False)
                try:
                    await pair.protocol.request(
                        request,
                        pair.remote_addr,
                        integrity_key=connection.remote_password.encode("utf8"),
                        retransmissions=0,
                    )
                    failures = 0
                except stun.TransactionError:
                    failures += 1
                if failures >= CONSENT_FAILURES:
                    log.info("ICE consent to send expired")
                    forget_consent_task(connection)
                    await connection.close()
                    return

    connection.query_consent = query_consent
