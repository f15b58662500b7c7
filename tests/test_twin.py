"""The twin test (issue 23): the official SDK in Chromium and rtcload, one call each, compared on the wire.

tests/sdk/twin.py runs under `unshare --net` (only `lo`): one emulator (engine media, echo), one speech
WAV both clients send, a tcpdump capture per call, and the emulator's record of every client frame.
Compared: the signaling methods in order and the parameter keys of login and invite; the offer's
feature set (codecs, fmtp, header extensions, rtcp-fb, ice-options) minus what rtcload leaves out on
purpose (tests/test_client_profile.py, rtcload/media/sdp_profile.py); per direction the RTP packet rate
(within 2 %), the mean RTP size (within 20 %), the RTCP and STUN request rates (within 50 %). What
still differs is listed in docs/wire-twin.md with the command that produced its numbers.

Rates of rare events are counts over the ~20 s window: one event more or less is 0.05/s of STUN or
3/min of RTCP, so the RTCP tolerance (and STUN toward the client, the emulator's own checks) allows
that one event of counting noise on top of the 50 %.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from rtcload.media.engine.call_media import engine_header_extensions
from tests.prerequisites import skip_or_fail
from tests.test_client_profile import NOT_OFFERED_CODECS, NOT_OFFERED_EXTENSIONS
from tests.test_sdk_acceptance import _chromium, _missing

pytestmark = pytest.mark.browser

REPO = Path(__file__).resolve().parents[1]
DRIVER = REPO / "tests" / "sdk" / "twin.py"
STAY_S = 20
DIALOG_KEYS_ONLY_RTCLOAD = {"custom_headers"}  # rtcload always sends the (empty) list; the SDK omits it


@pytest.fixture(scope="module")
def twin() -> dict[str, Any]:
    missing = _missing() or (None if shutil.which("tcpdump") else "tcpdump not found")
    skip_or_fail(missing, "RTCLOAD_REQUIRE_BROWSER")
    env = dict(os.environ, CHROMIUM=_chromium() or "/usr/bin/chromium", PYTHONPATH=str(REPO))
    cmd = ["unshare", "--net", "--", sys.executable, str(DRIVER), "--stay", str(STAY_S)]
    proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=150)
    lines = [line for line in proc.stdout.splitlines() if line.startswith('{"twin"')]
    assert lines, f"no result (rc={proc.returncode})\nstdout:\n{proc.stdout[-3000:]}\nstderr:\n{proc.stderr[-3000:]}"
    result: dict[str, Any] = json.loads(lines[-1])["twin"]
    print(json.dumps(result, indent=1))  # the numbers behind docs/wire-twin.md, in the test log
    assert "problem" not in result, result
    assert result["interfaces"] == ["lo"]
    for side in ("chrome", "rtcload"):
        assert result[side]["rc"] == 0, (side, result[side])
    return result


def test_signaling_methods_and_parameter_keys_are_the_sdks(twin: dict[str, Any]) -> None:
    chrome, mine = twin["chrome"], twin["rtcload"]
    assert (
        mine["methods"]
        == chrome["methods"]
        == ["login", "telnyx_rtc.gatewayState", "telnyx_rtc.invite", "telnyx_rtc.bye"]
    )
    assert mine["login_keys"] == chrome["login_keys"]
    assert mine["invite_keys"] == chrome["invite_keys"]
    assert set(mine["dialog_keys"]) - set(chrome["dialog_keys"]) == DIALOG_KEYS_ONLY_RTCLOAD
    assert set(chrome["dialog_keys"]) <= set(mine["dialog_keys"])


def test_offer_has_chromes_features_for_what_rtcload_does(twin: dict[str, Any]) -> None:
    chrome, mine = twin["chrome"]["sdp"], twin["rtcload"]["sdp"]
    assert mine["codecs"] == [c for c in chrome["codecs"] if c not in NOT_OFFERED_CODECS]
    assert mine["fmtp"] == chrome["fmtp"]
    assert mine["ice_options"] == chrome["ice_options"]
    # only the extensions the media path writes: none on the C path, ssrc-audio-level on the Python path
    assert set(mine["extensions"]) == set(chrome["extensions"]) & engine_header_extensions()
    assert not set(mine["extensions"]) & NOT_OFFERED_EXTENSIONS
    assert mine["rtcp_fb"] == {} and chrome["rtcp_fb"] == {"opus/48000/2": ["transport-cc"]}


@pytest.mark.parametrize("direction", ["up", "down"])
def test_rtp_rtcp_and_stun_rates_match_per_direction(twin: dict[str, Any], direction: str) -> None:
    chrome, mine = twin["chrome"]["wire"], twin["rtcload"]["wire"]
    assert chrome["window_s"] > STAY_S - 5 and mine["window_s"] > STAY_S - 5, (chrome, mine)
    a, b = chrome[direction], mine[direction]
    assert b["rtp_per_s"] == pytest.approx(a["rtp_per_s"], rel=0.02), (a, b)
    assert b["rtp_mean_bytes"] == pytest.approx(a["rtp_mean_bytes"], rel=0.20), (a, b)
    one_rtcp = 60.0 / mine["window_s"]
    assert abs(b["rtcp_per_min"] - a["rtcp_per_min"]) <= 0.5 * a["rtcp_per_min"] + one_rtcp, (a, b)
    # down: both calls see the emulator's own consent checks (aioice, 4-6 s), which this test does not
    # shape: one request more or less in the window is counting noise. up: rtcload's, held to 50 %.
    one_stun = 1.0 / mine["window_s"] if direction == "down" else 0.0
    assert abs(b["stun_requests_per_s"] - a["stun_requests_per_s"]) <= 0.5 * a["stun_requests_per_s"] + one_stun, (a, b)
