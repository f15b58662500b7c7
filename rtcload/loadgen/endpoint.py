"""The asyncio side of one virtual user: a signaling client and the calls it makes or takes.

Every public coroutine returns a list of `Sample`s (what happened, how long, or why it failed);
the gevent side turns them into Locust events. Nothing here touches Locust or gevent.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import random
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from rtcload.loadgen.media_factory import CallMediaFactory
from rtcload.loadgen.records import call_record, failed_dial_record
from rtcload.loadgen.settings import LoadSettings
from rtcload.metrics.catalog import measurement
from rtcload.protocol.codes import RpcErrorCode, SdkCode, cause_label
from rtcload.signaling import (
    Call,
    CallFailed,
    ClientConfig,
    Credentials,
    InboundPolicy,
    SignalingClient,
    SignalingError,
    StaticSdpMedia,
)
from rtcload.signaling.call_report import CallReporter
from rtcload.signaling.events import EventKind, EventLog, SignalingEvent

_KNOWN_CODES = frozenset(int(c) for c in (*RpcErrorCode, *SdkCode))
ENDPOINT_EVENT_HISTORY = 200  # signaling events kept per virtual user (see VirtualEndpoint)
AUDIO_SPECS = {"tone": "tone:440", "dualtone": "dualtone:350,440"}


@dataclass(frozen=True)
class Sample:
    key: str  # a metrics catalog key (registration, post_dial_delay, mos, ...)
    value: float | None  # in the catalog's unit (seconds, MOS, ratio); None when it failed
    error: str | None = None  # code/cause text for Locust's failure table
    context: str = ""  # e.g. destination route, for logs only (never a metric label)
    code: str = ""  # bounded error code for rtcload_errors_total (see failure_code)
    cause: str = ""  # bounded hangup cause (protocol.codes.cause_label) when a call failed with one
    outcome: str = ""  # "answered"/"failed" on the one sample that decides a call (rtcload_calls_total)
    label: str = ""  # the bounded label of a labelled counter sample (ice_selected, turn_allocations, ...)

    @property
    def ok(self) -> bool:
        return self.error is None


def _is_loopback(url: str) -> bool:
    host = urlsplit(url).hostname or ""
    return host in ("localhost", "::1") or host.startswith("127.")


def _server_host(url: str) -> str:
    """The host of a stun:/turn: URL (`turn:host:port?transport=udp`, IPv6 in brackets)."""
    rest = url.split(":", 1)[-1].split("?", 1)[0]
    if rest.startswith("["):
        return rest[1:].split("]", 1)[0]
    return rest.rsplit(":", 1)[0] if rest.count(":") == 1 else rest


@functools.lru_cache(maxsize=16)
def _routed(hosts: tuple[str, ...]) -> tuple[str, ...]:
    from rtcload.media.loopback import route_addresses

    return tuple(route_addresses(hosts))


def choose_host_addresses(settings: LoadSettings) -> None:
    """Where this process' calls gather ICE host candidates: --rtc-ice-host addresses, `route` (the local
    address toward the target and each ICE server), loopback for a loopback target, else every interface
    (enumerated once per few seconds instead of at every call)."""
    from rtcload.media.loopback import cache_host_addresses, use_host_addresses, use_loopback_only

    chosen = settings.ice_host_addresses
    if chosen == ("route",):
        hosts = [urlsplit(settings.target).hostname or ""] + [_server_host(s.urls) for s in settings.ice_servers]
        use_host_addresses(_routed(tuple(dict.fromkeys(h for h in hosts if h))))
    elif chosen:
        use_host_addresses(chosen)
    elif _is_loopback(settings.target):
        use_loopback_only()
    else:
        cache_host_addresses()


def failure_code(exc: BaseException) -> str:
    """A bounded label for rtcload_errors_total: a known numeric code, `timeout` or `other`."""
    if isinstance(exc, CallFailed):
        return "call_failed" if cause_label(exc.cause) == "OTHER" else str(exc.cause_code)
    if isinstance(exc, SignalingError):
        return str(int(exc.code)) if exc.code in _KNOWN_CODES else "other"
    if isinstance(exc, TimeoutError):
        return "timeout"
    return "other"


def failed(key: str, exc: BaseException, context: str = "", call: bool = False) -> Sample:
    """A failure sample with its Locust text and bounded labels; `call` marks a call that failed."""
    cause = cause_label(exc.cause) if isinstance(exc, CallFailed) else ""
    return Sample(key, None, failure_text(exc), context, failure_code(exc), cause, "failed" if call else "")


def failure_text(exc: BaseException) -> str:
    """What Locust's failure table shows: the code and cause, never a credential."""
    if isinstance(exc, CallFailed):
        return f"{exc.cause} ({exc.cause_code})"
    if isinstance(exc, SignalingError):
        return f"{exc.code} {exc.detail}"
    if isinstance(exc, TimeoutError):
        return f"timeout: {exc}" if str(exc) else "timeout"
    return f"{type(exc).__name__}: {exc}"


