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
from rtcload.media.media_settings import MediaSettings

_CALL_INDEX = itertools.count()  # per process: which calls are fully decoded (engine and lean paths)


@dataclass(frozen=True)
class CallMediaFactory:
    """One call's media on the settings' media path: the engine (default), lean or naive aiortc."""

    settings: LoadSettings
    source: str  # the audio sent (a source spec: tone:440, speech, wav:F)
    relay_only: bool  # this user's draw: the whole run's --rtc-relay-only, or its --rtc-relay-share
    audio: Any  # audio_calls.AudioScoring: which calls are scored, and their capture

    def media_settings(self) -> MediaSettings:
        """What every media path takes from the run's settings (one frozen object, the same for every call
        of this user): built here, so the media constructors take it whole instead of one argument each."""
        return MediaSettings(
            codec=self.settings.codec,
            ice_servers=self.settings.ice_servers,  # full specs: TURN needs the username and credential
            stats_interval_s=self.settings.stats_interval_s,
            relay_only=self.relay_only,
        )

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
                self.source, self.media_settings(), decode=decode or scored, profile=settings.client_profile
            )
            if scored:
                self.audio.prepare(media)
            return media
        if settings.media_path == "lean":
            from rtcload.media.lean import LeanCallMedia

            return LeanCallMedia(self.source, self.media_settings(), decode=decode)
        from rtcload.media.peer import CallMedia

        return CallMedia(self.source, self.media_settings())  # naive aiortc: the baseline bench/ measures
