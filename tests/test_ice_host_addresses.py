"""Where ICE gathers host candidates: the route toward the target (`--rtc-ice-host route`), and every interface
enumerated once per few seconds instead of at each call. Real calls against the real emulator, loopback only."""

from __future__ import annotations

import argparse
import re

import aioice.ice
import pytest

from rtcload.loadgen.endpoint import choose_host_addresses
from rtcload.loadgen.settings import settings_from_options
from rtcload.media import loopback
from rtcload.media.loopback import cache_host_addresses, route_addresses
from tests.test_media_engine import connect, engine_emulator, engine_media  # noqa: F401 (fixture)

CANDIDATE = re.compile(r"^a=candidate:\S+ \d+ udp \d+ (\S+) \d+ typ host", re.MULTILINE)


@pytest.fixture
def restore_gathering():
    """These tests change a process-wide aioice hook: put back what the other tests run with."""
    saved = aioice.ice.get_host_addresses
    yield
    aioice.ice.get_host_addresses = saved


def test_the_route_to_a_loopback_target_is_the_loopback_address():
    assert route_addresses(["127.0.0.1"]) == ["127.0.0.1"]
    assert "127.0.0.1" in route_addresses(["localhost"])
    assert route_addresses(["127.0.0.1", "127.0.0.1"]) == ["127.0.0.1"]  # one address per family, not per host


async def test_route_setting_gathers_only_the_address_toward_the_target_and_the_call_has_audio(
    engine_emulator,  # noqa: F811 (fixture)
    restore_gathering,
):
    settings = settings_from_options(argparse.Namespace(rtc_ice_host="route"), engine_emulator.url)
    assert settings.ice_host_addresses == ("route",)
    aioice.ice.get_host_addresses = loopback._ENUMERATE  # as a real run starts: every interface
    choose_host_addresses(settings)
    client = await connect(engine_emulator.url, lambda: engine_media())
    try:
        call = await client.call("echo", answer_timeout_s=20)
        assert set(CANDIDATE.findall(call.media.pc.localDescription.sdp)) == {"127.0.0.1"}
        assert await call.media.analyzer.wait_until(lambda a: a.first_audio_at is not None, 20)
        await call.hangup()
    finally:
        await client.close()


def test_every_interface_is_enumerated_once_per_interval_not_at_every_gather(monkeypatch, restore_gathering):
    enumerations = []
    real = aioice.ice.ifaddr.get_adapters

    def counted():
        enumerations.append(1)
        return real()

    monkeypatch.setattr(aioice.ice.ifaddr, "get_adapters", counted)
    aioice.ice.get_host_addresses = loopback._ENUMERATE
    uncached = aioice.ice.get_host_addresses(True, True)
    enumerations.clear()
    cache_host_addresses(ttl_s=60.0)
    gathered = [aioice.ice.get_host_addresses(True, True) for _ in range(5)]
    assert gathered == [uncached] * 5 and len(enumerations) == 1
    cache_host_addresses(ttl_s=0.0)  # already cached: a second call changes nothing
    aioice.ice.get_host_addresses(True, True)
    assert len(enumerations) == 1
