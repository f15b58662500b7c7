"""What the signaling client needs from a call's media: SDP in, SDP out.

The client treats SDP as opaque; `rtcload.media.CallMedia` implements this port with aiortc, and
`StaticSdpMedia` stands in for signaling-only runs (registration storms, protocol tests).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Protocol, runtime_checkable


@runtime_checkable
class MediaPort(Protocol):
    async def create_offer(self) -> str: ...

    async def accept_answer(self, sdp: str) -> None: ...

    async def accept_offer(self, sdp: str) -> str: ...

    async def add_remote_candidate(self, candidate: str, sdp_mid: str | None, sdp_mline_index: int | None) -> None: ...

    def set_hold(self, held: bool) -> None: ...

    async def close(self) -> object: ...


MediaFactory = Callable[[], MediaPort]

_session_ids = itertools.count(1)


def static_sdp(session_id: int | None = None, port: int = 9) -> str:
    """A syntactically complete audio SDP with no usable candidates (nothing will flow)."""
    sid = session_id if session_id is not None else next(_session_ids)
    return (
        "v=0\r\n"
        f"o=- {sid} 1 IN IP4 127.0.0.1\r\n"
        "s=-\r\n"
        "t=0 0\r\n"
        "a=group:BUNDLE 0\r\n"
        f"m=audio {port} UDP/TLS/RTP/SAVPF 111 0\r\n"
        "c=IN IP4 127.0.0.1\r\n"
        "a=mid:0\r\n"
        "a=sendrecv\r\n"
        "a=rtcp-mux\r\n"
        "a=ice-ufrag:rtcl\r\n"
        "a=ice-pwd:rtcloadstaticsdppassword00\r\n"
        "a=fingerprint:sha-256 " + ":".join(["00"] * 32) + "\r\n"
        "a=setup:actpass\r\n"
        "a=rtpmap:111 opus/48000/2\r\n"
        "a=rtpmap:0 PCMU/8000\r\n"
    )


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
