"""Private aiortc/aioice names live in one module per concern (issue 25), listed in the pin comment.

A walk over rtcload/ finds every use of a private name of aiortc, aioice or pylibsrtp (an attribute,
or a getattr/setattr string) and fails when one is outside the modules that name them; the pin
comment in pyproject.toml must list every such module, so a version bump knows what to re-check.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# Private names of aiortc 1.16 / aioice 0.13 / pylibsrtp 1.0 that rtcload uses.
PRIVATE = {
    "_RTCPeerConnection__certificates",
    "_TurnTransport__inner_protocol",
    "_handle_rtp_packet",
    "_codecs",
    "_ssrc",
    "_rx_srtp",
    "_tx_srtp",
    "_setup_srtp",
    "_nominated",
    "_query_consent_task",
    "_protocols",
    "_local_candidates",
    "_remote_candidates",
    "_cdata",
    "_srtp",
    "_create_ssl_context",
}
# `x.transport._connection`: RTCIceTransport's aioice Connection (rtcload's own `self._connection`s are not it).
TRANSPORT_CONNECTION = "_connection"
ACCESSORS = {
    "rtcload/media/aiortc_private/ice.py",
    "rtcload/media/aiortc_private/dtls.py",
    "rtcload/media/aiortc_private/rtp.py",
    "rtcload/media/engine/takeover.py",  # the media engine's takeover of a call
    "rtcload/media/certificate.py",  # overrides RTCCertificate._create_ssl_context (a subclass, cannot move)
}
# Modules that patch aiortc/aioice internals without a private name (module globals, class methods).
PATCHERS = {
    "rtcload/media/stray.py",
    "rtcload/media/ice_diag.py",
    "rtcload/media/loopback.py",
    "rtcload/media/lean.py",
    "rtcload/media/consent.py",  # replaces Connection.query_consent per instance
    "rtcload/media/aiortc_private/stun.py",  # aioice.stun's address codecs; StunProtocol's dispatch after a parse
}


def private_uses(source: str) -> list[tuple[int, str]]:
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Attribute):
            if node.attr in PRIVATE and not (isinstance(node.value, ast.Name) and node.value.id == "self"):
                found.append((node.lineno, node.attr))
            elif (
                node.attr == TRANSPORT_CONNECTION
                and isinstance(node.value, ast.Attribute)
                and node.value.attr == "transport"
            ):
                found.append((node.lineno, "transport._connection"))
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id in ("getattr", "setattr", "hasattr")
            and len(node.args) >= 2
            and isinstance(node.args[1], ast.Constant)
            and (node.args[1].value in PRIVATE or node.args[1].value == TRANSPORT_CONNECTION)
        ):
            found.append((node.lineno, str(node.args[1].value)))
    return found


def _walk() -> dict[str, list[tuple[int, str]]]:
    out = {}
    for path in sorted((ROOT / "rtcload").rglob("*.py")):
        uses = private_uses(path.read_text(encoding="utf-8"))
        if uses:
            out[path.relative_to(ROOT).as_posix()] = uses
    return out


def test_private_names_only_in_their_modules():
    outside = {path: uses for path, uses in _walk().items() if path not in ACCESSORS}
    assert not outside, (
        f"name aiortc/aioice internals in rtcload/media/aiortc_private/ (one module per concern): {outside}"
    )


def test_the_pin_comment_lists_every_dependent_module():
    text = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    pins = text[: text.index('"aioice>=')]
    missing = sorted(m for m in ACCESSORS | PATCHERS if m not in pins)
    assert not missing, f"pyproject.toml's aiortc/aioice pin comment must list {missing}"
    assert set(_walk()) <= ACCESSORS  # and nothing outside them names a private


def test_the_walk_can_fail():
    bad = (
        "x = pc._RTCPeerConnection__certificates\n"
        "y = dtls.transport._connection\n"
        "z = getattr(conn, '_nominated', {})\n"
        "w = self._connection\n"
        "v = receiver._handle_rtp_packet\n"
    )
    assert [line for line, _ in private_uses(bad)] == [1, 2, 3, 5]
