"""rtcload.quality: G.107 anchors (quality.md section 7), SDK parity formulas, warnings and per-interval rating."""

from __future__ import annotations

import math
from itertools import pairwise

import pytest

from rtcload.quality import (
    DEFAULTS,
    QualityBands,
    SdkWarningCode,
    SdkWarningTracker,
    StatsSnapshot,
    Threshold,
    UnknownCodecError,
    WarningSample,
    burst_r_from_losses,
    calculate_mos,
    codec_or_fallback,
    compute_interval,
    fraction_lost,
    get_codec,
    get_quality,
    idd_term,
    ie_eff_term,
    mos_cubic,
    mos_from_r,
    r_from_inputs,
    r_from_mos,
    rate,
    rtt_from_report,
    terms,
    warning_mos,
    warning_sample,
)
from rtcload.quality.codecs import OPUS_DEFAULT_BITRATE, opus_profile, set_opus_bitrate
from rtcload.quality.rfc3550 import JitterEstimator

# ---------------------------------------------------------------- section 7 anchors


def test_anchor_defaults_full_chain() -> None:
    t = terms(DEFAULTS)
    assert t.ro == pytest.approx(94.769, abs=1e-3)
    assert t.is_ == pytest.approx(1.414, abs=1e-3)
    assert t.idle == pytest.approx(0.149, abs=1e-3)
    assert t.idte == 0.0 and t.idd == 0.0
    assert t.r == pytest.approx(93.206, abs=1e-3)
    assert mos_from_r(t.r) == pytest.approx(4.409, abs=1e-3)


@pytest.mark.parametrize(
    ("r", "mos"),
    [(93.2, 4.4093), (90, 4.339), (80, 4.024), (70, 3.597), (60, 3.100), (50, 2.575)],
)
def test_anchor_mos_from_r(r: float, mos: float) -> None:
    assert mos_from_r(r) == pytest.approx(mos, abs=5e-4)


def test_anchor_table_b1_r80_within_tolerance() -> None:
    assert mos_from_r(80) == pytest.approx(4.03, abs=0.0075)


@pytest.mark.parametrize("r", [0.0, -0.001, -46.6, -82.0])
def test_anchor_mos_at_or_below_zero_is_one(r: float) -> None:
    assert mos_from_r(r) == 1.0


@pytest.mark.parametrize("r", [100.0, 100.5, 148.0])
def test_anchor_mos_at_or_above_100_is_4_5(r: float) -> None:
    assert mos_from_r(r) == 4.5


def test_anchor_cubic_dip_reported_as_one() -> None:
    assert mos_cubic(3.22) == pytest.approx(0.9888, abs=1e-4)
    assert mos_from_r(3.22) == 1.0
    assert mos_cubic(-46.6) == pytest.approx(4.47, abs=0.01)  # the wrap the guard prevents


@pytest.mark.parametrize("ta", [0.0, 50.0, 100.0])
def test_anchor_idd_zero_up_to_mt(ta: float) -> None:
    assert idd_term(ta) == 0.0


@pytest.mark.parametrize(("ta", "idd"), [(150, 0.16), (200, 3.0444), (300, 14.76), (400, 24.07), (800, 40.83)])
def test_anchor_idd_samples(ta: float, idd: float) -> None:
    assert idd_term(ta) == pytest.approx(idd, abs=5e-3)


def test_anchor_ie_eff_g711_no_plc_1pct() -> None:
    assert ie_eff_term(0, 4.3, 1.0) == pytest.approx(95 / 5.3, abs=1e-9)
    assert ie_eff_term(0, 4.3, 1.0) == pytest.approx(17.925, abs=1e-3)


def test_anchor_ie_eff_plc_5pct_burst_2() -> None:
    assert ie_eff_term(0, 25.1, 5.0, burst_r=2.0) == pytest.approx(17.210, abs=1e-3)


def test_anchor_telnyx_calculate_mos_bug_input() -> None:
    assert calculate_mos(0, 1000, received=0, lost=100) == pytest.approx(4.467, abs=1e-3)
    assert rate(500, 100).mos == 1.0  # a correct model rates the same dead stream at 1.0


