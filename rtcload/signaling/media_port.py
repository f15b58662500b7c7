"""What the signaling client needs from a call's media: SDP in, SDP out, and the optional capabilities.

The client treats SDP as opaque; `rtcload.media.CallMedia` implements this port with aiortc, and
`StaticSdpMedia` stands in for signaling-only runs (registration storms, protocol tests).

Some media can do more, and signaling uses it when it is there: know when RTP last arrived
(`RtpTimed`: the media-gap measurement and the no-RTP watchdog), send a digit in RTP as well
(`InbandDtmf`), and report what it saw when it closes (`ReportedMedia`: the SDK's call report).
Each is a typed protocol checked with `isinstance`, never an attribute looked up by its name in a
string, so a renamed member is a type error in media rather than a silently missing feature.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol, runtime_checkable

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


@runtime_checkable
class RtpTimed(Protocol):
    """Media that knows when RTP arrived (monotonic seconds): every aiortc/engine/lean CallMedia."""

    @property
    def last_rtp(self) -> float | None: ...

    async def wait_first_rtp(self, timeout: float) -> float | None: ...


@runtime_checkable
class InbandDtmf(Protocol):
    """Media that can also send a digit in RTP as RFC 4733 telephone-events (the media engine)."""

    def send_dtmf(self, digit: str) -> bool: ...


@runtime_checkable
class ReportedMedia(Protocol):
    """What closed media reports (`rtcload.media.MediaReport`), as far as the call report reads it.

    The samples and stats are MediaStats and `ice` an IceReport of rtcload.media; signaling cannot
    import media, so they are typed by what call_report.py reads of them."""

    codec: str | None
    connected: bool
    first_audio_s: float | None
    one_way: bool
    samples: list[Any]
    stats: Any
    ice: Any


def last_rtp_of(media: object) -> float | None:
    """When this media last received RTP, or None if it cannot say."""
    return media.last_rtp if isinstance(media, RtpTimed) else None


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
