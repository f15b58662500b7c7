"""Per-interval quality from two cumulative stats snapshots (quality.md section 5.3).

API units are seconds and ratios (0..1); the E-model's ms and percent are converted here and nowhere else.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from .bands import DEFAULT_BANDS, Band, QualityBands
from .codecs import CodecProfile, codec_or_fallback
from .emodel import mos_from_r, r_from_inputs
from .warnings import WarningSample


@dataclass(frozen=True)
class StatsSnapshot:
    """Cumulative getStats-style counters of one direction at time t (seconds, caller's monotonic clock).

    jitter_s and rtt_s are current values, not cumulative; rtt_s None means "not yet known".
    jitter_buffer_delay_s / jitter_buffer_emitted_count are the cumulative jitterBufferDelay and
    jitterBufferEmittedCount when the receiver exposes them.
    """

    t: float
    packets_received: int
    packets_lost: int
    jitter_s: float = 0.0
    rtt_s: float | None = None
    bytes_received: int = 0
    bytes_sent: int = 0
    packets_discarded: int = 0
    jitter_buffer_delay_s: float | None = None
    jitter_buffer_emitted_count: int | None = None


@dataclass(frozen=True)
class IntervalQuality:
    """Rating of one interval. r/mos are None only when no media was expected (hold or DTX silence)."""

    t_start: float
    t_end: float
    packets_expected: int
    packets_received: int
    packets_lost: int
    packets_discarded: int
    loss_ratio: float
    jitter_s: float
    rtt_s: float
    rtt_known: bool
    jitter_buffer_s: float
    jitter_buffer_measured: bool
    ta_s: float
    burst_r: float
    r: float | None
    mos: float | None
    codec: str
    codec_model: Literal["table", "fallback"]
    media_gap: bool
    counter_reset: bool
    rtt_band: Band
    jitter_band: Band
    loss_band: Band
    mos_band: Band | None

    @property
    def duration_s(self) -> float:
        return self.t_end - self.t_start


def _counter_delta(prev: float, cur: float, reset: bool) -> float:
    # After a counter reset the new counters started from zero; otherwise a negative delta is clamped to 0.
    return max(0, cur if reset else cur - prev)


def _jitter_buffer_s(prev: StatsSnapshot, cur: StatsSnapshot, reset: bool) -> tuple[float, bool]:
    pd, pc = prev.jitter_buffer_delay_s, prev.jitter_buffer_emitted_count
    cd, cc = cur.jitter_buffer_delay_s, cur.jitter_buffer_emitted_count
    if pd is not None and pc is not None and cd is not None and cc is not None:
        d_count = _counter_delta(pc, cc, reset)
        if d_count > 0:
            return _counter_delta(pd, cd, reset) / d_count, True
    return 2.0 * cur.jitter_s, False  # the convention the anchor vectors use


def compute_interval(
    prev: StatsSnapshot,
    cur: StatsSnapshot,
    codec: str | CodecProfile = "PCMU",
    *,
    plc: bool = True,
    burst_r: float | None = None,
    on_hold: bool = False,
    dtx: bool = False,
    device_delay_s: float = 0.0,
    echo_path: bool = False,
    bands: QualityBands = DEFAULT_BANDS,
) -> IntervalQuality:
    """Rate the interval (prev.t, cur.t]: Ppl from deltas incl. discards, Ta = RTT/2 + JB + codec delay + device.

    An interval with nothing expected while the call should carry media is a media gap: R 0, MOS 1, never 4.41.
    """
    if cur.t <= prev.t:
        raise ValueError(f"snapshots out of order: {prev.t} -> {cur.t}")
    profile = codec if isinstance(codec, CodecProfile) else codec_or_fallback(codec, plc=plc)
    reset = cur.packets_received < prev.packets_received
    d_recv = int(_counter_delta(prev.packets_received, cur.packets_received, reset))
    d_lost = int(_counter_delta(prev.packets_lost, cur.packets_lost, reset))
    d_disc = min(int(_counter_delta(prev.packets_discarded, cur.packets_discarded, reset)), d_recv)
    d_expected = d_recv + d_lost

    rtt_known = cur.rtt_s is not None
    rtt_s = cur.rtt_s if cur.rtt_s is not None else 0.0
    jb_s, jb_measured = _jitter_buffer_s(prev, cur, reset)
    ta_s = rtt_s / 2.0 + jb_s + profile.codec_delay_ms / 1000.0 + device_delay_s
    br = 1.0 if burst_r is None else burst_r

    media_gap = False
    r: float | None
    if d_expected == 0:
        loss_ratio = 0.0
        media_gap = not (on_hold or dtx)
        r = 0.0 if media_gap else None
    else:
        loss_ratio = (d_lost + d_disc) / d_expected
        r = r_from_inputs(ta_s * 1000.0, loss_ratio * 100.0, br, profile, echo_path=echo_path)
    mos = None if r is None else mos_from_r(r)
    return IntervalQuality(
        t_start=prev.t,
        t_end=cur.t,
        packets_expected=d_expected,
        packets_received=d_recv,
        packets_lost=d_lost,
        packets_discarded=d_disc,
        loss_ratio=loss_ratio,
        jitter_s=cur.jitter_s,
        rtt_s=rtt_s,
        rtt_known=rtt_known,
        jitter_buffer_s=jb_s,
        jitter_buffer_measured=jb_measured,
        ta_s=ta_s,
        burst_r=br,
        r=r,
        mos=mos,
        codec=profile.name,
        codec_model="fallback" if profile.fallback else "table",
        media_gap=media_gap,
        counter_reset=reset,
        rtt_band=bands.rtt(rtt_s),
        jitter_band=bands.jitter(cur.jitter_s),
        loss_band=bands.loss(loss_ratio),
        mos_band=None if mos is None else bands.mos_band(mos),
    )


def warning_sample(
    prev: StatsSnapshot,
    cur: StatsSnapshot,
    *,
    on_hold: bool = False,
    local_audio_level: float | None = None,
    inbound_audio_level: float | None = None,
) -> WarningSample:
    """The SDK collector's view of the same two snapshots: delta loss (None with no packets), current jitter/RTT."""
    reset = cur.packets_received < prev.packets_received
    d_recv = _counter_delta(prev.packets_received, cur.packets_received, reset)
    d_lost = _counter_delta(prev.packets_lost, cur.packets_lost, reset)
    total = d_recv + d_lost
    return WarningSample(
        t=cur.t,
        rtt_s=cur.rtt_s,
        jitter_s=cur.jitter_s,
        loss_ratio=d_lost / total if total else None,
        local_audio_level=local_audio_level,
        inbound_audio_level=inbound_audio_level,
        bytes_received=cur.bytes_received,
        bytes_sent=cur.bytes_sent,
        on_hold=on_hold,
    )