class VirtualEndpoint:
    def __init__(self, settings: LoadSettings, credentials: Credentials, label: str, inbound: bool = False) -> None:
        self.settings = settings
        self.label = label
        self.rng = random.Random()
        self.audio: Any = None  # audio scores of sampled calls (audio_calls.AudioScoring), engine media only
        if settings.media == "aiortc":
            from rtcload.loadgen.audio_calls import AudioScoring
            from rtcload.media.opus_settings import OpusSettings, configure_opus

            choose_host_addresses(settings)
            configure_opus(OpusSettings(bitrate=settings.opus_bitrate, dtx=settings.opus_dtx))
            source = AUDIO_SPECS.get(settings.audio, settings.audio)
            self.audio = AudioScoring(settings, source)
            # relay-only for the whole run, or for this user's share of the population
            relay_only = settings.relay_only or self.rng.random() < settings.relay_share
            media_factory: Any = CallMediaFactory(settings, source, relay_only, self.audio)
        else:
            media_factory = StaticSdpMedia
        config = ClientConfig(
            url=settings.target,
            credentials=credentials,
            label=label,
            verify_tls=settings.verify_tls,
            ca_file=settings.ca_file,
            trickle_ice=settings.trickle,
            backoff=settings.backoff,
            media_timeout_s=settings.media_timeout_s,
        )
        policy = InboundPolicy.MANUAL if inbound else InboundPolicy.REJECT
        # The client's event history is for tests and debugging; nothing in a run reads it. The default
        # 2,000 events (~320 B each) per client filled for about an hour of soak (~10 MB at 16 users,
        # ~320 MB at 500) and looked like a leak; a user's recent events are enough.
        history = EventLog(max_events=ENDPOINT_EVENT_HISTORY)
        self.client = SignalingClient(config, media_factory, inbound_policy=policy, events=history)
        self.reporter = CallReporter(
            self.client, enabled=settings.call_reports, sample_rate=settings.call_report_sample
        )
        self._pending: list[Sample] = []
        self.closing = False
        self.records: list[dict[str, Any]] = []  # finished calls, drained by the gevent side
        self.client.events.subscribe(self._on_event)

    @property
    def registered(self) -> bool:
        """Ready (REGED) now; read from the gevent side at scrape time, so never raises."""
        try:
            return self.client.ready
        except BaseException:  # a cancelled readiness future raises on inspection
            return False

    @property
    def active_calls(self) -> int:
        """Calls not ended yet (read from the gevent side at scrape time: a len() is atomic)."""
        return len(self.client.calls)

    # ---------------------------------------------------------------- registration

    async def register(self) -> list[Sample]:
        try:
            reg = await self.client.connect()
        except (SignalingError, TimeoutError) as exc:
            return [*self.drain_events(), failed("registration", exc)]
        return [
            Sample("registration", reg.total_s),
            Sample("ws_connect", reg.ws_connect_s),
            Sample("login", reg.login_s),
        ]

    def _on_event(self, event: SignalingEvent) -> None:
        """Reconnects and reattaches happen between calls: keep them for the next returned batch."""
        if event.kind is EventKind.RECONNECTED:
            self._pending.append(Sample("reconnect", float(event.detail.get("duration_s") or 0.0)))
        elif event.kind is EventKind.RECONNECT_EXHAUSTED:
            self._pending.append(Sample("reconnect", None, "reconnect exhausted", code="reconnect_exhausted"))
        elif event.kind is EventKind.CALL_REATTACHED:
            self._pending.append(Sample("reattach", 1.0))
        elif event.kind is EventKind.MEDIA_GAP:
            gap = event.detail.get("gap_s")
            self._pending.append(
                Sample("media_gap", gap)
                if gap is not None
                else Sample("media_gap", None, "no media after recovery", code="media_not_resumed")
            )
        elif event.kind is EventKind.SOCKET_LOST:  # which calls a fault hit (calls.csv fault attribution)
            wall = time.time()
            for call in list(self.client.calls.values()):
                if not call.ended:
                    call.socket_losses.append((wall, call.timings.answered is not None))
        elif event.kind is EventKind.SESSION_NOT_REATTACHED:
            self._pending.append(Sample("reattach", None, "call not reattached", code="not_reattached"))
        elif event.kind is EventKind.FRAME_IN_WRONG_STATE:  # method and state are bounded words: no free text
            text = f"{event.detail.get('method')} in state {event.detail.get('state')}"
            self._pending.append(Sample("errors", None, text, code="protocol_state"))

    def _record_answered(self, call: Call) -> None:
        """An answered call's record; a scored call's waits for its audio score (audio_calls.py)."""
        row = call_record(call, self.label, "answered")
        if self.audio is None or not self.audio.finish(call, row, self._deliver_scored):
            self.records.append(row)

    def _deliver_scored(self, row: dict[str, Any], samples: list[tuple[str, float, str]]) -> None:
        """On the loop: a scored call's record and its audio samples (fired with the next batch)."""
        self.records.append(row)
        self._pending.extend(Sample(key, value, label=label) for key, value, label in samples)

    def drain_records(self) -> list[dict[str, Any]]:
        out, self.records = self.records, []
        return out

    def drain_events(self) -> list[Sample]:
        out, self._pending = self._pending, []
        return out + self.report_samples()

    async def unregister(self) -> None:
        self.closing = True  # a call cut short from here on is the run's end, not a failure
        await self.client.close(hangup_calls=True)
        await self.reporter.drain(10.0)  # as the SDK's disconnect() waits for report uploads
        if self.audio is not None:
            await self.audio.flush(15.0)  # scored calls' records wait for their scores (bounded)

    def report_samples(self) -> list[Sample]:
        """Outcomes of call-report uploads finished since the last call (a labelled counter)."""
        results, self.reporter.results = self.reporter.results, []
        return [Sample("call_reports", 1.0, label="sent" if r.ok else "failed") for r in results]

    # ---------------------------------------------------------------- calls

    async def outbound_call(self, destination: str, duration_s: float) -> list[Sample]:
        """Dial, wait for the answer, stay `duration_s` (hold/DTMF as configured), hang up."""
        try:
            call = await self.client.dial(destination)
        except (SignalingError, TimeoutError) as exc:
            self.records.append(
                failed_dial_record(self.label, destination, "outbound", failure_text(exc), failure_code(exc))
            )
            return [*self.drain_events(), failed("call_setup", exc, destination, call=True)]
        samples: list[Sample] = self.drain_events()
        try:
            await call.wait_established(self.settings.answer_timeout_s)
        except (SignalingError, TimeoutError) as exc:
            if self.closing:  # the generator stopped (end of run): not the platform's failure
                self.records.append(call_record(call, self.label, "interrupted", "stopped by the generator"))
                return samples
            if call.timings.post_dial_delay is not None:
                samples.append(Sample("post_dial_delay", call.timings.post_dial_delay))
            samples.append(failed("call_setup", exc, destination, call=True))
            if not call.ended:
                with contextlib.suppress(SignalingError):
                    await call.hangup()
            self.records.append(call_record(call, self.label, "failed", failure_text(exc), failure_code(exc)))
            return samples
        if call.timings.post_dial_delay is not None:
            samples.append(Sample("post_dial_delay", call.timings.post_dial_delay))
        samples.append(Sample("call_setup", call.timings.answer_delay, outcome="answered"))
        samples += await self._in_call(call, duration_s)
        self._record_answered(call)
        return samples + self.drain_events()

    async def answer_next(self, wait_s: float, max_talk_s: float) -> list[Sample]:
        """Inbound agent: wait for a call, answer it, talk until the caller hangs up (bounded)."""
        try:
            call = await self.client.next_incoming(wait_s)
        except TimeoutError:
            return self.drain_events()
        try:
            await call.answer()
        except (SignalingError, TimeoutError) as exc:
            self.records.append(call_record(call, self.label, "failed", failure_text(exc), failure_code(exc)))
            return [*self.drain_events(), failed("inbound_answer", exc, call=True)]
        samples = [
            *self.drain_events(),
            Sample("inbound_answer", call.timings.inbound_answer_delay, outcome="answered"),
        ]
        samples += await self._in_call(call, max_talk_s, hang_up=False)
        self._record_answered(call)
        return samples + self.drain_events()

    async def _in_call(self, call: Call, duration_s: float, hang_up: bool = True) -> list[Sample]:
        samples: list[Sample] = []
        loop = asyncio.get_running_loop()
        deadline = loop.time() + duration_s
        try:
            if self.rng.random() < self.settings.dtmf_share and self.settings.dtmf_digits:
                await call.dtmf(self.settings.dtmf_digits)
            if self.rng.random() < self.settings.hold_share:
                await call.hold()
                await call.wait_ended(min(1.0, duration_s / 4))
                if not call.ended:
                    await call.unhold()
        except SignalingError as exc:
            samples.append(
                Sample("call_setup", None, f"mid-call: {failure_text(exc)}", code=f"midcall_{failure_code(exc)}")
            )
        ended = await call.wait_ended(max(0.0, deadline - loop.time()))
        if not ended and hang_up:
            await call.hangup()
        elif not ended:
            await call.wait_ended(30)
            if not call.ended:
                await call.hangup()
        if call.timings.hangup_delay is not None:
            samples.append(Sample("hangup", call.timings.hangup_delay))
        elif call.error and call.error.startswith("bye failed"):
            samples.append(Sample("hangup", None, call.error, code="bye_failed"))
        samples += media_samples(call.media_report, call.earlier_media_reports)
        return samples