def test_anchor_rfc3550_rtt_example() -> None:
    assert rtt_from_report(0xB7108000, 0xB7052000, 0x00054000) == pytest.approx(6.125)
    assert rtt_from_report(0xB7108000, 0, 0) is None


def test_anchor_rfc3550_fraction_lost() -> None:
    assert fraction_lost(100, 95) == 12
    assert fraction_lost(100, 102) == 0


def test_anchor_rfc3550_jitter_alternating_transit() -> None:
    est = JitterEstimator()
    for i in range(3000):
        est.update(i * 160 + (64 if i % 2 else 0), i * 160)
    assert est.jitter == pytest.approx(64.0, abs=1e-6)
    assert est.jitter_int == 63
    step = JitterEstimator()
    step.update(0, 0)
    assert step.update(160 + 128, 160) == pytest.approx(8.0)


# ---------------------------------------------------------------- E-model properties


def test_short_form_equals_93_2_minus_idd_minus_ie_eff() -> None:
    for ta, ppl in [(20, 0), (250, 2), (400, 10)]:
        expected = terms(DEFAULTS).r - idd_term(ta) - ie_eff_term(0, 25.1, ppl)
        assert r_from_inputs(ta, ppl, codec="pcmu") == pytest.approx(expected, abs=1e-9)


@pytest.mark.parametrize(("codec", "plc"), [("PCMU", True), ("PCMA", False), ("opus", True)])
def test_more_loss_lowers_r(codec: str, plc: bool) -> None:
    rs = [r_from_inputs(20, ppl, codec=codec, plc=plc) for ppl in (0, 0.5, 1, 2, 5, 10, 20, 50)]
    assert all(a > b for a, b in pairwise(rs))


@pytest.mark.parametrize("codec", ["PCMU", "opus"])
def test_more_delay_lowers_r(codec: str) -> None:
    rs = [r_from_inputs(ta, 1.0, codec=codec) for ta in (101, 150, 200, 300, 400, 800)]
    assert all(a > b for a, b in pairwise(rs))
    assert r_from_inputs(0, 1.0, codec=codec) == r_from_inputs(100, 1.0, codec=codec)


def test_burstier_loss_lowers_r() -> None:
    assert r_from_inputs(20, 5, burst_r=2.0) < r_from_inputs(20, 5, burst_r=1.0)


def test_echo_path_option_costs_r() -> None:
    assert r_from_inputs(0, 0, echo_path=True) == pytest.approx(r_from_inputs(0, 0), abs=1e-9)
    loss_of = {ta: r_from_inputs(ta, 0) - r_from_inputs(ta, 0, echo_path=True) for ta in (50, 150, 200, 400)}
    assert 1.5 - 0.1 <= loss_of[50] <= loss_of[150] <= 3.5 + 0.1
    assert 4.4 - 0.1 <= loss_of[200] <= loss_of[400] <= 6.9 + 0.1


@pytest.mark.parametrize(
    ("kwargs", "target"),
    [
        ({"ta_ms": 20, "ppl_percent": 0.73, "codec": "PCMU", "plc": False}, 4.0),
        ({"ta_ms": 20, "ppl_percent": 4.28, "codec": "PCMU"}, 4.0),
        ({"ta_ms": 20, "ppl_percent": 1.92, "codec": opus_profile(40_000)}, 4.0),
        ({"ta_ms": 292, "ppl_percent": 0.0, "codec": "PCMU"}, 4.0),
        ({"ta_ms": 20, "ppl_percent": 14.7, "codec": "PCMU"}, 3.0),
        ({"ta_ms": 597, "ppl_percent": 0.0, "codec": "PCMU"}, 3.0),
    ],
)
def test_network_terms_table(kwargs: dict, target: float) -> None:
    assert mos_from_r(r_from_inputs(**kwargs)) == pytest.approx(target, abs=0.01)


def test_v16_five_pct_random_loss_with_plc() -> None:
    assert rate(0, 5).mos == pytest.approx(3.92, abs=0.01)


def test_opus_fullband_route_lands_on_nb_scale() -> None:
    res = rate(0, 0, codec=opus_profile(64_000))
    assert res.r == pytest.approx((148 - 10.2) / 1.48, abs=1e-9)
    assert res.mos == pytest.approx(4.41, abs=0.01)
    assert res.codec == "OPUS"


