"""aiortc's RTP receiver, sender and transceiver: the per-packet hook and the negotiated codecs.

Checked against aiortc 1.16 (pyproject.toml).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from aiortc import RTCRtpReceiver, RTCRtpSender, RTCRtpTransceiver

RtpHandler = Callable[[Any, int], Awaitable[None]]


def rtp_handler(receiver: RTCRtpReceiver) -> RtpHandler:
    """What the DTLS transport calls for each RTP packet (`_handle_rtp_packet(packet, arrival_time_ms)`)."""
    return receiver._handle_rtp_packet


def set_rtp_handler(receiver: RTCRtpReceiver, handler: RtpHandler) -> None:
    """Shadow the per-packet method on this receiver only (aiortc has no public per-packet event)."""
    receiver._handle_rtp_packet = handler  # type: ignore[method-assign]


def negotiated_codecs(transceiver: RTCRtpTransceiver | None) -> list[Any]:
    """The transceiver's negotiated codecs, best first (`_codecs`); empty before negotiation."""
    return list(getattr(transceiver, "_codecs", None) or []) if transceiver is not None else []


def sender_ssrc(sender: RTCRtpSender) -> int:
    """The SSRC aiortc chose for the sender (`_ssrc`)."""
    return int(sender._ssrc)
