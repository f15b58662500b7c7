"""One DTLS certificate per process: calls still run their own DTLS handshake and SRTP keys, both ways, and
each side still checks the far end's certificate against its SDP fingerprint. Also: the per-call switch, and
that freezing the startup heap leaves every call's objects collectable.

Real parts: the emulator (on the media engine) over real signaling, real aiortc negotiation, loopback only.
"""

from __future__ import annotations

import gc
import re
import weakref

import pytest

from rtcload.emulator import Emulator
from rtcload.emulator.aiortc_answerer import AiortcAnswerer
from rtcload.media import certificate
from rtcload.media.certificate import ENV_POLICY, certificate_policy, local_certificate, set_certificate_policy
from rtcload.media.engine.call_media import EngineCallMedia, EngineMediaEndpoint
from rtcload.media.heap import startup_heap_frozen
from rtcload.media.loopback import use_loopback_only
from rtcload.media.media_settings import MediaSettings
from tests.conftest import fast_config
from tests.test_media_engine import connect, engine_media, wait_stats

use_loopback_only()

FINGERPRINT = re.compile(r"^a=fingerprint:sha-256 (\S+)", re.MULTILINE)


@pytest.fixture
async def engine_emulator():
    async with Emulator(fast_config(), AiortcAnswerer(loopback_only=True)) as emu:
        yield emu


@pytest.fixture
def policy():
    """Each test chooses the policy; the environment's choice comes back afterwards."""
    yield set_certificate_policy
    set_certificate_policy(None)


def fingerprint(sdp: str) -> str:
    match = FINGERPRINT.search(sdp)
    assert match, sdp
    return match.group(1)


def srtp_keying(media: EngineCallMedia | EngineMediaEndpoint) -> bytes:
    """The call's DTLS-SRTP keying material (RFC 5764), from aiortc's SSL connection."""
    ssl = media.transceiver.sender.transport._ssl
    return ssl.export_keying_material(b"EXTRACTOR-dtls_srtp", 60)


async def test_calls_sharing_one_certificate_each_have_their_own_handshake_and_audio_both_ways(engine_emulator, policy):
    policy("shared")
    alice = await connect(engine_emulator.url, lambda: engine_media(), "alice")
    bob = await connect(engine_emulator.url, lambda: engine_media(codec="pcmu"), "bob")
    try:
        calls = [await alice.call("echo", answer_timeout_s=20), await bob.call("echo", answer_timeout_s=20)]
        for call in calls:
            media = call.media
            assert await media.analyzer.wait_until(lambda a: a.first_audio_at is not None, 20)  # our audio came back
            endpoint = engine_emulator.answerer.endpoints[call.id]
            stats = await wait_stats(
                media, lambda s, e=endpoint: s.rtt_s is not None and e.engine_stats().rtt_s is not None
            )
            assert stats.packets_received > 0 and stats.packets_lost == 0
            assert endpoint.engine_stats().packets_received > 0  # the emulator decrypted what we sent
        first, second = (call.media for call in calls)
        # the same certificate in both calls' offers and in the emulator's answers ...
        offers = {fingerprint(call.media.pc.localDescription.sdp) for call in calls}
        answers = {fingerprint(call.media.pc.remoteDescription.sdp) for call in calls}
        assert len(offers) == 1 and len(answers) == 1
        assert local_certificate(first.pc) is local_certificate(second.pc)
        # ... but two handshakes: different SRTP keys per call
        assert srtp_keying(first) != srtp_keying(second)
        for call in calls:
            await call.hangup()
    finally:
        await alice.close()
        await bob.close()


async def test_the_emulator_rejects_a_caller_whose_certificate_does_not_match_its_fingerprint(policy):
    """The caller presents the shared certificate but its offer announces another fingerprint: the emulator's
    endpoint fails the DTLS handshake and never takes the media over (no SRTP keys for a forged peer)."""
    policy("shared")
    answerer = AiortcAnswerer(loopback_only=True)
    media = engine_media()
    try:
        offer = await media.create_offer()
        real = fingerprint(offer)
        forged = ":".join(f"{(int(byte, 16) ^ 0xFF):02X}" for byte in real.split(":"))
        answer = await answerer.answer("forged-call", offer.replace(real, forged), "echo")
        endpoint = answerer.endpoints["forged-call"]
        await media.accept_answer(answer)
        await endpoint.wait_connected(20)  # returns on failure
        assert endpoint.failed.is_set() and not endpoint.connected.is_set()
        assert endpoint.pc.connectionState == "failed" and endpoint.stream is None
    finally:
        await answerer.release("forged-call")
        await media.close()


async def test_per_call_certificates_on_request_still_connect(engine_emulator, policy):
    policy("per-call")
    client = await connect(engine_emulator.url, lambda: engine_media())
    try:
        call = await client.call("echo", answer_timeout_s=20)
        assert await call.media.analyzer.wait_until(lambda a: a.first_audio_at is not None, 20)
        other = engine_media()
        assert local_certificate(other.pc) is not local_certificate(call.media.pc)
        await other.close()
        await call.hangup()
    finally:
        await client.close()


def test_the_policy_comes_from_the_environment_and_a_bad_value_is_named(monkeypatch, policy):
    monkeypatch.delenv(ENV_POLICY, raising=False)
    assert certificate_policy() == "shared"
    monkeypatch.setenv(ENV_POLICY, "Per-Call")
    assert certificate_policy() == "per-call"
    monkeypatch.setenv(ENV_POLICY, "per-user")
    with pytest.raises(ValueError, match=f"{ENV_POLICY} must be one of shared, per-call"):
        certificate_policy()
    policy("shared")  # an explicit choice wins over the environment
    assert certificate_policy() == "shared"


def test_the_shared_certificate_is_renewed_before_it_expires(monkeypatch):
    first = certificate.shared_certificate()
    assert certificate.shared_certificate() is first
    monkeypatch.setattr(certificate, "_shared_until", 0.0)  # as if 29 days had passed
    renewed = certificate.shared_certificate()
    assert renewed is not first and renewed.getFingerprints() != first.getFingerprints()


async def test_frozen_startup_heap_still_lets_ended_calls_be_collected():
    """Only what existed before the first call is frozen: an ended call's objects (reference cycles) are freed."""
    media = EngineCallMedia("tone:440", settings=MediaSettings(codec="opus"))
    endpoint = EngineMediaEndpoint("echo")
    await media.accept_answer(await endpoint.accept_offer(await media.create_offer()))
    assert await media.wait_connected(20) and await endpoint.wait_connected(20)
    assert startup_heap_frozen() and gc.get_freeze_count() > 0
    refs = [weakref.ref(media), weakref.ref(media.pc), weakref.ref(endpoint.pc)]
    await media.close()
    await endpoint.close()
    del media, endpoint
    gc.collect()
    assert [ref() for ref in refs] == [None, None, None]