@pytest.mark.parametrize(("mos", "r"), [(4.0, 79.37), (3.6, 70.06), (3.5, 67.96), (3.1, 60.0), (3.0, 58.08)])
def test_r_from_mos_table(mos: float, r: float) -> None:
    assert r_from_mos(mos) == pytest.approx(r, abs=0.01)


@pytest.mark.parametrize("r", [6.6, 10.0, 33.3, 50.0, 70.0, 79.37, 93.2, 99.9])
def test_r_from_mos_round_trip(r: float) -> None:
    assert r_from_mos(mos_from_r(r)) == pytest.approx(r, abs=1e-6)


def test_r_from_mos_clamps_ends() -> None:
    assert r_from_mos(1.0) == 0.0
    assert r_from_mos(4.5) == 100.0


def test_rate_rejects_invalid_inputs() -> None:
    with pytest.raises(ValueError):
        r_from_inputs(-1, 0)
    with pytest.raises(ValueError):
        r_from_inputs(0, 1, burst_r=0)


def test_emodel_result_is_frozen() -> None:
    res = rate(20, 1)
    with pytest.raises(AttributeError):
        res.r = 0  # type: ignore[misc]


# ---------------------------------------------------------------- codec table


def test_codec_lookup_case_insensitive_and_plc_profiles() -> None:
    assert get_codec("pcmu") is get_codec("PCMU")
    assert get_codec("audio/opus").name == "OPUS"
    assert get_codec("PCMA").bpl == 25.1
    assert get_codec("pcma", plc=False).bpl == 4.3
    assert get_codec("opus").codec_delay_ms == pytest.approx(26.5)
    assert get_codec("PCMU").codec_delay_ms == pytest.approx(20.0)


def test_unknown_codec_raises_clear_error() -> None:
    with pytest.raises(UnknownCodecError, match=r"unknown codec 'speex'.*PCMU"):
        get_codec("speex")


def test_unknown_codec_fallback_is_tagged() -> None:
    prof = codec_or_fallback("G722")
    assert prof.fallback and prof.ie == 0.0 and prof.bpl == 25.1 and prof.name == "g722"
    assert not codec_or_fallback("PCMU").fallback


# ---------------------------------------------------------------- SDK formulas


def test_sdk_mos_perfect_network() -> None:
    assert calculate_mos(0, 0, received=500, lost=0) == pytest.approx(4.41, abs=0.005)
    assert get_quality(calculate_mos(0, 0, 500, 0)) == "excellent"


def test_sdk_mos_nan_when_no_packets() -> None:
    assert math.isnan(calculate_mos(0, 0, received=0, lost=0))
    assert get_quality(calculate_mos(0, 0, 0, 0)) is None
    assert math.isnan(calculate_mos(math.inf, math.inf, 10, 0))  # debug.ts's Infinity fallback


def test_sdk_mos_clamps_to_one_to_five() -> None:
    assert calculate_mos(0, 0, received=99, lost=1) <= 5.0
    assert calculate_mos(100, 600, received=50, lost=50) >= 1.0


@pytest.mark.parametrize(
    ("mos", "label"),
    [
        (4.3, "excellent"),
        (4.2, "good"),
        (4.1, "good"),
        (4.05, "bad"),  # gap quirk
        (4.0, "fair"),
        (3.7, "fair"),
        (3.65, "bad"),  # gap quirk
        (3.6, "poor"),
        (3.1, "poor"),
        (3.05, "bad"),
        (1.0, "bad"),
    ],
)
def test_get_quality_gap_quirk(mos: float, label: str) -> None:
    assert get_quality(mos) == label


def test_warning_mos_upper_clamp_4_5_and_linear_r() -> None:
    assert warning_mos(0, 0, 0) == pytest.approx(mos_cubic(93.2))
    assert mos_cubic(105.0) > 4.5
    assert warning_mos(0, -4.72, 0) == 4.5  # R_w = 105: the cubic's 4.51 clamps at 4.5, not 5
    assert warning_mos(0, 20, 0) == pytest.approx(mos_cubic(43.2))
    # SDK quirk reproduced: no R guard, so 100 % loss (R_w = -156.8) wraps the cubic up to the 4.5 clamp
    assert warning_mos(0, 100, 0) == 4.5
    assert warning_mos(30, 2, 400) == pytest.approx(mos_cubic(93.2 - 3.3 - 5 - 4), abs=1e-12)


