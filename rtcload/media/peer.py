"""`CallMedia`: the load generator's side of a call's audio, implementing the signaling MediaPort."""

from __future__ import annotations

from rtcload.media.session import AudioSession, MediaReport
from rtcload.media.sources import PcmTrack, make_source

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
        ice_servers: list[str] | None = None,
        stats_interval_s: float = 2.0,
        one_way_after_s: float = 5.0,
        energy_floor_dbfs: float = -50.0,
    ) -> None:
        self.source: PcmTrack = make_source(source)
        super().__init__(
            self.source,
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

    def set_hold(self, held: bool) -> None:
        self.held = held
        self.source.muted = held
        if self.connected.is_set():
            self.analyzer.set_sending(self._sends_energy and not held)
