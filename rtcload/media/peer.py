"""`CallMedia`: the load generator's side of a call's audio, implementing the signaling MediaPort."""

from __future__ import annotations

from collections.abc import Sequence

from rtcload.media.ice import IceServerSpec
from rtcload.media.session import AudioSession, MediaReport
from rtcload.media.sources import PcmTrack, buffer_level, make_source

__all__ = ["CallMedia", "MediaReport"]


class CallMedia(AudioSession):
    """Sends a generated source, analyses what comes back, reports timings/stats on close().

    Hold keeps RTP flowing but sends silence (so the far end sees silence, and our one-way detector
    pauses: we are not sending audio energy while held).
    """

    def __init__(
        self,
        source: str = "tone:440",
        codec: str | None = "opus",
        ice_servers: Sequence[str | IceServerSpec] | None = None,
        stats_interval_s: float = 2.0,
        one_way_after_s: float = 5.0,
        energy_floor_dbfs: float = -50.0,
        relay_only: bool = False,
        track: PcmTrack | None = None,
    ) -> None:
        """`track` replaces the track built from `source` (e.g. the lean path's pre-encoded track)."""
        self.source: PcmTrack = track if track is not None else make_source(source)
        self._source_level = buffer_level(self.source.buffer)
        super().__init__(
            self.source,
            relay_only=relay_only,
            codec=codec,
            ice_servers=ice_servers,
            stats_interval_s=stats_interval_s,
            one_way_after_s=one_way_after_s,
            energy_floor_dbfs=energy_floor_dbfs,
        )
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
