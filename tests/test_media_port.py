"""MediaPort's optional capabilities are typed protocols, not attribute names in strings (issue 25).

Every media implementation of rtcload declares what it can do by what it is: the aiortc, lean and
engine CallMedia know when RTP arrived, only the engine sends DTMF in-band, a closed media's
MediaReport is what the call report reads; signaling-only media has none of it. The behaviour
through signaling (media gap, watchdog, in-band DTMF, call reports) is covered end to end in
test_call_media.py, test_media_engine.py and test_call_reports.py; this file pins the declarations
and keeps string lookups out of signaling.
"""

from __future__ import annotations

import ast
from pathlib import Path

from rtcload.media.engine.call_media import EngineCallMedia
from rtcload.media.lean import LeanCallMedia
from rtcload.media.peer import CallMedia
from rtcload.signaling.media_port import (
    InbandDtmf,
    MediaPort,
    ReportedMedia,
    RtpTimed,
    StaticSdpMedia,
    last_rtp_of,
)

SIGNALING = Path(__file__).resolve().parent.parent / "rtcload" / "signaling"


async def test_every_media_declares_its_capabilities():
    static = StaticSdpMedia()
    assert isinstance(static, MediaPort) and not isinstance(static, RtpTimed | InbandDtmf)
    assert last_rtp_of(static) is None
    assert not isinstance(await static.close(), ReportedMedia)
    for cls in (CallMedia, LeanCallMedia, EngineCallMedia):
        media = cls("tone:440")
        try:
            assert isinstance(media, MediaPort) and isinstance(media, RtpTimed), cls
            assert last_rtp_of(media) is None  # no RTP yet
            assert isinstance(media, InbandDtmf) is (cls is EngineCallMedia), cls
        finally:
            report = await media.close()
        assert isinstance(report, ReportedMedia), cls
        assert report.connected is False and report.first_audio_s is None  # it never connected


MEDIA_NAMES = ("media", "old", "media_report", "report", "waiter", "inband")


def _media_expression(node: ast.expr) -> bool:
    """`media`, `old`, `call.media`, `self.media`...: an expression that holds a call's media or its report."""
    if isinstance(node, ast.Name):
        return node.id in MEDIA_NAMES
    return isinstance(node, ast.Attribute) and node.attr in MEDIA_NAMES


def _string_lookups(path: Path) -> list[int]:
    """Lines of getattr/hasattr calls with a literal attribute name on a call's media or its report."""
    lines = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id in ("getattr", "hasattr")
            and len(node.args) >= 2
            and isinstance(node.args[1], ast.Constant)
            and _media_expression(node.args[0])
        ):
            lines.append(node.lineno)
    return lines


def test_signaling_reaches_for_no_member_by_its_name():
    found = {p.name: lines for p in sorted(SIGNALING.glob("*.py")) if (lines := _string_lookups(p))}
    assert not found, f"use the typed capabilities of signaling/media_port.py: {found}"


def test_the_lookup_walk_can_fail(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text(
        "x = getattr(media, 'last_rtp', None)\n"
        "y = hasattr(call.media, 'send_dtmf')\n"
        "z = getattr(exc, 'detail', None)\n"
        "w = getattr(media_report, 'codec', None)\n"
    )
    assert _string_lookups(bad) == [1, 2, 4]
