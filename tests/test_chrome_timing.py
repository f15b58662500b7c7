"""The chrome client profile's timing (issue 23): RTCP cadence and ICE consent checks like Chrome's.

Chrome's numbers come from the twin test's capture (tests/test_twin.py, docs/wire-twin.md); here a
real engine call against the real emulator shows that the mechanisms do what the profile sets: reports
alternate SR and RR at the cadence, and consent binding requests reach the platform at the interval.
The intervals are shortened so the test counts enough events in a few seconds.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from typing import Any

from rtcload.emulator import Emulator
from rtcload.emulator.aiortc_answerer import AiortcAnswerer
from rtcload.media.consent import set_consent_interval
from rtcload.media.engine.call_media import EngineCallMedia
from rtcload.media.engine.rtcp import (
    AIORTC_CADENCE,
    CHROME_CADENCE,
    ReceiverReport,
    RtcpCadence,
    SenderReport,
    parse_rtcp,
)
from rtcload.media.engine.takeover import ice_connection
from rtcload.media.loopback import use_loopback_only
from rtcload.signaling import ClientConfig, PasswordCredentials, SignalingClient
from tests.conftest import fast_config

use_loopback_only()


def test_cadences_draw_their_intervals_from_half_to_one_and_a_half_of_the_mean() -> None:
    for cadence, low, high in ((AIORTC_CADENCE, 0.5, 1.5), (CHROME_CADENCE, 1.25, 3.75)):
        draws = [cadence.next_interval() for _ in range(2000)]
        assert low <= min(draws) and max(draws) <= high
        assert abs(sum(draws) / len(draws) - cadence.mean_s) < 0.05 * cadence.mean_s
    assert CHROME_CADENCE.alternate_rr and not AIORTC_CADENCE.alternate_rr


async def test_chrome_profile_alternates_sr_and_rr_and_checks_consent_at_its_interval() -> None:
    kinds: list[str] = []
    consent_checks: list[float] = []
    async with Emulator(fast_config(), AiortcAnswerer(loopback_only=True)) as emu:

        def media() -> EngineCallMedia:
            m = EngineCallMedia("tone:440", profile="chrome")
            transceiver = m._ensure_transceiver()
            assert m.rtcp_cadence == CHROME_CADENCE
            m.rtcp_cadence = RtcpCadence(mean_s=0.2, alternate_rr=True)  # Chrome's pattern, faster
            set_consent_interval(ice_connection(transceiver.sender.transport), 0.25)
            return m

        client = SignalingClient(ClientConfig(url=emu.url, credentials=PasswordCredentials("a", "a-pass")), media)
        try:
            await client.connect(timeout=20)
            call = await client.call("echo", answer_timeout_s=20)
            assert await call.media.analyzer.wait_until(lambda a: a.first_audio_at is not None, 20)
            endpoint = emu.answerer.endpoints[call.id]
            # the platform's side sees what the client sends: RTCP kinds and incoming binding requests
            original_rtcp = endpoint.stream._on_rtcp

            def on_rtcp(data: bytes, arrival: float) -> None:
                kinds.extend(type(r).__name__ for r in parse_rtcp(data) if isinstance(r, SenderReport | ReceiverReport))
                original_rtcp(data, arrival)

            endpoint.stream._on_rtcp = on_rtcp
            if hasattr(endpoint.stream, "nrx"):  # the C path reads RTCP itself: hand it to Python's reader again
                endpoint.stream.nrx.on_rtcp = endpoint.stream._on_rtcp_plain
            connection: Any = ice_connection(endpoint.transceiver.sender.transport)
            original_check = connection.check_incoming

            def check_incoming(*args: Any) -> None:
                consent_checks.append(time.monotonic())
                original_check(*args)

            connection.check_incoming = check_incoming
            await asyncio.wait_for(_until(lambda: len(kinds) >= 8 and len(consent_checks) >= 8), 30)
            await call.hangup()
        finally:
            await client.close()
    assert kinds.count("SenderReport") >= 3 and kinds.count("ReceiverReport") >= 3
    assert all(a != b for a, b in itertools.pairwise(kinds))  # strictly alternating
    gaps = [b - a for a, b in itertools.pairwise(consent_checks)]
    assert sum(gaps) / len(gaps) < 1.0  # aioice's own interval is 4-6 s: the profile's interval is in force


async def _until(predicate: Any) -> None:
    """Poll a counter the emulator's packet hooks fill (packets have no event to await)."""
    while not predicate():
        await asyncio.sleep(0.05)
