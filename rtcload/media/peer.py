"""`CallMedia`: the load generator's side of a call's audio, implementing the signaling MediaPort."""

from __future__ import annotations

from rtcload.media.media_settings import DEFAULT_MEDIA, MediaSettings
from rtcload.media.session import AudioSession, MediaReport
from rtcload.media.sources import PcmTrack, buffer_level, make_source

__all__ = ["CallMedia", "MediaReport", "MediaSettings"]


class CallMedia(AudioSession):
    """Sends a generated source, analyses what comes back, reports timings/stats on close().

    Hold keeps RTP flowing but sends silence (so the far end sees silence, and our one-way detector
    pauses: we are not sending audio energy while held).
    """

    def __init__(
        self, source: str = "tone:440", settings: MediaSettings = DEFAULT_MEDIA, track: PcmTrack | None = None
    ) -> None:
        """`track` replaces the track built from `source` (e.g. the lean path's pre-encoded track)."""
        self.source: PcmTrack = track if track is not None else make_source(source)
        self._source_level = buffer_level(self.source.buffer)
        self.settings = settings
        super().__init__(self.source, **settings.session_options())
        self.held = False
        self._sends_energy = self.source.buffer.name != "silence"

    def _on_connected(self) -> None:
        self.analyzer.set_sending(self._sends_energy and not self.held)

    def local_level(self) -> float | None:
        return 0.0 if self.held else self._source_level

    def on_hold(self) -> bool:
        return self.held

    def set_hold(self, held: bool) -> None:
        self.held = held
        self.source.muted = held
        if self.connected.is_set():
            self.analyzer.set_sending(self._sends_energy and not held)
