"""What the signaling client needs from a call's media: SDP in, SDP out.

The client treats SDP as opaque; `rtcload.media.CallMedia` implements this port with aiortc, and
`StaticSdpMedia` stands in for signaling-only runs (registration storms, protocol tests).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol, runtime_checkable

from rtcload.protocol.sdp import static_sdp


@runtime_checkable
class MediaPort(Protocol):
    async def create_offer(self) -> str: ...

    async def accept_answer(self, sdp: str) -> None: ...

    async def accept_offer(self, sdp: str) -> str: ...

    async def add_remote_candidate(self, candidate: str, sdp_mid: str | None, sdp_mline_index: int | None) -> None: ...

    def set_hold(self, held: bool) -> None: ...

    async def close(self) -> object: ...


MediaFactory = Callable[[], MediaPort]


class StaticSdpMedia:
    """Signaling-only media: offers and answers a static SDP, records what the far end sent."""

    def __init__(self) -> None:
        self.remote_sdp: str | None = None
        self.remote_candidates: list[str] = []
        self.held = False
        self.closed = False

    async def create_offer(self) -> str:
        return static_sdp()

    async def accept_answer(self, sdp: str) -> None:
        self.remote_sdp = sdp

    async def accept_offer(self, sdp: str) -> str:
        self.remote_sdp = sdp
        return static_sdp()

    async def add_remote_candidate(self, candidate: str, sdp_mid: str | None, sdp_mline_index: int | None) -> None:
        self.remote_candidates.append(candidate)

    def set_hold(self, held: bool) -> None:
        self.held = held

    async def close(self) -> None:
        self.closed = True
