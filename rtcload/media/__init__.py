"""Call audio over aiortc: generated sources, receive analysis, stats, caller and platform peers.

The names below load on first use (PEP 562), so importing a light submodule such as
`rtcload.media.answerer` (the emulator's signaling-only path) does not pull in aiortc.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rtcload.media.analysis import ReceiveAnalyzer, dominant_frequency, goertzel, rms_dbfs
    from rtcload.media.endpoint import MediaEndpoint
    from rtcload.media.loopback import rtc_configuration, use_loopback_only
    from rtcload.media.media_settings import MediaSettings
    from rtcload.media.peer import CallMedia
    from rtcload.media.session import MediaReport, MediaTimings
    from rtcload.media.sources import make_source
    from rtcload.media.stats import MediaStats, StatsSampler, sample_stats

_HOMES = {
    "CallMedia": "peer",
    "MediaEndpoint": "endpoint",
    "MediaReport": "session",
    "MediaSettings": "media_settings",
    "MediaStats": "stats",
    "MediaTimings": "session",
    "ReceiveAnalyzer": "analysis",
    "StatsSampler": "stats",
    "dominant_frequency": "analysis",
    "goertzel": "analysis",
    "make_source": "sources",
    "rms_dbfs": "analysis",
    "rtc_configuration": "loopback",
    "sample_stats": "stats",
    "use_loopback_only": "loopback",
}

__all__ = [
    "CallMedia",
    "MediaEndpoint",
    "MediaReport",
    "MediaSettings",
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


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{home}"), name)