def media_samples(report: Any, earlier: list[Any] | None = None) -> list[Sample]:
    """First-RTP and per-interval quality of a finished call (absent for signaling-only runs); the
    intervals of the media a rebuild replaced (`earlier`) are rated too."""
    if report is None or not hasattr(report, "timings"):
        return []
    from rtcload.media.rating import rate_report

    out: list[Sample] = []
    applied = report.timings.get("remote_sdp_applied")
    for key, timing in (
        ("ice_connect", "ice_connected"),
        ("dtls_connect", "dtls_connected"),
        ("first_rtp", "first_rtp"),
    ):
        value = report.timings.get(timing)
        if value is not None and applied is not None:
            out.append(Sample(key, max(0.0, value - applied)))
    if report.timings.get("first_rtp") is None:
        out.append(Sample("first_rtp", None, "no RTP received (one-way or no media)", code="no_rtp"))
    timing = getattr(report, "send_timing", None)
    if timing is not None:  # the engine's own send timing: one observation per call, counters
        out.append(Sample("send_gap_max", timing.gap_max_s))
        out.append(Sample("send_gaps", float(timing.gaps_over)))
        out.append(Sample("send_drops", float(timing.drops + timing.oversized)))
    for interval in rate_report(report, earlier).rated:
        out.append(Sample("mos", interval.mos))
        out.append(Sample("packet_loss", interval.loss_ratio))
        out.append(Sample("jitter", interval.jitter_s))
        if interval.rtt_known:
            out.append(Sample("rtt", interval.rtt_s))
    ice = getattr(report, "ice", None)
    if ice is not None:
        from rtcload.media.ice_diag import ice_samples

        out += [Sample(**fields) for fields in ice_samples(ice)]
    for kind, count in (getattr(report, "rejected_datagrams", None) or {}).items():  # stray.KINDS: bounded
        out.append(Sample("rejected_datagrams", float(count), label=kind))
    if getattr(report, "stale_stamps", 0):
        out.append(Sample("stale_receive_stamps", float(report.stale_stamps)))
    return out


def locust_fields(sample: Sample) -> tuple[str, str, float]:
    m = measurement(sample.key)
    assert m.locust_type and m.locust_name, f"{sample.key} is not a Locust request"
    return m.locust_type, m.locust_name, m.locust_value(sample.value or 0.0)
