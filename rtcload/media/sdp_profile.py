"""The client's offer and answer shaped like Chrome's, limited to what rtcload's media path really does.

Why: the platform negotiates against what clients offer; a load test whose offer differs from the
browser's (no Opus fmtp, so no in-band FEC requested; no `ice-options:trickle`; codecs it cannot carry)
exercises a different negotiation than production sees. Chrome's offer, from the official SDK 2.27.10
in Debian's Chromium (shared/traces/signaling_trickle.jsonl and the twin test, tests/test_twin.py):

    m=audio 9 UDP/TLS/RTP/SAVPF 111 63 9 0 8 13 110 126
    a=ice-options:trickle
    a=extmap:1 ssrc-audio-level, 2 abs-send-time, 3 transport-wide-cc, 4 sdes:mid
    a=rtpmap:111 opus/48000/2 + a=rtcp-fb:111 transport-cc + a=fmtp:111 minptime=10;useinbandfec=1
    red/48000/2, G722/8000, PCMU/8000, PCMA/8000, CN/8000, telephone-event/48000 and /8000 (no fmtp)

Profile "chrome" keeps Chrome's order and fmtp for what rtcload carries (Opus, PCMU, PCMA,
telephone-event at 48 and 8 kHz) and offers trickle (the client applies trickled candidates). It
leaves out what it would not honour: red, G722 and CN (the engine carries Opus and G.711 only; an
answer choosing them would fail the call), abs-send-time and transport-wide-cc with `rtcp-fb
transport-cc` (the media path stamps neither, and offering transport-cc promises feedback-driven
bandwidth estimation nobody runs; not offering it is safe: the far end then sends no transport-cc
feedback and no TWCC sequence numbers, RFC 8888 / draft-holmer, and falls back to RTCP RR loss), and
any header extension the media path does not write into its RTP (`sends`: the C path writes none yet;
the Python engine path writes ssrc-audio-level). Profile "minimal" is aiortc's offer as it was.
"""

from __future__ import annotations

CLIENT_PROFILES = ("chrome", "minimal")
DEFAULT_CLIENT_PROFILE = "chrome"

AUDIO_LEVEL = "urn:ietf:params:rtp-hdrext:ssrc-audio-level"
SDES_MID = "urn:ietf:params:rtp-hdrext:sdes:mid"
# Chrome's extension ids, so an offer that keeps one numbers it as Chrome does
CHROME_EXTENSION_IDS = {
    AUDIO_LEVEL: 1,
    "http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time": 2,
    "http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01": 3,
    SDES_MID: 4,
}
# Chrome's codecs and order, by rtpmap name (lower case), for the codecs rtcload can carry
CHROME_CODEC_ORDER = ("opus/48000/2", "pcmu/8000", "pcma/8000", "telephone-event/48000", "telephone-event/8000")
_STATIC = {"0": "pcmu/8000", "8": "pcma/8000", "9": "g722/8000", "13": "cn/8000"}


def check_profile(name: str, flag: str = "--rtc-client-profile") -> str:
    profile = name.strip().lower()
    if profile not in CLIENT_PROFILES:
        raise ValueError(f"{flag} must be one of {', '.join(CLIENT_PROFILES)}, not {name!r}")
    return profile


def shape_sdp(sdp: str, *, opus_fmtp: str, sends: frozenset[str] = frozenset(), offer: bool = True) -> str:
    """aiortc's SDP as Chrome would write it, for what this side does (see the module docstring).

    `sends`: the header extension URIs the media path writes into its RTP; the others are removed.
    An answer keeps the offer's extension ids (JSEP); an offer takes Chrome's ids.
    """
    lines = sdp.replace("\r\n", "\n").rstrip("\n").split("\n")
    m_index = next((i for i, line in enumerate(lines) if line.startswith("m=audio ")), None)
    if m_index is None:
        return sdp
    names: dict[str, str] = {}
    for line in lines[m_index:]:
        if line.startswith("a=rtpmap:"):
            pt, _, encoding = line[len("a=rtpmap:") :].partition(" ")
            names[pt] = encoding.lower()
    fields = lines[m_index].split(" ")
    payloads = fields[3:]
    name_of = {pt: names.get(pt) or _STATIC.get(pt, pt) for pt in payloads}
    # aiortc's order without the codecs left out is Chrome's (opus, PCMU, PCMA, events), or the codec the
    # user asked for (--rtc-codec) first: that preference stays
    kept = [pt for pt in payloads if name_of[pt] in CHROME_CODEC_ORDER]
    dropped = set(payloads) - set(kept)
    opus = next((pt for pt in kept if name_of[pt] == "opus/48000/2"), None)
    out: list[str] = []
    for index, line in enumerate(lines):
        if index == m_index:
            out.append(" ".join([*fields[:3], *kept]))
            continue
        if index < m_index:
            out.append(line)
            continue
        pt = _attribute_pt(line)
        if pt is not None and (pt in dropped or line.startswith("a=fmtp:")):
            # a dropped codec's lines; every kept codec's fmtp: Chrome gives telephone-event none
            # (RFC 4733: events 0-15) and its own to Opus, added after the Opus rtpmap below
            continue
        if line.startswith("a=extmap:"):
            uri = line.split(" ")[1] if " " in line else ""
            if uri not in sends:
                continue
            if offer and uri in CHROME_EXTENSION_IDS:
                line = f"a=extmap:{CHROME_EXTENSION_IDS[uri]} {uri}"
        out.append(line)
        if line.startswith("a=ice-pwd:") and not any(x.startswith("a=ice-options:") for x in lines):
            out.append("a=ice-options:trickle")
        if opus is not None and line.lower() == f"a=rtpmap:{opus} opus/48000/2":
            out.append(f"a=fmtp:{opus} {opus_fmtp}")
    return "\r\n".join(out) + "\r\n"


def _attribute_pt(line: str) -> str | None:
    for prefix in ("a=rtpmap:", "a=fmtp:", "a=rtcp-fb:"):
        if line.startswith(prefix):
            return line[len(prefix) :].split(" ", 1)[0]
    return None
