"""Codec impairment table (quality.md section 3): the E-model needs Ie/Bpl and the codec delay per codec."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Scale = Literal["NB", "FB"]


class UnknownCodecError(KeyError):
    """Raised for a codec name the table does not know; callers that want the fallback use `codec_or_fallback`."""

    def __str__(self) -> str:  # KeyError quotes its message; keep it readable
        return str(self.args[0]) if self.args else "unknown codec"


@dataclass(frozen=True)
class CodecProfile:
    """E-model parameters of one codec: impairment Ie, loss robustness Bpl, and its delay contribution to Ta."""

    name: str
    scale: Scale
    ie: float
    bpl: float
    ptime_ms: float = 20.0
    lookahead_ms: float = 0.0
    plc: bool = True
    fallback: bool = False

    @property
    def codec_delay_ms(self) -> float:
        """Packetization plus look-ahead, the codec's share of the one-way delay Ta."""
        return self.ptime_ms + self.lookahead_ms


# Keyed by (upper-case RTP name, plc). G.711 with Appendix I PLC is the "real endpoint" default;
# no PLC models what an aiortc receiver plays out. Opus values are provisional (single source, FB scale).
_TABLE: dict[tuple[str, bool], CodecProfile] = {}


def _add(profile: CodecProfile, *, both_plc: bool = False) -> None:
    _TABLE[(profile.name, profile.plc)] = profile
    if both_plc:
        _TABLE[(profile.name, not profile.plc)] = profile


for _name in ("PCMU", "PCMA"):
    _add(CodecProfile(_name, "NB", ie=0.0, bpl=25.1, plc=True))
    _add(CodecProfile(_name, "NB", ie=0.0, bpl=4.3, plc=False))
_add(CodecProfile("OPUS", "FB", ie=10.2, bpl=9.6, lookahead_ms=6.5), both_plc=True)
_add(CodecProfile("G729", "NB", ie=11.0, bpl=19.0, ptime_ms=20.0, lookahead_ms=5.0), both_plc=True)
_add(CodecProfile("G723", "NB", ie=15.0, bpl=16.1, ptime_ms=30.0, lookahead_ms=7.5), both_plc=True)

KNOWN_CODECS: tuple[str, ...] = tuple(sorted({name for name, _ in _TABLE}))


def get_codec(name: str, *, plc: bool = True) -> CodecProfile:
    """Look a codec up by RTP name, case-insensitively ("pcmu", "audio/opus" and "OPUS" all work)."""
    key = name.strip().upper()
    if "/" in key:
        key = key.split("/", 1)[1] if key.startswith("AUDIO/") else key.split("/", 1)[0]
    try:
        return _TABLE[(key, plc)]
    except KeyError:
        raise UnknownCodecError(f"unknown codec {name!r}; known: {', '.join(KNOWN_CODECS)}") from None


def codec_or_fallback(name: str, *, plc: bool = True) -> CodecProfile:
    """Section 3: G.722 and unknown codecs are rated with the G.711 + PLC profile and tagged as a fallback."""
    try:
        return get_codec(name, plc=plc)
    except UnknownCodecError:
        base = _TABLE[("PCMU", True)]
        return CodecProfile(name.strip().lower(), base.scale, base.ie, base.bpl, base.ptime_ms, 0.0, True, True)
