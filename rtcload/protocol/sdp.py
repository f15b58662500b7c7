"""SDP text helpers both sides need: a placeholder SDP and the trickle-ICE candidate split.

Sans-I/O like the rest of `rtcload.protocol`: the signaling client (signaling-only media, trickle)
and the emulator (answers for calls without real media) share these, so neither imports the other.
"""

from __future__ import annotations

import itertools

_session_ids = itertools.count(1)


def static_sdp(session_id: int | None = None, port: int = 9) -> str:
    """A syntactically complete audio SDP with no usable candidates (nothing will flow)."""
    sid = session_id if session_id is not None else next(_session_ids)
    return (
        "v=0\r\n"
        f"o=- {sid} 1 IN IP4 127.0.0.1\r\n"
        "s=-\r\n"
        "t=0 0\r\n"
        "a=group:BUNDLE 0\r\n"
        f"m=audio {port} UDP/TLS/RTP/SAVPF 111 0\r\n"
        "c=IN IP4 127.0.0.1\r\n"
        "a=mid:0\r\n"
        "a=sendrecv\r\n"
        "a=rtcp-mux\r\n"
        "a=ice-ufrag:rtcl\r\n"
        "a=ice-pwd:rtcloadstaticsdppassword00\r\n"
        "a=fingerprint:sha-256 " + ":".join(["00"] * 32) + "\r\n"
        "a=setup:actpass\r\n"
        "a=rtpmap:111 opus/48000/2\r\n"
        "a=rtpmap:0 PCMU/8000\r\n"
    )


def split_candidates(sdp: str) -> tuple[str, list[str]]:
    """Trickle: take `a=candidate` lines out of an SDP, to be sent as telnyx_rtc.candidate frames."""
    kept: list[str] = []
    candidates: list[str] = []
    for line in sdp.split("\r\n"):
        if line.startswith("a=candidate:"):
            candidates.append(line[2:])
        elif line != "a=end-of-candidates":
            kept.append(line)
    return "\r\n".join(kept), candidates
