"""rtcload.quality: G.107 E-model MOS/R per interval, SDK-parity MOS and warnings, and good/fair/poor bands."""

from .bands import DEFAULT_BANDS, Band, QualityBands, Threshold
from .codecs import KNOWN_CODECS, CodecProfile, UnknownCodecError, codec_or_fallback, get_codec
from .emodel import (
    DEFAULTS,
    EModelParams,
    EModelResult,
    EModelTerms,
    idd_term,
    ie_eff_term,
    mos_cubic,
    mos_from_r,
    r_from_inputs,
    r_from_mos,
    rate,
    terms,
)
from .interval import IntervalQuality, StatsSnapshot, compute_interval, warning_sample
from .rfc3550 import JitterEstimator, burst_r_from_losses, fraction_lost, rtt_from_report
from .sdk_mos import calculate_mos, get_quality, sdk_r, warning_mos
from .warnings import QualityWarning, SdkWarningCode, SdkWarningTracker, WarningSample

__all__ = [
    "DEFAULTS",
    "DEFAULT_BANDS",
    "KNOWN_CODECS",
    "Band",
    "CodecProfile",
    "EModelParams",
    "EModelResult",
    "EModelTerms",
    "IntervalQuality",
    "JitterEstimator",
    "QualityBands",
    "QualityWarning",
    "SdkWarningCode",
    "SdkWarningTracker",
    "StatsSnapshot",
    "Threshold",
    "UnknownCodecError",
    "WarningSample",
    "burst_r_from_losses",
    "calculate_mos",
    "codec_or_fallback",
    "compute_interval",
    "fraction_lost",
    "get_codec",
    "get_quality",
    "idd_term",
    "ie_eff_term",
    "mos_cubic",
    "mos_from_r",
    "r_from_inputs",
    "r_from_mos",
    "rate",
    "rtt_from_report",
    "sdk_r",
    "terms",
    "warning_mos",
    "warning_sample",
]