# ---------------------------------------------------------------- warning tracker


def _rtt(t: float, rtt_s: float) -> WarningSample:
    return WarningSample(t=t, rtt_s=rtt_s)


def test_warning_two_breaches_do_not_fire_third_does() -> None:
    tr = SdkWarningTracker()
    assert tr.update(_rtt(0, 0.5)) == []
    assert tr.update(_rtt(1, 0.5)) == []
    fired = tr.update(_rtt(2, 0.5))
    assert [w.code for w in fired] == [SdkWarningCode.HIGH_RTT]
    assert fired[0].name == "HIGH_RTT" and fired[0].t == 2 and fired[0].value == 0.5


def test_warning_threshold_is_strict() -> None:
    tr = SdkWarningTracker()
    for t in range(5):
        assert tr.update(_rtt(t, 0.4)) == []


def test_warning_throttled_to_once_per_15_s() -> None:
    tr = SdkWarningTracker()
    times = [t for t in range(40) if tr.update(_rtt(t, 0.5))]
    assert times == [2, 17, 32]


def test_warning_good_sample_resets_count_and_throttle() -> None:
    tr = SdkWarningTracker()
    for t in range(3):
        tr.update(_rtt(t, 0.5))
    assert tr.update(_rtt(3, 0.1)) == []
    assert tr.update(_rtt(4, 0.5)) == []
    assert tr.update(_rtt(5, 0.5)) == []
    assert [w.code for w in tr.update(_rtt(6, 0.5))] == [SdkWarningCode.HIGH_RTT]  # 4 s after the last: no throttle
    assert len(tr.history) == 2


def test_warning_jitter_loss_and_low_mos() -> None:
    tr = SdkWarningTracker()
    for t in range(2):
        assert tr.update(WarningSample(t=t, rtt_s=0.1, jitter_s=0.035, loss_ratio=0.10)) == []
    codes = {w.code for w in tr.update(WarningSample(t=2, rtt_s=0.1, jitter_s=0.035, loss_ratio=0.10))}
    assert codes == {SdkWarningCode.HIGH_JITTER, SdkWarningCode.HIGH_PACKET_LOSS, SdkWarningCode.LOW_MOS}


def test_low_mos_needs_all_three_inputs() -> None:
    tr = SdkWarningTracker()
    for t in range(3):
        fired = tr.update(WarningSample(t=t, rtt_s=None, jitter_s=0.001, loss_ratio=0.5))
    assert {w.code for w in fired} == {SdkWarningCode.HIGH_PACKET_LOSS}


def test_bytes_warnings_fire_when_counters_stall() -> None:
    tr = SdkWarningTracker()
    fired = []
    for t in range(4):
        fired = tr.update(WarningSample(t=t, bytes_received=1000, bytes_sent=2000 + 100 * t))
    assert [w.code for w in fired] == [SdkWarningCode.LOW_BYTES_RECEIVED]  # first sample has no previous


def test_bytes_received_and_inbound_audio_suppressed_on_hold() -> None:
    tr = SdkWarningTracker()
    for t in range(5):
        fired = tr.update(WarningSample(t=t, bytes_received=1000, inbound_audio_level=0.0, on_hold=True))
        assert fired == []


def test_inbound_audio_low() -> None:
    tr = SdkWarningTracker()
    fired = [w.code for t in range(3) for w in tr.update(WarningSample(t=t, inbound_audio_level=0.0005))]
    assert fired == [SdkWarningCode.LOW_INBOUND_AUDIO]


def test_local_audio_before_mic_and_after_30_s_silence() -> None:
    tr = SdkWarningTracker()
    early = [w.code for t in range(3) for w in tr.update(WarningSample(t=t, local_audio_level=0.0))]
    assert early == [SdkWarningCode.LOW_LOCAL_AUDIO]
    tr.update(WarningSample(t=3, local_audio_level=0.2))  # mic heard: needs 30 s of silence from now on
    fired_at = [t for t in range(4, 60) if tr.update(WarningSample(t=t, local_audio_level=0.0))]
    # silence starts at t=4; breaches from t=34 on; third consecutive breach at t=36; then every 15 s
    assert fired_at == [36, 51]


