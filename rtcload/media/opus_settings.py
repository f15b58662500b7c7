"""How rtcload encodes Opus: like libwebrtc by default (mono, ~32 kbit/s VBR, in-band FEC, 20 ms).

Why: a load test is only as true as its packets. aiortc's own `OpusEncoder` is stereo at 96 kbit/s
(~316 B on the wire); Chrome (libwebrtc, official SDK 2.27.10) sends mono ~32 kbit/s VBR with packet sizes
that follow the audio. Every byte-related figure of a capacity run (trunk, NIC, the platform's
per-packet work) follows from this choice, so it is one process-wide setting used by every Opus
encoder rtcload builds: the pre-encoded frame tables (encoded.py) for the generator's and the
emulator's sources, and the relay transcoder (engine/transcode.py).

libwebrtc's choices mirrored here (audio_encoder_opus.cc): application VOIP for mono, VBR on,
in-band FEC on when the far end's fmtp has `useinbandfec=1` (both sides of every rtcload call offer
it), expected packet loss 0 on a clean start (so no LBRR bytes until loss is reported; libwebrtc raises
it from RTCP, pre-encoded frames cannot), DTX off, 20 ms frames. The RTP clock stays 48 kHz and the
rtpmap `opus/48000/2` (RFC 7587), without `stereo=1`: mono, as Chrome offers it.

Digital silence: libwebrtc's libopus sends 3-byte frames for it (Chrome's smallest packets on the wire
are 33 B: 12 RTP + 8 extension + 10 SRTP tag + 3). The libopus behind PyAV in VOIP mode codes digital
silence as ~35-byte SILK frames instead, so a frame of pure zeros is taken from the same library's
CELT silence frame: the wire then carries what Chrome sends, and payload-size silence detection
(lean.py, the C receive analyzer: <= 8 B is silent) keeps working.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import av
import numpy as np

from rtcload.quality.codecs import set_opus_bitrate

SAMPLE_RATE = 48_000
FRAME_SAMPLES = 960
MIN_BITRATE = 6_000  # RFC 7587 §3.1.1: Opus runs from 6 kbit/s ...
MAX_BITRATE = 510_000  # ... to 510 kbit/s
DEFAULT_BITRATE = 32_000  # libwebrtc's default for mono fullband Opus


@dataclass(frozen=True)
class OpusSettings:
    """One encoder configuration; frozen so it can key the per-process caches of encoded frames."""

    bitrate: int = DEFAULT_BITRATE
    fec: bool = True
    dtx: bool = False  # off, as Chrome; on: silent frames are not sent (engine Python path, stream.py)

    def __post_init__(self) -> None:
        if not MIN_BITRATE <= self.bitrate <= MAX_BITRATE:
            raise ValueError(f"Opus bitrate must be {MIN_BITRATE}..{MAX_BITRATE} bit/s, not {self.bitrate}")

    @property
    def fmtp(self) -> str:
        """The fmtp Chrome puts on its Opus rtpmap (no stereo: mono)."""
        fmtp = "minptime=10;useinbandfec=1" if self.fec else "minptime=10"
        return fmtp + ";usedtx=1" if self.dtx else fmtp


# DTX as libopus does it (RFC 6716 / opus_encoder.c): after 200 ms of inactivity, one frame every 400 ms
DTX_AFTER_FRAMES = 10
DTX_EVERY_FRAMES = 20

_current = OpusSettings()


def configure_opus(settings: OpusSettings) -> None:
    """Set this process's Opus encoding (and the E-model's Opus profile, which follows the bitrate)."""
    global _current
    _current = settings
    set_opus_bitrate(settings.bitrate)


def current_opus() -> OpusSettings:
    return _current


def parse_bitrate(text: str | int | float, flag: str = "--rtc-opus-bitrate") -> int:
    """`32000`, `32k` or `32kbps` -> 32000; a clear error naming the flag otherwise."""
    raw = str(text).strip().lower().removesuffix("bps").removesuffix("bit/s")
    try:
        value = float(raw[:-1]) * 1000 if raw.endswith("k") else float(raw)
    except ValueError:
        raise ValueError(f"{flag} must be a bitrate in bit/s like 32000 or 32k, not {text!r}") from None
    bps = round(value)
    if not MIN_BITRATE <= bps <= MAX_BITRATE:
        raise ValueError(f"{flag} must be between {MIN_BITRATE} and {MAX_BITRATE} bit/s, not {text!r}")
    return bps


def opus_encoder(settings: OpusSettings | None = None) -> av.AudioCodecContext:
    """A libopus encoder for 20 ms mono s16 frames at 48 kHz, configured like libwebrtc."""
    s = settings or _current
    codec = av.CodecContext.create("libopus", "w")
    codec.bit_rate = s.bitrate
    codec.format = "s16"
    codec.layout = "mono"
    codec.sample_rate = SAMPLE_RATE
    codec.options = {
        "application": "voip",
        "vbr": "on",
        "fec": "1" if s.fec else "0",
        "packet_loss": "0",
        "frame_duration": "20",
    }
    return codec  # type: ignore[return-value]


@functools.cache
def celt_silence_frame() -> bytes:
    """libopus's own 20 ms fullband CELT frame for digital silence (3 bytes), what libwebrtc sends for it."""
    codec = av.CodecContext.create("libopus", "w")
    codec.bit_rate = DEFAULT_BITRATE
    codec.format = "s16"
    codec.layout = "mono"
    codec.sample_rate = SAMPLE_RATE
    codec.options = {"application": "lowdelay", "frame_duration": "20"}
    zeros = np.zeros((1, FRAME_SAMPLES), dtype=np.int16)
    for index in range(8):
        for packet in codec.encode(_frame(zeros, index)):  # type: ignore[attr-defined]
            frame = bytes(packet)
            if len(frame) <= 8:
                return frame
    raise RuntimeError("libopus produced no silence frame")


def _frame(pcm: np.ndarray, index: int) -> av.AudioFrame:
    frame = av.AudioFrame.from_ndarray(pcm.reshape(1, -1), format="s16", layout="mono")
    frame.sample_rate = SAMPLE_RATE
    frame.pts = index * FRAME_SAMPLES
    return frame


def encode_loop(frames: list[np.ndarray], settings: OpusSettings | None = None) -> tuple[bytes, ...]:
    """One Opus payload per 20 ms PCM frame of a looped source, in steady state at the loop's seam.

    The loop is encoded three times and the last pass kept, so the encoder's state (and its one-frame
    look-ahead) at the seam is what it would be mid-stream; the payloads come out shifted by that delay,
    which for a loop is only a rotation. Frames of pure digital silence take `celt_silence_frame()`.
    """
    encoder = opus_encoder(settings)
    count = len(frames)
    payloads: list[bytes] = []
    for index in range(3 * count):
        pcm = frames[index % count]
        for packet in encoder.encode(_frame(pcm, index)):  # type: ignore[attr-defined]
            payloads.append(bytes(packet))
    silent = [not np.any(pcm) for pcm in frames]
    last = payloads[-count:]
    # the encoder's delay: payload i of the last pass codes input frame i - lag
    lag = 3 * count - len(payloads)
    silence = celt_silence_frame()
    return tuple(silence if silent[(i - lag) % count] else p for i, p in enumerate(last))
