"""The media of a virtual user's calls, built from the run's settings by one explicit object.

`VirtualEndpoint` hands the signaling client a factory it calls once per call. It used to be a closure
over the settings and a few values chosen per user; this object names what each call's media is made
of (the settings, the audio source, this user's relay-only draw, its audio scoring), so the choice of
media path, decoding and scoring per call can be read and tested on its own.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

from rtcload.loadgen.settings import LoadSettings

_CALL_INDEX = itertools.count()  # per process: which calls are fully decoded (engine and lean paths)


@dataclass(frozen=True)
class CallMediaFactory:
    """One call's media on the settings' media path: the engine (default), lean or naive aiortc."""

    settings: LoadSettings
    source: str  # the audio sent (a source spec: tone:440, speech, wav:F)
    relay_only: bool  # this user's draw: the whole run's --rtc-relay-only, or its --rtc-relay-share
    audio: Any  # audio_calls.AudioScoring: which calls are scored, and their capture

    def options(self) -> dict[str, Any]:
        """What every media path takes from the settings."""
        return {
            "codec": self.settings.codec,
            "ice_servers": list(self.settings.ice_servers),  # full specs: TURN needs the username and credential
            "stats_interval_s": self.settings.stats_interval_s,
            "relay_only": self.relay_only,
        }

    def __call__(self) -> Any:
        from rtcload.loadgen.audio_calls import chosen
        from rtcload.media.lean import decode_this_call

        settings = self.settings
        index = next(_CALL_INDEX)
        decode = decode_this_call(index, settings.decode_every)
        if settings.media_path == "engine":
            from rtcload.media.engine.call_media import EngineCallMedia

            scored = self.audio.worthwhile and chosen(index, settings.audio_score)  # decoded, captured
            media = EngineCallMedia(
                self.source, decode=decode or scored, profile=settings.client_profile, **self.options()
            )
            if scored:
                self.audio.prepare(media)
            return media
        if settings.media_path == "lean":
            from rtcload.media.lean import LeanCallMedia

            return LeanCallMedia(self.source, decode=decode, **self.options())
        from rtcload.media.peer import CallMedia

        return CallMedia(self.source, **self.options())  # naive aiortc: the baseline bench/ measures
