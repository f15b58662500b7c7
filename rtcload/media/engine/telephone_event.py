"""RFC 4733 telephone-event in aiortc's negotiation, for engine peers only.

aiortc negotiates only the codecs of its process-wide `aiortc.codecs.CODECS` (createOffer and
setRemoteDescription read that list; `setCodecPreferences` can only reorder or drop what is in it),
and telephone-event is not among them. The engine sends and detects RFC 4733 events itself, but an
aiortc-driven peer (the naive and lean baselines) would hand them to its audio decoder. So the audio
list is replaced, once, by a view that shows telephone-event only inside `negotiating_events()`:
an engine session enters it around its own SDP steps, and every other peer, in any task, sees
aiortc's list unchanged. A context variable, not a flag, because many peers negotiate at once on
one event loop: each task sees only its own setting.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from contextvars import ContextVar
from typing import Any, SupportsIndex

from aiortc import RTCRtpCodecParameters
from aiortc.codecs import CODECS

TELEPHONE_EVENT = "audio/telephone-event"
# One per audio clock rate (an event is sent at its call's codec rate), as Chrome offers them. Their
# fmtp (the events received) differs on purpose: aiortc's codec-preference filter tells codecs apart by
# MIME type and fmtp only, so with equal fmtp a preferred codec (prefer_codec) would offer the 48 kHz
# one twice and the 8 kHz one never, and PCMU/PCMA calls would have no telephone-event at all.
TELEPHONE_EVENTS = (
    RTCRtpCodecParameters(
        mimeType=TELEPHONE_EVENT, clockRate=48000, channels=1, payloadType=110, parameters={"0-16": None}
    ),
    RTCRtpCodecParameters(
        mimeType=TELEPHONE_EVENT, clockRate=8000, channels=1, payloadType=126, parameters={"0-15": None}
    ),
)
_ENGINE_NEGOTIATING: ContextVar[bool] = ContextVar("rtcload_engine_negotiating", default=False)


class _AudioCodecs(list[RTCRtpCodecParameters]):
    """aiortc's audio codecs, plus telephone-event while (and only while) an engine peer negotiates."""

    def _visible(self) -> list[RTCRtpCodecParameters]:
        codecs = list(super().__iter__())
        if _ENGINE_NEGOTIATING.get():
            codecs.extend(TELEPHONE_EVENTS)
        return codecs

    def __iter__(self) -> Iterator[RTCRtpCodecParameters]:
        return iter(self._visible())

    def __len__(self) -> int:
        return len(self._visible())

    def __getitem__(self, index: SupportsIndex | slice) -> Any:
        return self._visible()[index]

    def __contains__(self, item: object) -> bool:
        return item in self._visible()


def install() -> None:
    """Put the view in place of aiortc's audio list (idempotent; the list's own codecs are kept)."""
    audio = CODECS["audio"]
    if not isinstance(audio, _AudioCodecs):
        kept = [c for c in audio if c.mimeType.lower() != TELEPHONE_EVENT]
        CODECS["audio"] = _AudioCodecs(kept)


@contextlib.contextmanager
def negotiating_events() -> Iterator[None]:
    """Within this block (this task and tasks it starts), aiortc offers and accepts telephone-event."""
    install()
    token = _ENGINE_NEGOTIATING.set(True)
    try:
        yield
    finally:
        _ENGINE_NEGOTIATING.reset(token)
