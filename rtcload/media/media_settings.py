"""What a call's media is made with (codec, ICE, stats cadence, detectors), as one frozen object.

The three media paths of the load generator (`CallMedia`, `LeanCallMedia`, `EngineCallMedia`) took the
same seven settings as keyword arguments, each passing them on to the next constructor. They now take
one `MediaSettings`, built once per virtual user by rtcload.loadgen.media_factory.CallMediaFactory (or
by `rtcload call`), so a setting is named in one place and a new one does not widen three signatures.
What varies per call (the source, `decode`, the client profile) stays a constructor argument.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from rtcload.media.ice import IceServerSpec


@dataclass(frozen=True)
class MediaSettings:
    """The settings every call media path takes; the defaults are the library's (tests, `rtcload call`)."""

    codec: str | None = "opus"  # the preferred codec: opus, pcmu, pcma (None: aiortc's order)
    ice_servers: Sequence[str | IceServerSpec] | None = ()  # exactly these (none by default: no public STUN)
    stats_interval_s: float = 2.0  # getStats() cadence; 0 = none
    one_way_after_s: float = 5.0  # connected this long with no energy back: one-way audio
    energy_floor_dbfs: float = -50.0  # below this a received frame is silence
    relay_only: bool = False  # ICE through TURN only (iceTransportPolicy relay)

    def __post_init__(self) -> None:
        object.__setattr__(self, "ice_servers", tuple(self.ice_servers or ()))  # a list given is copied; None: none

    def session_options(self) -> dict[str, Any]:
        """The keywords of rtcload.media.session.AudioSession."""
        return {
            "codec": self.codec,
            "ice_servers": list(self.ice_servers or ()) or None,
            "stats_interval_s": self.stats_interval_s,
            "one_way_after_s": self.one_way_after_s,
            "energy_floor_dbfs": self.energy_floor_dbfs,
            "relay_only": self.relay_only,
        }


DEFAULT_MEDIA = MediaSettings()  # frozen: one shared default for the constructors
