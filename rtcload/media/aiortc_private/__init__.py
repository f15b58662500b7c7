"""Private names of aiortc and aioice, each named in one module per concern.

aiortc has no public per-packet hook, no accessor for a peer's certificates, its DTLS transport's
SRTP sessions or its ICE transport's aioice Connection; rtcload reaches them by private name. Those
names are checked against the versions pinned in pyproject.toml, whose pin comment lists every
module that depends on them. Here:

- `ice`: `RTCIceTransport._connection` (the aioice Connection), `Connection._local_candidates` /
  `._remote_candidates` / `._nominated` / `._query_consent_task`, and the Connection behind a
  StunProtocol factory's closure;
- `dtls`: `RTCDtlsTransport._setup_srtp` (patched, stray.py), `._rx_srtp`, and the peer connection's
  `_RTCPeerConnection__certificates`;
- `rtp`: `RTCRtpReceiver._handle_rtp_packet` (shadowed per instance), `RTCRtpTransceiver._codecs`,
  `RTCRtpSender._ssrc`.

The media engine's own takeover of a call (SRTP sessions, the nominated pair, STUN protocols, the
TURN client, pylibsrtp's Session internals) keeps its names in `rtcload/media/engine/takeover.py`.
`tests/test_aiortc_private.py` fails when a private aiortc/aioice name appears anywhere else.
"""
