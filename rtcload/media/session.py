"""One aiortc audio peer with the bookkeeping both call sides need: non-trickle SDP exchange,
milestone timings, a consumed + analysed remote track, periodic stats and a one-shot report.

`CallMedia` (load-generator side) and `MediaEndpoint` (emulated platform side) build on this.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import weakref
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from aiortc import RTCRtpReceiver, RTCRtpTransceiver, RTCSessionDescription
from aiortc.mediastreams import MediaStreamTrack
from aiortc.sdp import candidate_from_sdp

from rtcload.media import stray
from rtcload.media.aiortc_private.ice import connection_of
from rtcload.media.aiortc_private.rtp import rtp_handler, set_rtp_handler
from rtcload.media.analysis import AnalyzerSummary, ReceiveAnalyzer
from rtcload.media.certificate import new_peer_connection
from rtcload.media.codec_prefs import check_codec, follow_answer, prefer_codec
from rtcload.media.heap import freeze_startup_heap
from rtcload.media.ice import rtc_configuration
from rtcload.media.ice_diag import IceDiagnostics, IceReport
from rtcload.media.sequence import LossRunTracker
from rtcload.media.stats import MediaStats, StatsSampler, negotiated_codec, sample_stats
from rtcload.media.teardown import release_session

CLOSE_STATS_TIMEOUT_S = 1.0
GATHERING_WAIT_S = 5.0  # close() waits this long for ICE gathering in flight (host candidates: milliseconds)


@dataclass
class MediaTimings:
    """Monotonic timestamps of call-media milestones (None = not reached)."""

    created: float
    remote_sdp_applied: float | None = None
    ice_connected: float | None = None
    dtls_connected: float | None = None  # connectionState "connected"
    first_rtp: float | None = None  # first RTP packet handed to the receiver (before jitter buffer)
    first_frame: float | None = None  # first decoded frame
    first_audio: float | None = None  # first decoded frame above the energy floor
    failed: float | None = None
    closed: float | None = None

    def offsets(self) -> dict[str, float | None]:
        """Seconds since `created` for every milestone."""
        return {k: None if v is None else v - self.created for k, v in asdict(self).items() if k != "created"}


@dataclass(frozen=True)
class MediaReport:
    codec: str | None
    timings: dict[str, float | None]  # seconds since the media object was created
    stats: MediaStats | None  # final getStats sample
    first_audio_s: float | None  # first audio energy, seconds after the remote SDP was applied
    frames_received: int
    rms_dbfs: float
    silence_ratio: float
    one_way: bool
    dominant_hz: float | None
    connected: bool
    samples: list[MediaStats] = field(default_factory=list)
    ice: IceReport | None = None  # candidates, selected pair, TURN allocation, ICE warnings (ice_diag.py)
    rejected_datagrams: dict[str, int] = field(default_factory=dict)  # stray datagrams dropped, by stray.KINDS
    stale_stamps: int = 0  # received datagrams whose kernel stamp was unusable (stamped at the callback)
    send_timing: Any = None  # the engine's SendTiming (send gaps, drops) of our stream; None off the engine


def _hook_rtp(
    receiver: RTCRtpReceiver, on_first: Callable[[], None], tracker: LossRunTracker, session: AudioSession
) -> None:
    """Note the first RTP packet and every packet's sequence number (for the loss pattern).

    aiortc has no public per-packet event; the DTLS transport calls `receiver._handle_rtp_packet`,
    so an instance attribute shadows the method.
    """
    original = rtp_handler(receiver)
    state = {"first": True}

    async def observe(packet: Any, arrival_time_ms: int) -> None:
        if state["first"]:
            state["first"] = False
            on_first()
        session.last_rtp = time.monotonic()
        tracker.on_packet(packet.sequence_number)
        await original(packet, arrival_time_ms)

    set_rtp_handler(receiver, observe)


_LIVE_SESSIONS: weakref.WeakSet[AudioSession] = weakref.WeakSet()


def live_peer_connections() -> int:
    """Peer connections created and not yet closed in this process (leak watch in soak runs)."""
    return sum(1 for session in list(_LIVE_SESSIONS) if session.pc.connectionState != "closed")


class AudioSession:
    """An RTCPeerConnection with exactly one audio transceiver."""

    def __init__(
        self,
        track: MediaStreamTrack | None,
        codec: str | None = None,
        ice_servers: list[str] | None = None,
        stats_interval_s: float = 2.0,
        one_way_after_s: float = 5.0,
        energy_floor_dbfs: float = -50.0,
        relay_only: bool = False,
    ) -> None:
        self.codec_preference = check_codec(codec)
        self.track = track
        freeze_startup_heap()  # once per process: collections must not walk the imports (heap.py)
        self.timings = MediaTimings(created=time.monotonic())
        self.pc = new_peer_connection(rtc_configuration(ice_servers, relay_only=relay_only))
        self.ice_diag = IceDiagnostics(
            self.pc, ice_servers_configured=bool(ice_servers), on_gathering_empty=self._on_gathering_empty
        )
        _LIVE_SESSIONS.add(self)
        self.analyzer = ReceiveAnalyzer(energy_floor_dbfs=energy_floor_dbfs, one_way_after_s=one_way_after_s)
        self.loss_runs = LossRunTracker()
        self.last_rtp: float | None = None  # monotonic time of the latest RTP packet (media-gap measurement)
        self._first_rtp_seen = asyncio.Event()
        self.stats = StatsSampler(self.pc, stats_interval_s, enrich=self._enrich_stats)
        self.transceiver: RTCRtpTransceiver | None = None
        self.connected = asyncio.Event()
        self.failed = asyncio.Event()
        self._close_task: asyncio.Task[MediaReport] | None = None
        self._gathering: asyncio.Future[None] | None = None  # setLocalDescription in flight (ICE gathering)
        self.pc.on("iceconnectionstatechange", self._on_ice_state)
        self.pc.on("connectionstatechange", self._on_connection_state)

    # --- state ---------------------------------------------------------------------------------
    def _on_ice_state(self) -> None:
        if self.pc.iceConnectionState in ("completed", "connected") and self.timings.ice_connected is None:
            self.timings.ice_connected = time.monotonic()

    def _on_connection_state(self) -> None:
        state = self.pc.connectionState
        if state == "connected" and self.timings.dtls_connected is None:
            self.timings.dtls_connected = time.monotonic()
            self.connected.set()
            self._on_connected()
        elif state == "failed":
            self._mark_failed()

    def _on_gathering_empty(self, _report: IceReport) -> None:
        """No local candidate (e.g. relay-only and the TURN allocation failed): fail now, not never."""
        self._mark_failed()

    def _mark_failed(self) -> None:
        """The call's media cannot flow: waiters on `failed` wake now."""
        if self.timings.failed is None:
            self.timings.failed = time.monotonic()
            self.failed.set()

    def _on_connected(self) -> None:
        """Hook for subclasses (e.g. start one-way detection)."""

    def _enrich_stats(self, stats: MediaStats) -> MediaStats:
        window = self.analyzer.window_dbfs()
        inbound = 10 ** (window / 20) if window is not None and window > -120 else 0.0
        return replace(
            stats,
            burst_r=self.loss_runs.drain_burst_r(),
            inbound_level=min(1.0, inbound),
            local_level=self.local_level(),
            on_hold=self.on_hold(),
        )

    def local_level(self) -> float | None:
        """Level of what we send, 0..1; subclasses that know their source override it."""
        return None

    def on_hold(self) -> bool:
        return False

    def _mark_first_rtp(self) -> None:
        if self.timings.first_rtp is None:
            self.timings.first_rtp = time.monotonic()
            self._first_rtp_seen.set()

    async def wait_first_rtp(self, timeout: float) -> float | None:
        """Monotonic time of the first RTP packet, waiting up to `timeout`; None if none came."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._first_rtp_seen.wait(), timeout)
        return self.timings.first_rtp

    async def wait_connected(self, timeout: float = 10.0) -> bool:
        """True once connectionState is "connected"; False on failure or timeout."""
        waiters = [asyncio.ensure_future(self.connected.wait()), asyncio.ensure_future(self.failed.wait())]
        try:
            await asyncio.wait(waiters, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiter in waiters:
                waiter.cancel()
        return self.connected.is_set()

    @property
    def codec(self) -> str | None:
        return negotiated_codec(self.transceiver)[0]

    # --- SDP -----------------------------------------------------------------------------------
    def _ensure_transceiver(self) -> RTCRtpTransceiver:
        """Create the audio transceiver before any SDP so offers and answers both use it."""
        if self.transceiver is None:
            direction = "sendrecv" if self.track is not None else "recvonly"
            self.transceiver = self.pc.addTransceiver(self.track or "audio", direction=direction)
            prefer_codec(self.transceiver, self.codec_preference)
            _hook_rtp(self.transceiver.receiver, self._mark_first_rtp, self.loss_runs, self)
        return self.transceiver

    async def _set_local(self, description: RTCSessionDescription) -> str:
        # aiortc gathers all candidates inside setLocalDescription: the SDP is complete (non-trickle).
        self._gathering = asyncio.ensure_future(self.pc.setLocalDescription(description))
        await self._gathering
        return self.pc.localDescription.sdp

    async def _set_remote(self, sdp: str, kind: str) -> None:
        await self.pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type=kind))
        if self.timings.remote_sdp_applied is None:
            self.timings.remote_sdp_applied = time.monotonic()
        remote = self.transceiver.receiver.track if self.transceiver is not None else None
        if remote is not None:
            self.analyzer.attach(remote)
        self.stats.start()

    async def create_offer(self) -> str:
        self._ensure_transceiver()
        return await self._set_local(await self.pc.createOffer())

    async def accept_answer(self, sdp: str) -> None:
        follow_answer(self.transceiver)
        await self._set_remote(sdp, "answer")

    async def accept_offer(self, sdp: str) -> str:
        self._ensure_transceiver()
        await self._set_remote(sdp, "offer")
        return await self._set_local(await self.pc.createAnswer())

    async def add_remote_candidate(self, candidate: str, sdp_mid: str | None, sdp_mline_index: int | None) -> None:
        """Add a trickled remote candidate ("candidate:..." or bare); an empty string = end of candidates."""
        text = candidate.strip()
        if text.startswith("a="):
            text = text[2:]
        if text.startswith("candidate:"):
            text = text[len("candidate:") :]
        if not text:
            await self.pc.addIceCandidate(None)
            return
        parsed = candidate_from_sdp(text)
        parsed.sdpMid = sdp_mid
        parsed.sdpMLineIndex = sdp_mline_index if sdp_mline_index is not None else (0 if sdp_mid is None else None)
        await self.pc.addIceCandidate(parsed)

    # --- teardown ------------------------------------------------------------------------------
    async def close(self) -> MediaReport:
        """Stop everything and report; idempotent and safe to call concurrently."""
        if self._close_task is None:
            self._close_task = asyncio.ensure_future(self._close())
        return await asyncio.shield(self._close_task)

    async def _close(self) -> MediaReport:
        try:
            await self.stats.stop()
            final = await self._final_stats()
            summary = self.analyzer.summary()
            codec = self.codec
            await self.analyzer.stop()
            self.ice_diag.snapshot()  # candidates and the nominated pair are gone once the peer is closed
        finally:  # whatever failed above, the sockets (and the engine's dup()ed fd) are given back
            if self._gathering is not None and not self._gathering.done():
                # aioice adds a socket it finishes binding after close() to a list close() already
                # emptied: that socket stayed open forever (a call ended while its media was rebuilt)
                await asyncio.wait({self._gathering}, timeout=GATHERING_WAIT_S)
            try:
                self._release_media()
            finally:
                await self.pc.close()
                if self.track is not None:
                    self.track.stop()
        self.timings.first_frame = summary.first_frame_at
        self.timings.first_audio = summary.first_audio_at
        self.timings.closed = time.monotonic()
        report = self._report(codec, final, summary)
        self._rejected_at_close = report.rejected_datagrams
        release_session(self)  # freed by reference counting from here on, not by a full collection (teardown.py)
        return report

    async def _final_stats(self) -> MediaStats | None:
        """The last statistics sample before the peer closes (None when there is none to take)."""
        if self.pc.connectionState == "closed" or self.transceiver is None:
            return None
        with contextlib.suppress(Exception):
            return await asyncio.wait_for(sample_stats(self.pc), CLOSE_STATS_TIMEOUT_S)
        return None

    def _release_media(self) -> None:
        """Hook: stop sending before the peer closes (the media engine's streams)."""

    def _ice_connection(self) -> Any:
        """The call's aioice Connection (its sockets are the media ports), or None before negotiation."""
        try:
            return connection_of(self.transceiver.sender.transport)  # type: ignore[union-attr]
        except AttributeError:
            return None

    def rejected_datagrams(self) -> dict[str, int]:
        """Stray datagrams dropped at this call's media ports so far, by kind (stray.py); after close, the
        report's figures (teardown lets go of the ICE connection the live counts are keyed on)."""
        frozen = self.__dict__.get("_rejected_at_close")
        return dict(frozen) if frozen is not None else self._live_rejected_datagrams()

    def _live_rejected_datagrams(self) -> dict[str, int]:
        return stray.merge(stray.counts_for(self._ice_connection()))

    def stale_receive_stamps(self) -> int:
        """Datagrams stamped at the callback because their kernel stamp was unusable (the engine's C path)."""
        return 0

    def _report(self, codec: str | None, final: MediaStats | None, summary: AnalyzerSummary) -> MediaReport:
        applied = self.timings.remote_sdp_applied
        first_audio_s = None
        if summary.first_audio_at is not None and applied is not None:
            first_audio_s = summary.first_audio_at - applied
        return MediaReport(
            codec=codec,
            timings=self.timings.offsets(),
            stats=final,
            first_audio_s=first_audio_s,
            frames_received=summary.frames,
            rms_dbfs=summary.rms_dbfs,
            silence_ratio=summary.silence_ratio,
            one_way=summary.one_way,
            dominant_hz=None if summary.dominant_hz is None else float(summary.dominant_hz),
            connected=self.timings.dtls_connected is not None,
            samples=list(self.stats.samples),
            ice=self.ice_diag.report(),
            rejected_datagrams=self.rejected_datagrams(),
            stale_stamps=self.stale_receive_stamps(),
        )
