"""Media counters from aiortc getStats(), normalised to SI units.

Units in aiortc 1.16 (read from site-packages): `inbound-rtp.jitter` and `remote-inbound-rtp.jitter`
are RFC 3550 interarrival jitter in **RTP timestamp units** (`StreamStatistics.jitter` returns
`_jitter_q4 >> 4`, arrival measured as `time.time() * clockrate`), so seconds = jitter / codec clock
rate (48000 Opus, 8000 PCMU/PCMA). `remote-inbound-rtp.roundTripTime` is already seconds (None
until an RTCP RR echoes an SR); `fractionLost` there is raw 8-bit fixed point (0..255).
aiortc exposes no codec stats, so the negotiated codec is read from the transceiver.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from aiortc import RTCPeerConnection, RTCRtpTransceiver

from rtcload.media.aiortc_private.rtp import negotiated_codecs


@dataclass(frozen=True)
class MediaStats:
    at: float  # monotonic
    codec: str | None
    clock_rate: int | None
    packets_sent: int = 0
    bytes_sent: int = 0
    packets_received: int = 0
    bytes_received: int = 0  # transport level (aiortc has no inbound-rtp bytes): includes RTCP/DTLS
    packets_lost: int = 0  # inbound: what we lost receiving
    jitter_s: float | None = None  # inbound interarrival jitter, seconds
    rtt_s: float | None = None  # from remote-inbound-rtp (RTCP RR), seconds
    remote_packets_lost: int | None = None  # what the far end reports losing of our stream
    remote_jitter_s: float | None = None
    remote_fraction_lost: float | None = None  # 0..1
    burst_r: float | None = None  # E-model BurstR of this interval's received-packet pattern (1 = random)
    inbound_level: float | None = None  # received audio level 0..1 (like getStats audioLevel), last 0.5 s
    local_level: float | None = None  # sent audio level 0..1 (0 while muted/held or silent source)
    on_hold: bool = False
    send_drops: int = 0  # our RTP packets the kernel refused (EAGAIN, ENOBUFS): the far end counts them lost


def negotiated_codec(transceiver: RTCRtpTransceiver | None) -> tuple[str | None, int | None]:
    """(codec name, clock rate) of the first negotiated codec, e.g. ("opus", 48000)."""
    codecs = negotiated_codecs(transceiver)
    if not codecs:
        return None, None
    codec = codecs[0]
    return codec.mimeType.split("/", 1)[-1].lower(), int(codec.clockRate)


def _audio_transceiver(pc: RTCPeerConnection) -> RTCRtpTransceiver | None:
    return next((t for t in pc.getTransceivers() if t.kind == "audio"), None)


async def sample_stats(pc: RTCPeerConnection) -> MediaStats:
    """One getStats() snapshot summed over audio streams."""
    codec, clock_rate = negotiated_codec(_audio_transceiver(pc))
    report = await pc.getStats()
    sent = bytes_sent = received = bytes_received = lost = 0
    jitter_s: float | None = None
    rtt_s: float | None = None
    remote_jitter_s: float | None = None
    remote_fraction: float | None = None
    remote_lost: int | None = None
    for stat in report.values():
        kind = getattr(stat, "type", None)
        if kind == "outbound-rtp":
            sent += stat.packetsSent
            bytes_sent += stat.bytesSent
        elif kind == "inbound-rtp":
            received += stat.packetsReceived
            lost += stat.packetsLost
            if clock_rate and stat.jitter is not None:
                jitter_s = max(jitter_s or 0.0, stat.jitter / clock_rate)
        elif kind == "transport":
            bytes_received += stat.bytesReceived
        elif kind == "remote-inbound-rtp":
            if stat.roundTripTime is not None:
                rtt_s = float(stat.roundTripTime)
            remote_lost = (remote_lost or 0) + stat.packetsLost
            if clock_rate and stat.jitter is not None:
                remote_jitter_s = stat.jitter / clock_rate
            if stat.fractionLost is not None:
                remote_fraction = stat.fractionLost / 256.0
    return MediaStats(
        at=time.monotonic(),
        codec=codec,
        clock_rate=clock_rate,
        packets_sent=sent,
        bytes_sent=bytes_sent,
        packets_received=received,
        bytes_received=bytes_received,
        packets_lost=lost,
        jitter_s=jitter_s,
        rtt_s=rtt_s,
        remote_packets_lost=remote_lost,
        remote_jitter_s=remote_jitter_s,
        remote_fraction_lost=remote_fraction,
    )


class StatsSampler:
    """Samples `sample_stats(pc)` every `interval_s` into a bounded list (oldest dropped)."""

    def __init__(
        self,
        pc: RTCPeerConnection,
        interval_s: float = 2.0,
        max_samples: int = 512,
        enrich: Callable[[MediaStats], MediaStats] | None = None,
    ) -> None:
        self.pc = pc
        self.enrich = enrich  # adds what getStats lacks (loss pattern, audio levels, hold)
        self.interval_s = interval_s
        self.samples: deque[MediaStats] = deque(maxlen=max_samples)
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self._task is None and self.interval_s > 0:
            self._task = asyncio.ensure_future(self._run())

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.interval_s)
            if self.pc.connectionState == "closed":
                return
            self.samples.append(await self._sample())

    async def _sample(self) -> MediaStats:
        stats = await sample_stats(self.pc)
        return self.enrich(stats) if self.enrich is not None else stats

    async def sample_now(self) -> MediaStats:
        stats = await self._sample()
        self.samples.append(stats)
        return stats

    @property
    def latest(self) -> MediaStats | None:
        return self.samples[-1] if self.samples else None

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
