"""Codec preference: put the requested audio codec first in a transceiver's offer/answer."""

from __future__ import annotations

from aiortc import RTCRtpSender, RTCRtpTransceiver

CODEC_MIME = {"opus": "audio/opus", "pcmu": "audio/PCMU", "pcma": "audio/PCMA"}


def check_codec(codec: str | None) -> str | None:
    if codec is None:
        return None
    name = codec.lower()
    if name not in CODEC_MIME:
        raise ValueError(f"unknown codec {codec!r}: expected one of {', '.join(CODEC_MIME)}")
    return name


def prefer_codec(transceiver: RTCRtpTransceiver, codec: str | None, strict: bool = False) -> None:
    """Order `codec` first (others remain as fallback unless `strict`). None keeps aiortc's default order."""
    name = check_codec(codec)
    if name is None:
        return
    wanted = CODEC_MIME[name].lower()
    available = RTCRtpSender.getCapabilities("audio").codecs
    first = [c for c in available if c.mimeType.lower() == wanted]
    rest = [] if strict else [c for c in available if c.mimeType.lower() != wanted]
    transceiver.setCodecPreferences(first + rest)


def follow_answer(transceiver: RTCRtpTransceiver | None) -> None:
    """Before applying an answer to our offer: let the answer's codec order rule, not our preference.

    The answer's first codec is the one both sides send (JSEP). aiortc reorders the answer's codecs by the
    offerer's preference, so an offerer preferring Opus would send Opus to a far end that answered PCMU
    (and sends PCMU): noise one way. Our preference shaped the offer; the answer decides.
    """
    if transceiver is not None:
        transceiver.setCodecPreferences([])
