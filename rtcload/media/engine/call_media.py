"""Engine-backed call media: the generator's `EngineCallMedia` and the emulator's `EngineMediaEndpoint`.

Same API, MediaReport and MediaStats samples as the aiortc-driven CallMedia/MediaEndpoint, so loadgen,
CSV, rating and metrics work unchanged. aiortc negotiates (SDP, ICE, DTLS); when it would start its
RTP sender/receiver, the call's stream is handed to the process's media engine instead (takeover.py).
What arrives is analysed from payloads (rtcload.media.lean.PayloadAnalyzer: exact level for G.711,
silent/audible for Opus); `decode=True` calls are also decoded off the loop (decode.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import time
import uuid
from typing import Any

from aiortc import RTCRtpTransceiver
from aiortc.mediastreams import MediaStreamTrack

from rtcload.media import stray
from rtcload.media.aiortc_private.rtp import negotiated_codecs, sender_ssrc
from rtcload.media.analysis import DEFAULT_ENERGY_FLOOR_DBFS, ReceiveAnalyzer
from rtcload.media.capture import PcmCapture
from rtcload.media.consent import CHROME_CONSENT_INTERVAL_S, set_consent_interval
from rtcload.media.encoded import PreEncodedTrack, encoded_frames, frame_levels
from rtcload.media.endpoint import MediaEndpoint
from rtcload.media.engine.dtmf import DtmfDetector
from rtcload.media.engine.engine import MediaEngine, engine_for
from rtcload.media.engine.native import (
    NativeEngineStream,
    NativePayloadAnalyzer,
    make_payload_analyzer,
    make_stream,
    native_enabled,
)
from rtcload.media.engine.rtcp import AIORTC_CADENCE, CHROME_CADENCE
from rtcload.media.engine.rtp import RtpPacket
from rtcload.media.engine.send_gaps import EMULATOR_SEND_GAPS
from rtcload.media.engine.stream import Codec, EngineStream
from rtcload.media.engine.takeover import Link, hook_transceiver, ice_connection, intercept_datagrams, srtp_sessions
from rtcload.media.engine.telephone_event import TELEPHONE_EVENT, negotiating_events
from rtcload.media.engine.transcode import Transcoder
from rtcload.media.lean import PayloadAnalyzer
from rtcload.media.media_settings import DEFAULT_MEDIA, MediaSettings
from rtcload.media.opus_settings import celt_silence_frame, current_opus
from rtcload.media.peer import CallMedia
from rtcload.media.sdp_profile import AUDIO_LEVEL, DEFAULT_CLIENT_PROFILE, check_profile, shape_sdp
from rtcload.media.session import AudioSession
from rtcload.media.stats import MediaStats, StatsSampler, negotiated_codec

log = logging.getLogger("rtcload.media.engine")

ENGINE_CODECS = ("opus", "pcmu", "pcma")


def engine_header_extensions() -> frozenset[str]:
    """The RTP header extensions the engine's streams write (a chrome-profile offer advertises no others).

    The Python path writes ssrc-audio-level (RFC 6464, the frame's level); the C path writes none yet, so
    while it carries calls (native_enabled) nothing is advertised. A TURN-relayed call takes the Python
    path even then, but its offer went out before that was known: it writes only what was negotiated."""
    return frozenset() if native_enabled() else frozenset({AUDIO_LEVEL})


def stream_is_native(stream: EngineStream) -> bool:
    return isinstance(stream, NativeEngineStream)


class EngineStatsSampler(StatsSampler):
    """StatsSampler whose samples come from the engine stream's counters instead of aiortc's getStats()."""

    def __init__(self, session: _EngineSession, interval_s: float, enrich: Any) -> None:
        super().__init__(session.pc, interval_s, enrich=enrich)
        self.session = session

    async def _sample(self) -> MediaStats:
        stats = self.session.engine_stats()
        return self.enrich(stats) if self.enrich is not None else stats


class _EngineSession:
    """Mixin for AudioSession subclasses: the call's RTP/RTCP runs in the process's MediaEngine."""

    pc: Any
    transceiver: RTCRtpTransceiver | None
    analyzer: ReceiveAnalyzer
    loss_runs: Any
    stats: StatsSampler
    timings: Any
    decode: bool

    def _engine_init(self, decode: bool, one_way_after_s: float, energy_floor_dbfs: float) -> None:
        session: Any = self
        self.decode = decode
        self.engine: MediaEngine | None = None
        self._send_frames_spec: str | None = None  # the source a tick sends; None: echo/relay/oneway
        self.stream: EngineStream | None = None
        self._forward_to = None  # echo: self, relay: the bridged leg (a property: it wires the native path)
        self._held = False
        self._negotiated_send = False
        self._engine_failed = False
        self._restore: Any = None
        self.payloads: PayloadAnalyzer = make_payload_analyzer(
            lambda: session.codec, energy_floor_dbfs=energy_floor_dbfs, one_way_after_s=one_way_after_s
        )
        self.decoder: Any = None
        self.capture: PcmCapture | None = None  # what a scored call heard (capture.py)
        self.capture_seconds = 0.0  # > 0: keep up to this much of the received audio (needs decode=True)
        self.dtmf_detector = DtmfDetector()  # RFC 4733 digits received in-band
        self.rtcp_cadence = AIORTC_CADENCE  # a client profile may set Chrome's (EngineCallMedia)
        self.opus_dtx = False  # EngineCallMedia with DTX configured: silent Opus frames are not sent
        if not decode:
            self.analyzer = self.payloads
        self.stats = EngineStatsSampler(self, self.stats.interval_s, enrich=session._enrich_stats)

    # RFC 4733 telephone-event is negotiated by this peer only (telephone_event.py): the SDP steps run
    # inside negotiating_events(), so aiortc offers and accepts it here and nowhere else in the process.
    async def create_offer(self) -> str:
        with negotiating_events():
            return await super().create_offer()  # type: ignore[misc]  # the AudioSession this mixin precedes

    async def accept_offer(self, sdp: str) -> str:
        with negotiating_events():
            return await super().accept_offer(sdp)  # type: ignore[misc]

    async def accept_answer(self, sdp: str) -> None:
        with negotiating_events():
            await super().accept_answer(sdp)  # type: ignore[misc]

    # last_rtp is read by the signaling client (media-gap measurement, media watchdog)
    @property
    def last_rtp(self) -> float | None:
        stream = self.__dict__.get("stream")
        return None if stream is None else stream.last_rtp

    @last_rtp.setter
    def last_rtp(self, _value: float | None) -> None:
        """AudioSession's per-packet hook would set it; here the stream keeps it."""

    def _engine_transceiver(self, transceiver: RTCRtpTransceiver) -> RTCRtpTransceiver:
        if not getattr(transceiver, "_rtcload_engine", False):
            transceiver._rtcload_engine = True  # type: ignore[attr-defined]
            hook_transceiver(transceiver, self._engine_send, self._engine_receive)
        return transceiver

    async def _engine_send(self, parameters: Any) -> None:
        stream = self._engine_stream(parameters.rtcp.cname)
        if stream is not None and not self._engine_failed:
            self._negotiated_send = True
            if self._send_frames_spec is not None:
                stream.frames = encoded_frames(self._send_frames_spec, stream.codec.name)
                stream.levels = frame_levels(self._send_frames_spec)
                if self.opus_dtx and stream.codec.name == "opus" and not stream_is_native(stream):
                    silence = celt_silence_frame()
                    stream.dtx = tuple(payload == silence for payload in stream.frames)
            stream.audio_level_id = next(
                (e.id for e in parameters.headerExtensions if e.uri == AUDIO_LEVEL and not stream_is_native(stream)),
                None,
            )
            stream.set_sending(not self._held)

    async def _engine_receive(self, _parameters: Any) -> None:
        self._engine_stream(None)

    def _engine_stream(self, cname: str | None) -> EngineStream | None:
        """The call's stream, or None (and the call marked failed, with the reason logged) if it cannot be taken."""
        try:
            return self._take_over(cname)
        except (ValueError, ConnectionError, AttributeError) as exc:  # AttributeError: an unchecked aiortc
            if not self._engine_failed:
                self._engine_failed = True
                log.warning("media engine cannot carry this call: %s", exc)
                session: Any = self
                session._mark_failed()
            return None

    def _take_over(self, cname: str | None) -> EngineStream:
        """The call's stream, taken over from aiortc at the first send/receive hand-over."""
        if self.stream is not None:
            if cname:
                self.stream.cname = cname
            return self.stream
        transceiver = self.transceiver
        assert transceiver is not None
        dtls = transceiver.sender.transport
        codec_parameters = negotiated_codecs(transceiver)[0]
        name = codec_parameters.mimeType.split("/", 1)[-1].lower()
        if name not in ENGINE_CODECS:
            raise ValueError(f"the media engine carries {ENGINE_CODECS}, not {name!r}")
        tx, rx = srtp_sessions(dtls)
        connection = ice_connection(dtls)
        # DTX skips frames on the tick: only the Python path does (the C send path sends every tick)
        build = EngineStream if self.opus_dtx and name == "opus" else make_stream
        stream = build(
            Link(connection),
            tx,
            rx,
            Codec(name, codec_parameters.payloadType, codec_parameters.clockRate),
            ssrc=sender_ssrc(transceiver.sender),
            cname=cname or str(uuid.uuid4()),
        )
        stream.dtmf_payload_type = next(
            (c.payloadType for c in negotiated_codecs(transceiver) if c.mimeType.lower() == TELEPHONE_EVENT
             and c.clockRate == codec_parameters.clockRate),
            None,
        )  # fmt: skip
        stream.on_dtmf = self._engine_dtmf
        stream.rtcp_cadence = self.rtcp_cadence
        stream.loss_runs = self.loss_runs
        stream.on_first_rtp = self._engine_first_rtp
        stream.on_packet = self._engine_packet
        self.stream = stream
        if getattr(self, "playout_s", 0.0) and isinstance(stream, NativeEngineStream):
            stream.ntx.playout = self.playout_s  # forwards to this leg leave on the send thread's schedule
        if self.decode:
            from rtcload.media.engine.decode import SampledDecoder

            self.decoder = SampledDecoder(name, self.analyzer, asyncio.get_running_loop())
            if self.capture_seconds > 0:
                self.capture = PcmCapture(codec_parameters.clockRate, self.capture_seconds)
                self.decoder.capture = self.capture
        if isinstance(stream, NativeEngineStream):
            if isinstance(self.payloads, NativePayloadAnalyzer):
                self.payloads.follow(stream.nrx, name)  # audio presence is counted in C from here on
            gate = engine_for().clock.gate
            self._restore = intercept_datagrams(
                connection, stream.on_datagram, lambda original, fd: stream.demux(original, fd, gate)
            )
        else:
            self._restore = intercept_datagrams(connection, stream.on_datagram)
        self._wire_native()
        target = self._forward_to
        if isinstance(target, _EngineSession) and target is not self:
            target._wire_native()  # a relay peer that was taken over first now has somewhere to forward
        self.engine = engine_for()
        self.engine.add(stream)
        return stream

    @property
    def _forward_to(self) -> _EngineSession | None:
        return self.__dict__.get("_forward_target")

    @_forward_to.setter
    def _forward_to(self, target: _EngineSession | None) -> None:
        self.__dict__["_forward_target"] = target
        self._wire_native()

    def _wire_native(self) -> None:
        """Where a native stream's received audio goes: echo/relay straight to a native target in C; to
        Python only for what C cannot do (a Python-path target, the sampled decoder)."""
        stream = self.__dict__.get("stream")
        if not isinstance(stream, NativeEngineStream):
            return
        target = self._forward_to
        target_stream = None if target is None else target.__dict__.get("stream")
        native_target = isinstance(target_stream, NativeEngineStream)
        stream.nrx.forward = target_stream.ntx if native_target else None
        python_forward = target_stream is not None and not native_target
        stream.nrx.on_audio = self._engine_native_audio if python_forward or self.decoder is not None else None

    def _engine_native_audio(self, packet: RtpPacket, arrival: float) -> None:
        """A native stream's audio packet that needs Python: forward to a Python-path target, decode."""
        target = self._forward_to
        if target is not None and target.stream is not None and not isinstance(target.stream, NativeEngineStream):
            target.stream.forward(packet.payload, packet.timestamp, packet.marker, arrival)
        if self.decoder is not None:
            self.decoder.push(packet.payload, arrival, packet.timestamp)

    def _engine_first_rtp(self) -> None:
        session: Any = self
        session._mark_first_rtp()

    def _engine_packet(self, packet: RtpPacket, arrival: float) -> None:
        target = self._forward_to
        if target is not None and target.stream is not None:
            target.stream.forward(packet.payload, packet.timestamp, packet.marker, arrival)
        self.payloads.add_payload(packet.payload, arrival)
        if self.decoder is not None:
            self.decoder.push(packet.payload, arrival, packet.timestamp)

    def _engine_dtmf(self, packet: RtpPacket, _arrival: float) -> None:
        with contextlib.suppress(ValueError):  # a malformed event is not a digit
            self.dtmf_detector.on_packet(packet.timestamp, packet.payload)

    @property
    def dtmf_received(self) -> str:
        return "".join(self.dtmf_detector.digits)

    def send_dtmf(self, digit: str) -> bool:
        """RFC 4733 in-band digits on the call's RTP (the SDK's INFO goes over signaling as well)."""
        return self.stream is not None and self.stream.sending and self.stream.send_dtmf(digit)

    def _live_rejected_datagrams(self) -> dict[str, int]:
        """What the engine's receive path dropped plus what the stray guard dropped on the call's sockets."""
        stream = self.__dict__.get("stream")
        own = stream.rejected_datagrams() if stream is not None else {}
        return stray.merge(own, super()._live_rejected_datagrams())  # type: ignore[misc]  # the AudioSession

    def stale_receive_stamps(self) -> int:
        stream = self.__dict__.get("stream")
        return 0 if stream is None else int(stream.stale_stamps)

    def engine_stats(self) -> MediaStats:
        if self.stream is not None:
            return self.stream.media_stats()
        codec, clock_rate = negotiated_codec(self.transceiver)
        return MediaStats(at=time.monotonic(), codec=codec, clock_rate=clock_rate)

    def _engine_hold(self, held: bool) -> None:
        """The platform's side of hold: nothing more is sent to the held leg (its ticks and echoes stop;
        sequence numbers stay contiguous and timestamps keep to the wall clock, so the pause is no loss)."""
        self._held = held
        if self.stream is not None and self._negotiated_send:
            self.stream.set_sending(not held)

    async def _final_stats(self) -> MediaStats | None:
        return self.engine_stats() if self.transceiver is not None else None

    def _report(self, codec: str | None, final: MediaStats | None, summary: Any) -> Any:
        """AudioSession's report plus when our packets really left (send gaps, drops: send_gaps.py)."""
        report = super()._report(codec, final, summary)  # type: ignore[misc]
        if self.stream is None:
            return report
        return dataclasses.replace(report, send_timing=self.stream.send_timing())

    def _release_media(self) -> None:
        """Stop the stream (RTCP BYE) and give the sockets back to aiortc."""
        stream = self.stream
        if stream is None:
            return
        if self.engine is not None:
            self.engine.remove(stream)
        with contextlib.suppress(Exception):
            stream.send_rtcp(bye=True)
        if self._restore is not None:
            self._restore()
            self._restore = None
        stream.close()
        if self.decoder is not None:
            self.decoder.stop()

    def _on_connection_state(self) -> None:
        super()._on_connection_state()  # type: ignore[misc]  # the AudioSession this mixin precedes
        if self.pc.connectionState in ("failed", "closed") and self.engine is not None and self.stream is not None:
            self.engine.remove(self.stream)
            self.stream.close()


class EngineCallMedia(_EngineSession, CallMedia):
    """The generator's call media on the engine: the source's pre-encoded frames on the engine's clock.

    Hold is what the official SDK does (protocol.md §2): a `telnyx_rtc.modify` and nothing else, no
    SDP renegotiation, no change to its own media. The microphone keeps sending; the platform stops
    the media toward the holder. So we keep sending, and what changes is what we expect to hear:
    nothing while held, which is not loss, one-way audio or a media gap (samples carry `on_hold`).
    """

    def __init__(
        self,
        source: str = "tone:440",
        settings: MediaSettings = DEFAULT_MEDIA,
        decode: bool = False,
        profile: str = DEFAULT_CLIENT_PROFILE,
    ) -> None:
        spec = source.strip()
        self.profile = check_profile(profile)
        CallMedia.__init__(
            self,
            spec,
            settings,
            track=PreEncodedTrack(spec, lambda: self.codec),  # type: ignore[arg-type]
        )
        self._engine_init(decode, settings.one_way_after_s, settings.energy_floor_dbfs)
        self.opus_dtx = current_opus().dtx
        self._send_frames_spec = spec
        if self.codec_preference in ENGINE_CODECS:  # encode the source now, not while other calls' media flows
            encoded_frames(spec, self.codec_preference)

    def _ensure_transceiver(self) -> RTCRtpTransceiver:
        fresh = self.transceiver is None
        transceiver = self._engine_transceiver(super()._ensure_transceiver())
        if fresh and self.profile == "chrome":  # Chrome's timing: RTCP cadence, consent checks (rtcp.py, consent.py)
            self.rtcp_cadence = CHROME_CADENCE
            set_consent_interval(ice_connection(transceiver.sender.transport), CHROME_CONSENT_INTERVAL_S)
        return transceiver

    # The client's SDP as the profile shapes it (sdp_profile.py): Chrome's for what the engine does.
    async def create_offer(self) -> str:
        return self._shape(await super().create_offer(), offer=True)

    async def accept_offer(self, sdp: str) -> str:
        return self._shape(await super().accept_offer(sdp), offer=False)

    def _shape(self, sdp: str, offer: bool) -> str:
        if self.profile == "minimal":
            return sdp
        return shape_sdp(sdp, opus_fmtp=current_opus().fmtp, sends=engine_header_extensions(), offer=offer)

    def set_hold(self, held: bool) -> None:
        """Held: expect silence from the platform (one-way detection paused, intervals marked on hold);
        keep sending, as the SDK does."""
        super().set_hold(held)

    def local_level(self) -> float | None:
        """What we send: the source, held or not (the SDK does not mute on hold)."""
        return self._source_level


HOLD_MUSIC = "tone:600"  # what the far party of a held bridged call hears (a platform plays music on hold)


class EngineMediaEndpoint(_EngineSession, MediaEndpoint):
    """The emulator's call media on the engine: echo forwards each payload at its kernel arrival +
    `playout_s` from the send thread (a fixed jitter buffer: loop stalls shorter than it leave no trace;
    0: at once from the receive callback); relay forwards to the bridged leg the same way; sources play
    pre-encoded frames. The Python path (RTCLOAD_ENGINE_NATIVE=0) always forwards at once."""

    def __init__(
        self,
        mode: str = "echo",
        codec: str | None = None,
        ice_servers: list[str] | None = None,
        stats_interval_s: float = 0.0,
        one_way_after_s: float = 5.0,
        decode: bool = False,
        playout_s: float = 0.0,
    ) -> None:
        self.mode = mode
        self.echo = None
        self.playout_s = playout_s if mode in ("echo", "relay") else 0.0
        track: MediaStreamTrack | None
        spec: str | None = None
        if mode in ("echo", "relay"):
            track = PreEncodedTrack("silence", lambda: self.codec)  # never read: it only makes the SDP sendrecv
        elif mode == "oneway":
            track = None
        else:
            spec = mode.strip()
            track = PreEncodedTrack(spec, lambda: self.codec)
        AudioSession.__init__(
            self,
            track,
            codec=codec,
            ice_servers=ice_servers,
            stats_interval_s=stats_interval_s,
            one_way_after_s=one_way_after_s,
        )
        self._sends_energy = mode not in ("echo", "relay", "oneway", "silence")
        self._engine_init(decode, one_way_after_s, DEFAULT_ENERGY_FLOOR_DBFS)
        self._send_frames_spec = spec
        if spec is not None:  # encode the source now (Opus, what offers prefer), not while calls' media flows
            encoded_frames(spec, self.codec_preference or "opus")
        if mode == "echo":
            self._forward_to = self
        self._relay_partner: EngineMediaEndpoint | None = None
        self._relay_hop: EngineMediaEndpoint | _TranscodingHop | None = None  # where this leg's audio goes

    def _ensure_transceiver(self) -> RTCRtpTransceiver:
        return self._engine_transceiver(super()._ensure_transceiver())

    def relay_to(self, other: MediaEndpoint) -> None:
        """Bridge two engine "relay" endpoints: payloads each receives are sent out by the other, as they
        are when both legs negotiated one codec, transcoded (off the loop, transcode.py) when not."""
        if not isinstance(other, EngineMediaEndpoint) or "relay" not in (self.mode, other.mode):
            raise ValueError("relay_to needs two engine endpoints in relay mode")
        for leg in (self, other):
            leg._stop_transcoding()
        self._relay_partner, other._relay_partner = other, self
        self._relay_hop, other._relay_hop = self._hop_to(other), other._hop_to(self)
        self._apply_relay_hold(other)

    def _hop_to(self, other: EngineMediaEndpoint) -> EngineMediaEndpoint | _TranscodingHop:
        mine, theirs = self.codec, other.codec
        if mine is None or theirs is None or mine == theirs:
            return other
        log.info("relay %s -> %s: transcoding", mine, theirs)

        def deliver(payload: bytes, timestamp: int, marker: bool, arrival: float) -> None:
            if other.stream is not None:
                other.stream.forward(payload, timestamp, marker, arrival)

        return _TranscodingHop(Transcoder(mine, theirs, deliver, asyncio.get_running_loop()))

    @property
    def transcoder(self) -> Transcoder | None:
        """The transcoder of this leg's audio toward its bridged partner, when their codecs differ."""
        hop = self._relay_hop
        return hop.stream.transcoder if isinstance(hop, _TranscodingHop) else None

    def _stop_transcoding(self) -> None:
        if self.transcoder is not None:
            self.transcoder.stop()
        self._relay_hop = None

    def _release_media(self) -> None:
        """The leg's media ends: nothing more is transcoded from it, nor relayed or transcoded toward it
        (its partner's audio goes nowhere until relinked, not into this leg's closed socket)."""
        partner = self._relay_partner
        self._stop_transcoding()
        if partner is not None and partner._relay_partner is self:
            partner._stop_transcoding()
            session: Any = partner
            session._forward_to = None
        if self.stream is not None:  # the emulator's media clock: its own send gaps and drops
            EMULATOR_SEND_GAPS.add(self.stream.send_timing(), str(id(self)))
        super()._release_media()

    def set_hold(self, held: bool) -> None:
        """This leg's client put the call on hold (or took it off); the platform's side of Verto hold.

        The SDK's hold is a signaling request only (protocol.md §2: no SDP, its media untouched); the
        platform suspends the holder's media and plays music on hold to the far party. So nothing more
        is sent to this leg and nothing it sends is echoed; on a bridged call its audio is no longer
        relayed, and its partner hears HOLD_MUSIC until unhold.
        """
        self._engine_hold(held)
        if self._relay_partner is not None:
            self._apply_relay_hold(self._relay_partner)

    def _apply_relay_hold(self, partner: EngineMediaEndpoint) -> None:
        """What flows between two bridged legs for their hold states: audio both ways when neither is
        held; hold music to a leg whose partner is held (a held leg itself is sent nothing)."""
        for leg, other in ((self, partner), (partner, self)):
            session: Any = leg  # _forward_to takes the partner, or a transcoding hop standing in for it
            session._forward_to = None if (leg._held or other._held) else (leg._relay_hop or other)
            leg._play(HOLD_MUSIC if other._held else None)

    def _play(self, spec: str | None) -> None:
        """Send `spec`'s frames on the engine's ticks (None: only what is relayed to this leg)."""
        if spec == self._send_frames_spec:
            return
        self._send_frames_spec = spec
        stream = self.stream
        if stream is not None and self._negotiated_send:
            stream.frames = None if spec is None else encoded_frames(spec, stream.codec.name)
            stream.levels = None if spec is None else frame_levels(spec)
            if stream.sending:  # a new talkspurt: the next packet carries the marker bit
                stream.set_sending(False)
                stream.set_sending(True)


class _TranscodedStream:
    """Stands in for the partner's stream on a transcoded relay: what the engine forwards is transcoded first."""

    def __init__(self, transcoder: Transcoder) -> None:
        self.transcoder = transcoder

    def forward(self, payload: bytes, timestamp: int, marker: bool, now: float) -> None:
        self.transcoder.push(payload, timestamp, marker, now)


class _TranscodingHop:
    """Where a relay leg's audio goes when the partner's codec differs: the engine forwards received
    payloads to `hop.stream.forward(...)`, as to a partner, and the transcoder sends them on."""

    def __init__(self, transcoder: Transcoder) -> None:
        self.stream = _TranscodedStream(transcoder)
