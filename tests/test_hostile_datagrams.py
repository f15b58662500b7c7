"""Hostile datagrams at every media port of a live call: the call keeps its media, each kind is counted.

Why: anyone who learns a media port can send to it (issue 22: one empty datagram used to end a call's
media). During a real call (the generator's engine media <-> the emulator's engine echo, and the lean
aiortc path on both sides), a third socket sends empty, 1-byte, garbage RTP/RTCP, STUN-looking,
DTLS-looking, oversized (up to 64 KB) and replayed SRTP datagrams to every UDP port of both ends. The
replayed packets are real: copied off the wire of the call at the netem UDP relay it runs through.
Then media must keep flowing both ways with no loss, DTLS stays connected, and the counts show where a
user looks: the call's record (calls.csv columns, summary.json) and /metrics of generator and emulator.
"""

from __future__ import annotations

import asyncio
import os
import socket
from typing import Any

import pytest

from rtcload.emulator import Emulator
from rtcload.emulator.aiortc_answerer import AiortcAnswerer
from rtcload.loadgen.endpoint import media_samples
from rtcload.loadgen.observe import record
from rtcload.loadgen.records import call_record
from rtcload.media.engine.call_media import EngineCallMedia
from rtcload.media.lean import LeanCallMedia
from rtcload.media.loopback import use_loopback_only
from rtcload.media.media_settings import MediaSettings
from rtcload.metrics.emulator_exporter import exposition as emulator_exposition
from rtcload.metrics.exporter import GeneratorMetrics
from rtcload.netem.impairment import Impairment
from rtcload.netem.sdp_relay import ImpairedAnswerer
from rtcload.results.ledger import build_summary
from tests.conftest import fast_config
from tests.test_media_engine import connect, wait_stats

use_loopback_only()

ROUNDS = 20  # of every kind, to every port
KINDS = ("empty", "oversized", "unauthenticated", "replayed", "malformed", "stun", "dtls", "unknown")


def hostile() -> list[tuple[str | None, bytes]]:
    """(the kind it must be counted as, datagram); None: passed on to aiortc/OpenSSL, which drop it."""
    rtp_header = b"\x80\x00" + os.urandom(10)
    stun_request = b"\x00\x01\x00\x00\x21\x12\xa4\x42" + os.urandom(12)  # Binding, no USERNAME: refused 400
    return [
        ("empty", b""),
        ("malformed", b"\x80"),  # 1 byte, RTP range
        ("stun", b"\x00"),  # 1 byte, STUN range
        ("dtls", b"\x17"),  # 1 byte, DTLS range
        ("unknown", b"\x42"),  # 1 byte, no RFC 7983 range
        ("unauthenticated", rtp_header + os.urandom(160)),  # garbage RTP
        ("unauthenticated", b"\x80\xc8\x00\x06" + os.urandom(40)),  # garbage RTCP (an SR's header)
        ("stun", stun_request),
        ("stun", b"\x00\x01\x00\x08" + os.urandom(16)),  # a STUN header whose length is wrong
        ("dtls", b"\x17\x03\x03\x00\x20" + os.urandom(32)),  # TLS, not DTLS, framing
        (None, b"\x17\xfe\xfd\x00\x01" + os.urandom(6) + b"\x00\x20" + os.urandom(32)),  # a forged DTLS record
        ("oversized", rtp_header + os.urandom(1500 - 12 + 1)),
        ("oversized", rtp_header + os.urandom(9000)),
        ("oversized", rtp_header + os.urandom(65000)),
    ]


def media_ports(session: Any) -> list[int]:
    """The UDP ports of one call end's local candidates (its ICE connection's sockets)."""
    connection = session._ice_connection()
    ports = []
    for protocol in connection._protocols:
        sock = protocol.transport.get_extra_info("socket")
        if sock is not None:
            ports.append(sock.getsockname()[1])
    assert ports
    return ports


class Tap:
    """Copies one SRTP (not SRTCP) datagram per direction off the relay the call's media runs through."""

    def __init__(self, relay: Any) -> None:
        self.relay = relay
        self.captured: dict[str, bytes] = {}
        self.event = asyncio.Event()
        self._original = relay._received
        relay._received = self._received

    def _received(self, data: bytes, addr: tuple[str, int]) -> None:
        direction = "down" if self.relay._is_target(addr) else "up"
        if direction not in self.captured and len(data) > 12 and 127 < data[0] < 192 and not 191 < data[1] < 224:
            self.captured[direction] = data
            if len(self.captured) == 2:
                self.event.set()
        self._original(data, addr)


