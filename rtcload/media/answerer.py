"""The platform side's media hook: who produces the SDP for calls the emulator terminates.

The interface lives here, below both its users: the emulator calls it, and `rtcload.netem`'s
`ImpairedAnswerer` wraps it, so netem and the emulator never import each other. `StaticAnswerer`
answers with a fixed SDP (signaling-only runs: registration storms, protocol tests);
`rtcload.emulator.aiortc_answerer.AiortcAnswerer` plugs in real aiortc media endpoints.
"""

from __future__ import annotations

from typing import Any, Protocol

from rtcload.protocol.sdp import static_sdp


class MediaAnswerer(Protocol):
    @property
    def relays_media(self) -> bool:
        """True: bridged calls terminate on the emulator and audio is relayed between them (link())."""
        ...

    async def answer(self, call_id: str, offer: str, mode: str) -> str: ...

    async def reoffer(self, call_id: str, mode: str, codec: str | None = None) -> str:
        """The platform's offer for a leg it calls; `codec` (opus, pcmu, pcma) first when given: the
        codec of the leg it will be bridged to, so that the two need no transcoding."""
        ...

    async def accept_answer(self, call_id: str, sdp: str) -> None: ...

    async def add_candidate(self, call_id: str, candidate: str, sdp_mid: str | None, index: int | None) -> None: ...

    async def release(self, call_id: str) -> dict[str, Any] | None: ...

    def link(self, call_a: str, call_b: str) -> None: ...

    def hold(self, call_id: str, held: bool) -> None: ...


class StaticAnswerer:
    """Answers every offer with a fixed SDP; remembers offers and candidates for inspection."""

    relays_media = False  # bridged calls pass the clients' SDP through unchanged

    def __init__(self) -> None:
        self.offers: dict[str, str] = {}
        self.candidates: dict[str, list[str]] = {}

    async def answer(self, call_id: str, offer: str, mode: str) -> str:
        self.offers[call_id] = offer
        return static_sdp()

    async def reoffer(self, call_id: str, mode: str, codec: str | None = None) -> str:
        return static_sdp()

    async def accept_answer(self, call_id: str, sdp: str) -> None:
        return None

    async def add_candidate(self, call_id: str, candidate: str, sdp_mid: str | None, index: int | None) -> None:
        self.candidates.setdefault(call_id, []).append(candidate)

    async def release(self, call_id: str) -> dict[str, Any] | None:
        self.offers.pop(call_id, None)
        self.candidates.pop(call_id, None)
        return None

    def link(self, call_a: str, call_b: str) -> None:
        return None

    def hold(self, call_id: str, held: bool) -> None:
        return None
