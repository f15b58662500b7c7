"""`MediaEndpoint`: the emulated platform's side of a call's audio.

Modes: "echo" (send back what arrives), "relay" (send what another endpoint receives: a bridged
call between two clients), "oneway" (receive only, send nothing), or any source spec
("tone:<hz>", "dualtone:<f1>,<f2>", "speech", "silence", "wav:<path>"). What it receives is analysed
with the same ReceiveAnalyzer as the caller, so the emulator can report level / detected tone.
"""

from __future__ import annotations

from rtcload.media.echo import EchoTrack
from rtcload.media.session import AudioSession, MediaReport
from rtcload.media.sources import make_source

__all__ = ["MediaEndpoint", "MediaReport"]


class MediaEndpoint(AudioSession):
    def __init__(
        self,
        mode: str = "echo",
        codec: str | None = None,
        ice_servers: list[str] | None = None,
        stats_interval_s: float = 0.0,
        one_way_after_s: float = 5.0,
    ) -> None:
        self.mode = mode
        if mode in ("echo", "relay"):
            self.echo: EchoTrack | None = EchoTrack()
            track = self.echo
        elif mode == "oneway":
            self.echo = None
            track = None
        else:
            self.echo = None
            track = make_source(mode)
        super().__init__(
            track,
            codec=codec,
            ice_servers=ice_servers,
            stats_interval_s=stats_interval_s,
            one_way_after_s=one_way_after_s,
        )
        if self.echo is not None and mode == "echo":
            self.analyzer.on_frame = self.echo.push
        self._sends_energy = mode not in ("echo", "relay", "oneway", "silence")

    def _on_connected(self) -> None:
        self.analyzer.set_sending(self._sends_energy)

    def relay_to(self, other: MediaEndpoint) -> None:
        """Bridge two "relay" endpoints: what each receives is sent out by the other."""
        if self.echo is None or other.echo is None or "relay" not in (self.mode, other.mode):
            raise ValueError("relay_to needs two endpoints in relay mode")
        self.analyzer.on_frame = other.echo.push
        other.analyzer.on_frame = self.echo.push

    async def answer(self, offer_sdp: str) -> str:
        """Answer a caller's offer (non-trickle: the returned SDP carries all candidates)."""
        return await self.accept_offer(offer_sdp)

    async def offer(self) -> str:
        """Offer first (reattach / platform-initiated calls); follow with accept_answer()."""
        return await self.create_offer()
