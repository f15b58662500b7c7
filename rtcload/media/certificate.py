"""The DTLS certificate of this process' peer connections: one, shared by every call (the default), or one per call.

Why share: aiortc 1.16 gives every RTCPeerConnection a fresh EC P-256 key and self-signed X.509 certificate,
then builds a new OpenSSL context for its DTLS transport (key and certificate converted again, cipher and SRTP
lists parsed) and hashes the certificate three times for the SDP fingerprints at every offer or answer. That
is ~1-2 ms of CPU per call on each side (bench/setup_rate.py, variant per-call), repeated for nothing: a load
generator (like a browser, which keeps one certificate per origin) can present the same certificate on every
call. Each call still runs its own full DTLS handshake (fresh ECDHE keys, so fresh SRTP keys), and each side
still checks the far end's certificate against the fingerprint in its SDP. `RTCLOAD_DTLS_CERTIFICATE=per-call`
(or `set_certificate_policy`) restores aiortc's behaviour, e.g. to test a platform that pins fingerprints per
call.

aiortc has no `certificates` field in RTCConfiguration, so `new_peer_connection` hands the shared certificate
to RTCPeerConnection's constructor by swapping the class its module calls for the duration of that
(synchronous) call only. Checked against aiortc 1.16.0 (`RTCPeerConnection.__init__` calls
`RTCCertificate.generateCertificate()`, `RTCDtlsTransport` calls `_create_ssl_context` and `getFingerprints`).
"""

from __future__ import annotations

import time

import aiortc.rtcpeerconnection
from aiortc import RTCConfiguration, RTCPeerConnection
from aiortc.rtcdtlstransport import RTCCertificate, RTCDtlsFingerprint, SRTPProtectionProfile
from OpenSSL import SSL

from rtcload.media.aiortc_private.dtls import certificates_of
from rtcload.media.stray import install_stray_datagram_guard
from rtcload.options import env

ENV_POLICY = "RTCLOAD_DTLS_CERTIFICATE"
POLICIES = ("shared", "per-call")
DEFAULT_POLICY = "shared"
RENEW_AFTER_S = 29 * 24 * 3600.0  # aiortc's certificates are valid for 30 days: renew one day before

_policy: str | None = None
_shared: SharedCertificate | None = None
_shared_until = 0.0


class SharedCertificate(RTCCertificate):
    """An RTCCertificate that computes its fingerprints and its OpenSSL context once, not once per call.

    The context's server-side session cache is off: no call resumes a DTLS session (aiortc never offers
    one), so caching them in a context that lives as long as the process would only hold memory.
    """

    def __init__(self, key: object, cert: object) -> None:
        super().__init__(key, cert)  # type: ignore[arg-type]
        self._fingerprints: tuple[RTCDtlsFingerprint, ...] | None = None
        self._contexts: dict[tuple[bytes, ...], SSL.Context] = {}

    def getFingerprints(self) -> list[RTCDtlsFingerprint]:
        if self._fingerprints is None:
            self._fingerprints = tuple(super().getFingerprints())
        return [RTCDtlsFingerprint(f.algorithm, f.value) for f in self._fingerprints]

    def _create_ssl_context(self, srtp_profiles: list[SRTPProtectionProfile]) -> SSL.Context:
        key = tuple(profile.openssl_profile for profile in srtp_profiles)
        context = self._contexts.get(key)
        if context is None:
            context = super()._create_ssl_context(srtp_profiles)
            context.set_session_cache_mode(SSL.SESS_CACHE_OFF)
            self._contexts[key] = context
        return context


def certificate_policy() -> str:
    """This process' choice, "shared" or "per-call": set_certificate_policy(), else the environment, else shared."""
    if _policy is not None:
        return _policy
    return check_certificate_policy(env.text(ENV_POLICY) or DEFAULT_POLICY, ENV_POLICY)


def check_certificate_policy(policy: str, source: str = "certificate policy") -> str:
    name = policy.strip().lower()
    if name not in POLICIES:
        raise ValueError(f"{source} must be one of {', '.join(POLICIES)} (got {policy!r})")
    return name


def set_certificate_policy(policy: str | None) -> None:
    """Choose for this process ("shared" or "per-call"); None goes back to the environment's choice."""
    global _policy
    _policy = None if policy is None else check_certificate_policy(policy)


def shared_certificate() -> SharedCertificate:
    """The process' certificate, created at first use and renewed before aiortc's 30-day validity ends."""
    global _shared, _shared_until
    now = time.time()
    if _shared is None or now >= _shared_until:
        _shared = SharedCertificate.generateCertificate()
        _shared_until = now + RENEW_AFTER_S
    return _shared


class _SharedProvider:
    """Stands in for RTCCertificate inside RTCPeerConnection.__init__: its one call gets the shared certificate."""

    @classmethod
    def generateCertificate(cls) -> SharedCertificate:
        return shared_certificate()


def new_peer_connection(configuration: RTCConfiguration) -> RTCPeerConnection:
    """An RTCPeerConnection with the certificate the policy asks for (and the stray-datagram guard)."""
    install_stray_datagram_guard()
    if certificate_policy() == "per-call":
        return RTCPeerConnection(configuration)
    module = aiortc.rtcpeerconnection
    original = module.RTCCertificate
    module.RTCCertificate = _SharedProvider  # type: ignore[misc,assignment]
    try:
        return RTCPeerConnection(configuration)
    finally:
        module.RTCCertificate = original  # type: ignore[misc]


def local_certificate(pc: RTCPeerConnection) -> RTCCertificate:
    """The certificate a peer connection presents (tests: shared or not)."""
    return certificates_of(pc)[0]