def test_tracker_rejects_time_going_backwards() -> None:
    tr = SdkWarningTracker()
    tr.update(_rtt(5, 0.1))
    with pytest.raises(ValueError):
        tr.update(_rtt(4, 0.1))


# ---------------------------------------------------------------- interval recipe


def _snap(t: float, recv: int, lost: int, **kw: float) -> StatsSnapshot:
    return StatsSnapshot(t=t, packets_received=recv, packets_lost=lost, **kw)  # type: ignore[arg-type]


def test_interval_clean_link() -> None:
    q = compute_interval(_snap(0, 0, 0, jitter_s=0.0, rtt_s=0.0), _snap(1, 50, 0, jitter_s=0.0, rtt_s=0.0))
    assert q.loss_ratio == 0.0 and q.packets_expected == 50
    assert q.ta_s == pytest.approx(0.020)
    assert q.r == pytest.approx(93.206, abs=1e-3)
    assert q.mos_band == q.loss_band == q.rtt_band == q.jitter_band == "good"
    assert not q.media_gap and q.rtt_known and q.codec_model == "table"


def test_interval_uses_deltas_and_seconds() -> None:
    prev = _snap(10, 1000, 10, jitter_s=0.01, rtt_s=0.2)
    cur = _snap(11, 1095, 15, jitter_s=0.03, rtt_s=0.2)
    q = compute_interval(prev, cur, "PCMU", plc=False)
    assert (q.packets_received, q.packets_lost, q.packets_expected) == (95, 5, 100)
    assert q.loss_ratio == pytest.approx(0.05)
    assert q.ta_s == pytest.approx(0.1 + 2 * 0.03 + 0.020)  # RTT/2 + 2*jitter + ptime
    assert q.r == pytest.approx(r_from_inputs(180.0, 5.0, codec="PCMU", plc=False), abs=1e-9)
    assert q.mos == pytest.approx(mos_from_r(q.r))
    assert (q.rtt_band, q.jitter_band, q.loss_band, q.mos_band) == ("fair", "fair", "poor", "poor")


def test_interval_counts_discards_and_measured_jitter_buffer() -> None:
    prev = _snap(0, 100, 0, jitter_buffer_delay_s=4.0, jitter_buffer_emitted_count=80_000, packets_discarded=1)
    cur = _snap(1, 200, 2, jitter_buffer_delay_s=4.0 + 0.06 * 8000, jitter_buffer_emitted_count=88_000)
    cur = StatsSnapshot(**{**cur.__dict__, "packets_discarded": 4})
    q = compute_interval(prev, cur, "opus", burst_r=1.5)
    assert q.loss_ratio == pytest.approx((2 + 3) / 102)
    assert q.jitter_buffer_measured and q.jitter_buffer_s == pytest.approx(0.06)
    assert q.ta_s == pytest.approx(0.06 + 0.0265)
    assert not q.rtt_known and q.rtt_s == 0.0
    assert q.r == pytest.approx(r_from_inputs(86.5, 100 * 5 / 102, 1.5, "opus"), abs=1e-9)


def test_interval_negative_lost_delta_clamped() -> None:
    q = compute_interval(_snap(0, 100, 5), _snap(1, 150, 3))  # duplicates made cumulative lost shrink
    assert q.packets_lost == 0 and q.loss_ratio == 0.0 and not q.counter_reset


def test_interval_counter_reset_uses_new_counters() -> None:
    q = compute_interval(_snap(0, 5000, 40), _snap(1, 48, 2))
    assert q.counter_reset
    assert (q.packets_received, q.packets_lost) == (48, 2)
    assert q.loss_ratio == pytest.approx(0.04)


def test_interval_without_media_is_a_gap_not_4_41() -> None:
    q = compute_interval(_snap(0, 100, 0), _snap(1, 100, 0))
    assert q.media_gap and q.r == 0.0 and q.mos == 1.0 and q.mos_band == "poor"


