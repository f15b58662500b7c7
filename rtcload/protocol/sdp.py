"""SDP text helpers both sides need: a placeholder SDP and the trickle-ICE candidate split.

Sans-I/O like the rest of `rtcload.protocol`: the signaling client (signaling-only media, trickle)
and the emulator (answers for calls without real media) share these, so neither imports the other.
"""

from __future__ import annotations

import itertools
import re

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


def trickle_sdp(sdp: str) -> tuple[str, list[str]]:
    """The SDP a trickling SDK sends before any candidate, and the candidates to trickle after it.

    Chrome's trickle offer (official SDK, `trickleIce: true`; traces/signaling_trickle.jsonl) is written
    before gathering: no `a=candidate`, no `a=end-of-candidates`, and the RFC 8840 placeholders
    `m=audio 9` and `c=IN IP4 0.0.0.0`. aiortc has gathered already, so its SDP is rewritten to that.
    """
    kept, candidates = split_candidates(sdp)
    lines = []
    for line in kept.split("\r\n"):
        if line.startswith("m=audio "):
            fields = line.split(" ")
            line = " ".join([fields[0], "9", *fields[2:]])
        elif line.startswith("c=IN IP4 ") or line.startswith("c=IN IP6 "):
            line = "c=IN IP4 0.0.0.0"
        lines.append(line)
    return "\r\n".join(lines), candidates


MAX_SDP_BYTES = 64 * 1024  # an audio SDP with many candidates is a few KiB
MAX_CANDIDATE_BYTES = 1024
_SDP_LINE = re.compile(r"[a-z]=[\x20-\x7e\t]*")
_CANDIDATE = re.compile(
    r"(?:a=)?candidate:[!-~]{1,32} \d{1,3} (?:udp|tcp|UDP|TCP) \d{1,10} [0-9A-Za-z.:%_-]{1,253} \d{1,5} typ "
    r"(?:host|srflx|prflx|relay)(?: [!-~]+ [!-~]+)*"
)


def sdp_problem(sdp: object) -> str | None:
    """None if `sdp` looks like an SDP a media stack can take, else a short, safe reason.

    Checked before the text reaches aiortc, whose parser answers garbage with assertion errors
    and exception texts that must not travel back to a client as a server fault.
    """
    if not isinstance(sdp, str) or not sdp:
        return "sdp missing"
    if len(sdp.encode("utf-8", "replace")) > MAX_SDP_BYTES:
        return f"sdp larger than {MAX_SDP_BYTES} bytes"
    lines = [line for line in sdp.replace("\r\n", "\n").split("\n") if line]
    if not lines or lines[0] != "v=0":
        return "sdp does not start with v=0"
    for number, line in enumerate(lines, start=1):
        if not _SDP_LINE.fullmatch(line):
            return f"sdp line {number} is not type=value"
    if not any(line.startswith("m=audio ") for line in lines):
        return "sdp has no m=audio section"
    for line in lines:
        if line.startswith("m="):
            parts = line[2:].split(" ")
            if len(parts) < 4 or not parts[1].isdigit() or int(parts[1]) > 65535:
                return "sdp m= line is malformed"
        elif line.startswith("a=candidate:") and candidate_problem(line[2:]) is not None:
            return "sdp carries a malformed candidate"
    return None


def candidate_problem(line: object) -> str | None:
    """None if `line` is an RFC 5245 candidate attribute (`candidate:...`), else a short reason."""
    if not isinstance(line, str) or not line:
        return "candidate missing"
    if len(line) > MAX_CANDIDATE_BYTES:
        return f"candidate longer than {MAX_CANDIDATE_BYTES} bytes"
    match = _CANDIDATE.fullmatch(line)
    if match is None:
        return "candidate is not 'candidate:<foundation> <component> <udp|tcp> <priority> <address> <port> typ <type>'"
    port = int(line.split(" ")[5])
    if port > 65535:
        return "candidate port out of range"
    return None


_STATIC_AUDIO = {0: "pcmu", 8: "pcma", 9: "g722", 18: "g729"}  # RFC 3551 static payload types


def audio_codecs(sdp: str) -> list[str]:
    """The first audio section's codecs in the order offered (lower-case names: opus, pcmu, telephone-event).

    An answer's first codec is the one the call uses; an offer's first one the offerer prefers.
    """
    formats: list[int] = []
    names: dict[int, str] = {}
    in_audio = False
    for line in sdp.splitlines():
        if line.startswith("m="):
            if in_audio:
                break
            fields = line[2:].split()
            in_audio = bool(fields) and fields[0] == "audio"
            if in_audio:
                formats = [int(f) for f in fields[3:] if f.isdigit()]
        elif in_audio and line.startswith("a=rtpmap:"):
            pt, _, encoding = line[len("a=rtpmap:") :].partition(" ")
            if pt.isdigit():
                names[int(pt)] = encoding.split("/", 1)[0].lower()
    return [names.get(pt) or _STATIC_AUDIO.get(pt, str(pt)) for pt in formats]


def first_codec(sdp: str, supported: tuple[str, ...]) -> str | None:
    """The first of the SDP's audio codecs that is in `supported` (what a relay would use), or None."""
    return next((codec for codec in audio_codecs(sdp) if codec in supported), None)
