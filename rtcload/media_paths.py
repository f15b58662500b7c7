"""Which path carries a call's RTP: the media engine (the default) or an aiortc baseline that bench/ measures.

- engine: one media engine per process (rtcload.media.engine), no thread per call;
- lean: aiortc sends pre-encoded frames and does not decode (rtcload.media.lean);
- naive: aiortc encodes and decodes every frame (rtcload.media.peer / endpoint).
Kept apart from rtcload.media so command-line parsers can name the choices without importing aiortc.
"""

from __future__ import annotations

MEDIA_PATHS = ("engine", "lean", "naive")
DEFAULT_MEDIA_PATH = "engine"


def check_media_path(name: str, what: str = "media path") -> str:
    """The normalised path name; ValueError naming the choices otherwise."""
    path = name.strip().lower()
    if path not in MEDIA_PATHS:
        raise ValueError(f"{what} must be one of {', '.join(MEDIA_PATHS)} (got {name!r})")
    return path