async def spray(ports: list[int], datagrams: list[tuple[str | None, bytes]]) -> dict[str, int]:
    """Send each datagram to each port, ROUNDS times, paced so the sockets' queues never overflow."""
    sent: dict[str, int] = {}
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 1 << 20)
        for _ in range(ROUNDS):
            for port in ports:
                for kind, data in datagrams:
                    sock.sendto(data, ("127.0.0.1", port))
                    if kind is not None:
                        sent[kind] = sent.get(kind, 0) + 1
                    await asyncio.sleep(0.001 if len(data) > 1500 else 0)
            await asyncio.sleep(0.01)
    return sent


def assert_counted(counts: dict[str, int], sent: dict[str, int], kinds: tuple[str, ...], side: str) -> None:
    for kind in kinds:
        assert kind in sent, kind
        # every kind shows; never more than was sent (loopback UDP may drop some of a burst under load)
        assert 0 < counts.get(kind, 0) <= sent[kind], f"{side}: {kind}: counted {counts.get(kind)} of {sent[kind]}"


@pytest.mark.parametrize("path", ["engine", "lean"])
async def test_hostile_datagrams_at_every_media_port_leave_the_call_its_media_and_are_counted(path):
    lean = path == "lean"
    inner = AiortcAnswerer(loopback_only=True, lean=lean)
    answerer = ImpairedAnswerer(inner, Impairment(), Impairment())
    async with Emulator(fast_config(), answerer) as emulator:

        def factory() -> Any:
            if lean:
                return LeanCallMedia("tone:440", settings=MediaSettings(codec="pcmu", stats_interval_s=0.5))
            return EngineCallMedia("tone:440", settings=MediaSettings(codec="pcmu", stats_interval_s=0.5))

        client = await connect(emulator.url, factory)
        try:
            call = await client.call("echo", answer_timeout_s=20)
            media = call.media
            (relay,) = answerer.relays.values()
            tap = Tap(relay)
            before = await wait_stats(media, lambda s: s.packets_received > 10)
            await asyncio.wait_for(tap.event.wait(), 20)
            (platform,) = inner.endpoints.values()
            generator_ports, platform_ports = media_ports(media), media_ports(platform)

            kinds = hostile()
            # replays: what the platform sent us goes back to us, what we sent goes back to the platform
            to_generator = await spray(generator_ports, [*kinds, ("replayed", tap.captured["down"])])
            to_platform = await spray(platform_ports, [*kinds, ("replayed", tap.captured["up"])])

            # media goes on both ways: 2 s more of echoed audio arrives, nothing lost, DTLS connected
            after = await wait_stats(media, lambda s: s.packets_received >= before.packets_received + 100, 30)
            assert after.packets_lost == 0
            assert after.packets_sent > before.packets_sent
            platform_stats = await platform.stats.sample_now()  # the emulator's end: all we sent, nothing lost
            assert platform_stats.packets_lost == 0
            assert platform_stats.packets_received >= before.packets_sent
            assert media.pc.connectionState == "connected"
            assert platform.pc.connectionState == "connected"
            assert media.transceiver.sender.transport.state == "connected"

            counted_kinds = KINDS  # on both paths: the engine's receive path, or aiortc's (stray.py)
            live = media.rejected_datagrams()
            assert_counted(live, to_generator, counted_kinds, "generator")
            platform_counts = {
                key.removeprefix("rejected_datagrams_"): n
                for key, n in emulator.all_counters().items()
                if key.startswith("rejected_datagrams_")
            }
            assert_counted(platform_counts, to_platform, counted_kinds, "emulator")
            exposition = emulator_exposition(emulator.metrics_registry).decode()
            for kind in counted_kinds:
                assert f'rtcload_emulator_rejected_datagrams_total{{kind="{kind}"}}' in exposition

            await call.hangup()
            report = call.media_report
            assert report.rejected_datagrams == media.rejected_datagrams()
            row = call_record(call, "alice", "answered")
            assert row["rx_rejected"] == sum(report.rejected_datagrams.values()) > 0
            csv_row = {k: "" if v is None else str(v) for k, v in row.items()}
            summary = build_summary([], [csv_row])
            assert summary["calls"]["rx_rejected"]["by_kind"] == report.rejected_datagrams
            metrics = GeneratorMetrics()
            for sample in media_samples(report):
                record(metrics, sample)
            text = metrics.exposition().decode()
            for kind in counted_kinds:
                value = report.rejected_datagrams[kind]
                assert f'rtcload_rejected_datagrams_total{{kind="{kind}"}} {float(value)}' in text
        finally:
            await client.close()
