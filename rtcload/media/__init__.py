"""Call audio over aiortc: generated sources, receive analysis, stats, caller and platform peers."""

from rtcload.media.analysis import ReceiveAnalyzer, dominant_frequency, goertzel, rms_dbfs
from rtcload.media.endpoint import MediaEndpoint
from rtcload.media.loopback import rtc_configuration, use_loopback_only
from rtcload.media.peer import CallMedia
from rtcload.media.session import MediaReport, MediaTimings
from rtcload.media.sources import make_source
from rtcload.media.stats import MediaStats, StatsSampler, sample_stats

__all__ = [
    "CallMedia",
    "MediaEndpoint",
    "MediaReport",
    "MediaStats",
    "MediaTimings",
    "ReceiveAnalyzer",
    "StatsSampler",
    "dominant_frequency",
    "goertzel",
    "make_source",
    "rms_dbfs",
    "rtc_configuration",
    "sample_stats",
    "use_loopback_only",
]