@pytest.mark.parametrize("kwargs", [{"on_hold": True}, {"dtx": True}])
def test_interval_without_media_on_hold_or_dtx_is_unrated(kwargs: dict) -> None:
    q = compute_interval(_snap(0, 100, 0), _snap(1, 100, 0), **kwargs)
    assert not q.media_gap and q.r is None and q.mos is None and q.mos_band is None


def test_interval_unknown_codec_falls_back() -> None:
    q = compute_interval(_snap(0, 0, 0), _snap(1, 50, 0), "G722")
    assert q.codec_model == "fallback" and q.codec == "g722"


def test_interval_rejects_out_of_order_snapshots() -> None:
    with pytest.raises(ValueError):
        compute_interval(_snap(1, 0, 0), _snap(1, 50, 0))


def test_warning_sample_from_snapshots_feeds_tracker() -> None:
    tr = SdkWarningTracker()
    snaps = [
        _snap(t, 50 * t, 2 * t, jitter_s=0.005, rtt_s=0.05, bytes_received=8000 * t, bytes_sent=8000 * t)
        for t in range(5)
    ]
    codes = []
    for prev, cur in pairwise(snaps):
        s = warning_sample(prev, cur)
        assert s.loss_ratio == pytest.approx(2 / 52)
        codes += [w.code for w in tr.update(s)]
    assert codes == [SdkWarningCode.HIGH_PACKET_LOSS]
    assert warning_sample(snaps[0], _snap(1, 0, 0)).loss_ratio is None


# ---------------------------------------------------------------- bands and burstiness


@pytest.mark.parametrize(
    ("method", "value", "band"),
    [
        ("rtt", 0.149, "good"),
        ("rtt", 0.150, "fair"),
        ("rtt", 0.300, "fair"),
        ("rtt", 0.301, "poor"),
        ("jitter", 0.019, "good"),
        ("jitter", 0.051, "poor"),
        ("loss", 0.009, "good"),
        ("loss", 0.02, "fair"),
        ("loss", 0.031, "poor"),
        ("mos_band", 4.0, "good"),
        ("mos_band", 3.8, "fair"),
        ("mos_band", 3.6, "fair"),
        ("mos_band", 3.59, "poor"),
    ],
)
def test_default_bands(method: str, value: float, band: str) -> None:
    assert getattr(QualityBands(), method)(value) == band


def test_bands_are_configurable_and_validated() -> None:
    strict = QualityBands(rtt_s=Threshold(0.05, 0.1))
    assert strict.rtt(0.08) == "fair"
    with pytest.raises(ValueError):
        Threshold(0.3, 0.1)
    with pytest.raises(ValueError):
        Threshold(3.0, 4.0, higher_is_better=True)


def test_burst_r_from_loss_trace() -> None:
    assert burst_r_from_losses([False] * 10) == 1.0
    # 4 lost of 20 in 2 bursts of 2: mean burst 2, p = 0.2 -> BurstR 1.6
    trace = [False] * 5 + [True, True] + [False] * 5 + [True, True] + [False] * 6
    assert burst_r_from_losses(trace) == pytest.approx(1.6)


def test_opus_profile_follows_the_bitrate_encoded() -> None:
    """G.113's fullband values at and above 40 kbit/s; below, the SWB VBR curve (quality.md section 3)."""
    assert opus_profile(40_000).ie == pytest.approx(10.2) and opus_profile(40_000).bpl == pytest.approx(9.6)
    at_32k = opus_profile(32_000)
    assert at_32k.ie == pytest.approx(16.83 + (14.76 - 16.83) / 3, abs=0.01)
    assert opus_profile(14_000).ie == pytest.approx(38.06) and opus_profile(8_000).ie == pytest.approx(38.06)
    assert rate(0, 0, codec=opus_profile(24_000)).mos < rate(0, 0, codec=at_32k).mos < rate(0, 0, codec="PCMU").mos
    try:
        set_opus_bitrate(32_000)
        assert get_codec("opus") == at_32k
        set_opus_bitrate(64_000)
        assert get_codec("opus").ie == pytest.approx(10.2)
    finally:
        set_opus_bitrate(OPUS_DEFAULT_BITRATE)
