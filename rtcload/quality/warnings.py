"""The JS SDK's quality warnings (protocol.md 10.2), so a load run shows where real users' SDKs would warn.

Time is passed in with every sample (no clock reads), which keeps the 3-sample and 15 s rules testable.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from rtcload.protocol.codes import SdkCode

from .sdk_mos import warning_mos

CONSECUTIVE_BREACHES_REQUIRED = 3
WARNING_THROTTLE_S = 15.0
AUDIO_LEVEL_FLOOR = 0.001
LOCAL_SILENCE_S = 30.0
RTT_LIMIT_S = 0.4
JITTER_LIMIT_MS = 30.0
LOSS_LIMIT_PCT = 1.0
MOS_LIMIT = 3.5


# The SDK's warning codes are defined once, with every other SDK code, in the protocol tables.
SdkWarningCode = SdkCode


@dataclass(frozen=True)
class WarningSample:
    """One ~1 s collector sample. Units: seconds and ratios; None means "not available" (never a breach).

    loss_ratio is the loss over this sample (delta counters), bytes_* are cumulative counters.
    """

    t: float
    rtt_s: float | None = None
    jitter_s: float | None = None
    loss_ratio: float | None = None
    local_audio_level: float | None = None
    inbound_audio_level: float | None = None
    bytes_received: int | None = None
    bytes_sent: int | None = None
    on_hold: bool = False


@dataclass(frozen=True)
class QualityWarning:
    """What the SDK would emit as `telnyx.warning {warning: {code, name, message}}`."""

    code: SdkWarningCode
    t: float
    value: float | None
    message: str

    @property
    def name(self) -> str:
        return self.code.name


@dataclass
class _BreachState:
    count: int = 0
    last_emitted: float | None = None


@dataclass
class SdkWarningTracker:
    """Per-call state machine: fire after 3 consecutive breaches, repeat at most every 15 s, reset on a good sample."""

    consecutive_required: int = CONSECUTIVE_BREACHES_REQUIRED
    throttle_s: float = WARNING_THROTTLE_S
    _states: dict[SdkWarningCode, _BreachState] = field(default_factory=dict, init=False)
    _prev: WarningSample | None = field(default=None, init=False)
    _mic_heard: bool = field(default=False, init=False)
    _silence_since: float | None = field(default=None, init=False)
    history: list[QualityWarning] = field(default_factory=list, init=False)

    def update(self, sample: WarningSample) -> list[QualityWarning]:
        """Feed one sample; returns the warnings emitted for it (also appended to `history`)."""
        if self._prev is not None and sample.t < self._prev.t:
            raise ValueError(f"samples must be in time order ({sample.t} < {self._prev.t})")
        fired = [
            w
            for code, (breached, value, msg) in self._breaches(sample).items()
            if (w := self._track(code, breached, value, msg, sample.t)) is not None
        ]
        self._prev = sample
        self.history.extend(fired)
        return fired

    def _breaches(self, s: WarningSample) -> dict[SdkWarningCode, tuple[bool, float | None, str]]:
        c = SdkWarningCode
        jitter_ms = None if s.jitter_s is None else s.jitter_s * 1000.0
        loss_pct = None if s.loss_ratio is None else s.loss_ratio * 100.0
        out: dict[SdkWarningCode, tuple[bool, float | None, str]] = {
            c.HIGH_RTT: (s.rtt_s is not None and s.rtt_s > RTT_LIMIT_S, s.rtt_s, "round-trip time above 400 ms"),
            c.HIGH_JITTER: (jitter_ms is not None and jitter_ms > JITTER_LIMIT_MS, s.jitter_s, "jitter above 30 ms"),
            c.HIGH_PACKET_LOSS: (loss_pct is not None and loss_pct > LOSS_LIMIT_PCT, s.loss_ratio, "loss above 1 %"),
        }
        mos_w = None
        if s.rtt_s is not None and jitter_ms is not None and loss_pct is not None:
            mos_w = warning_mos(jitter_ms, loss_pct, s.rtt_s * 1000.0)
        out[c.LOW_MOS] = (mos_w is not None and mos_w < MOS_LIMIT, mos_w, "estimated MOS below 3.5")
        out[c.LOW_LOCAL_AUDIO] = (self._local_audio_low(s), s.local_audio_level, "no audio from the microphone")
        inbound_low = not s.on_hold and s.inbound_audio_level is not None and s.inbound_audio_level < AUDIO_LEVEL_FLOOR
        out[c.LOW_INBOUND_AUDIO] = (inbound_low, s.inbound_audio_level, "no audio from the remote party")
        prev = self._prev
        recv_stuck = (
            not s.on_hold
            and prev is not None
            and s.bytes_received is not None
            and prev.bytes_received is not None
            and s.bytes_received == prev.bytes_received
        )
        sent_stuck = (
            prev is not None
            and s.bytes_sent is not None
            and prev.bytes_sent is not None
            and s.bytes_sent == prev.bytes_sent
        )
        out[c.LOW_BYTES_RECEIVED] = (recv_stuck, None, "no bytes received since the last sample")
        out[c.LOW_BYTES_SENT] = (sent_stuck, None, "no bytes sent since the last sample")
        return out

    def _local_audio_low(self, s: WarningSample) -> bool:
        # Before the mic has ever produced audio any quiet sample breaches; afterwards only 30 s of silence does.
        level = s.local_audio_level
        if level is None:
            return False
        if level >= AUDIO_LEVEL_FLOOR:
            self._mic_heard = True
            self._silence_since = None
            return False
        if not self._mic_heard:
            return True
        if self._silence_since is None:
            self._silence_since = s.t
        return s.t - self._silence_since >= LOCAL_SILENCE_S

    def _track(
        self, code: SdkWarningCode, breached: bool, value: float | None, message: str, t: float
    ) -> QualityWarning | None:
        state = self._states.setdefault(code, _BreachState())
        if not breached:
            state.count = 0
            state.last_emitted = None
            return None
        state.count += 1
        if state.count < self.consecutive_required:
            return None
        if state.last_emitted is not None and t - state.last_emitted < self.throttle_s:
            return None
        state.last_emitted = t
        return QualityWarning(code=code, t=t, value=value, message=message)
