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

# Opus below 40 kbit/s (quality.md section 3): Ie and Bpl (random loss) of Opus SWB VBR per bitrate, from
# Alahmadi, Pocta & Melvin (ACM TOMM 17(4) art. 133, 2021; data as in `Opus_emodel.js`, MIT). At 40 kbit/s
# their values (10.7 / 9.8) meet G.113 Amd 3's fullband 10.2 / 9.6 (the table's entry, kept at and above
# 40 kbit/s), so between 14 and 40 kbit/s the FB route takes the interpolated SWB values. Provisional.
_OPUS_VBR_KBPS = (14, 15, 16, 19, 22, 25, 28, 31, 34, 37, 40)
_OPUS_VBR_IE = (38.06, 34.12, 30.16, 23.81, 20.22, 20.21, 18.48, 16.83, 14.76, 12.08, 10.2)
_OPUS_VBR_BPL = (16.51, 15.0, 11.83, 10.67, 10.47, 11.28, 10.63, 10.44, 10.12, 10.38, 9.6)
OPUS_DEFAULT_BITRATE = 32_000  # libwebrtc's mono default, what rtcload encodes unless told otherwise
_opus_bitrate = OPUS_DEFAULT_BITRATE


def _interpolate(x: float, xs: tuple[int, ...], ys: tuple[float, ...]) -> float:
    if x <= xs[0]:
        return ys[0]
    for (x0, y0), (x1, y1) in zip(zip(xs, ys, strict=True), zip(xs[1:], ys[1:], strict=True), strict=False):
        if x <= x1:
            return y0 + (y1 - y0) * (x - x0) / (x1 - x0)
    return ys[-1]


def opus_profile(bitrate_bps: int, *, plc: bool = True) -> CodecProfile:
    """The Opus E-model profile at a bitrate: G.113's fullband values at >= 40 kbit/s, the SWB VBR curve below."""
    base = _TABLE[("OPUS", plc)]
    kbps = bitrate_bps / 1000.0
    if kbps >= _OPUS_VBR_KBPS[-1]:
        return base
    ie = round(_interpolate(kbps, _OPUS_VBR_KBPS, _OPUS_VBR_IE), 2)
    bpl = round(_interpolate(kbps, _OPUS_VBR_KBPS, _OPUS_VBR_BPL), 2)
    return CodecProfile("OPUS", base.scale, ie=ie, bpl=bpl, lookahead_ms=base.lookahead_ms, plc=plc)


def set_opus_bitrate(bitrate_bps: int) -> None:
    """The bitrate this process encodes Opus at: `get_codec("opus")` rates calls with that bitrate's profile."""
    global _opus_bitrate
    if bitrate_bps <= 0:
        raise ValueError(f"Opus bitrate must be positive, not {bitrate_bps}")
    _opus_bitrate = bitrate_bps


def opus_bitrate() -> int:
    return _opus_bitrate


_add(CodecProfile("G729", "NB", ie=11.0, bpl=19.0, ptime_ms=20.0, lookahead_ms=5.0), both_plc=True)
_add(CodecProfile("G723", "NB", ie=15.0, bpl=16.1, ptime_ms=30.0, lookahead_ms=7.5), both_plc=True)

KNOWN_CODECS: tuple[str, ...] = tuple(sorted({name for name, _ in _TABLE}))


def get_codec(name: str, *, plc: bool = True) -> CodecProfile:
    """Look a codec up by RTP name, case-insensitively ("pcmu", "audio/opus" and "OPUS" all work)."""
    key = name.strip().upper()
    if "/" in key:
        key = key.split("/", 1)[1] if key.startswith("AUDIO/") else key.split("/", 1)[0]
    if key == "OPUS":
        return opus_profile(_opus_bitrate, plc=plc)
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
