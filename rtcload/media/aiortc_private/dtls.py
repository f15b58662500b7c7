"""aiortc's DTLS transport and peer connection: where the SRTP sessions and certificates live.

Checked against aiortc 1.16 (pyproject.toml).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aiortc import RTCCertificate, RTCPeerConnection
from aiortc.rtcdtlstransport import RTCDtlsTransport

ORIGINAL_SETUP_SRTP: Callable[[RTCDtlsTransport], None] = RTCDtlsTransport._setup_srtp


def replace_setup_srtp(setup: Callable[[Any], None]) -> None:
    """Install `setup` as `RTCDtlsTransport._setup_srtp` (it creates the SRTP sessions once DTLS is up)."""
    RTCDtlsTransport._setup_srtp = setup  # type: ignore[method-assign]


def receive_srtp(dtls_transport: Any) -> Any:
    """The transport's receive SRTP session (`_rx_srtp`, a pylibsrtp Session), None before DTLS is up."""
    return dtls_transport._rx_srtp


def set_receive_srtp(dtls_transport: Any, session: Any) -> None:
    dtls_transport._rx_srtp = session


def certificates_of(pc: RTCPeerConnection) -> list[RTCCertificate]:
    """The certificates a peer connection presents (`_RTCPeerConnection__certificates`)."""
    return pc._RTCPeerConnection__certificates  # type: ignore[attr-defined,no-any-return]
