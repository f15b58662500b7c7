"""Acceptance: the official @telnyx/webrtc SDK (2.27.10) in headless Chromium against the emulator.

Why: the emulator is only useful if the real SDK treats it like the platform. Each test runs
tests/sdk/run_in_netns.py under `unshare --net` (only `lo`, brought up by the driver), which starts
the emulator in-process, drives the SDK through tests/sdk/harness.mjs (playwright-core + Debian's
chromium) and, for inbound calls, rings the browser from rtcload's Python client. Nothing can leave
loopback. Needs root, chromium, node and `cd tests/sdk && npm install`; skipped otherwise, failed
instead when RTCLOAD_REQUIRE_BROWSER=1.
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

from rtcload.media.analysis import DEFAULT_ENERGY_FLOOR_DBFS
from tests.prerequisites import skip_or_fail

pytestmark = pytest.mark.browser

REPO = Path(__file__).resolve().parents[1]
SDK_DIR = REPO / "tests" / "sdk"
RUNNER = SDK_DIR / "run_in_netns.py"
BUNDLE = SDK_DIR / "node_modules" / "@telnyx" / "webrtc" / "lib" / "bundle.js"
PLAYWRIGHT = SDK_DIR / "node_modules" / "playwright-core" / "package.json"
SDK_VERSION = "2.27.10"  # pinned in tests/sdk/package.json; read back from the login's User-Agent
HARMLESS_WARNINGS = {33005}  # "Only local network candidates available": every loopback call raises it


def _chromium() -> str | None:
    return os.environ.get("CHROMIUM") or shutil.which("chromium")


def _missing() -> str | None:
    chromium = _chromium()
    if not chromium or not os.access(chromium, os.X_OK):
        return "chromium not found (set CHROMIUM or install Debian's chromium)"
    if shutil.which("node") is None:
        return "node not found"
    if not BUNDLE.is_file() or not PLAYWRIGHT.is_file():
        return "tests/sdk/node_modules missing: run `cd tests/sdk && npm install`"
    if shutil.which("unshare") is None or shutil.which("ip") is None:
        return "unshare/ip (util-linux, iproute2) not found"
    if os.geteuid() != 0:
        return "unshare --net needs root"
    return None


@pytest.fixture(scope="module", autouse=True)
def browser_prerequisites() -> None:
    skip_or_fail(_missing(), "RTCLOAD_REQUIRE_BROWSER")


def run_scenario(scenario: str, *args: str, timeout_s: float = 90) -> dict[str, Any]:
    """Run one scenario in a fresh network namespace and return the driver's verdict."""
    env = dict(os.environ, CHROMIUM=_chromium() or "/usr/bin/chromium")
    cmd = ["unshare", "--net", "--", sys.executable, str(RUNNER), scenario, *args]
    proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout_s)
    lines = [line for line in proc.stdout.splitlines() if line.startswith('{"verdict"')]
    assert lines, f"no verdict (rc={proc.returncode})\nstdout:\n{proc.stdout[-3000:]}\nstderr:\n{proc.stderr[-3000:]}"
    verdict: dict[str, Any] = json.loads(lines[-1])["verdict"]
    harness = verdict.get("harness") or {}
    assert harness.get("ok") and not verdict.get("problems"), _explain(verdict, proc.stderr)
    return verdict


def _explain(verdict: dict[str, Any], stderr: str) -> str:
    events = verdict.get("events", [])
    return (
        f"problems={verdict.get('problems')} harness={json.dumps(verdict.get('harness'))[:2000]}\n"
        f"last events={json.dumps(events[-15:])[:3000]}\nharness stderr={verdict.get('harness_stderr', '')[-1000:]}\n"
        f"driver stderr={stderr[-2000:]}"
    )


def result_of(verdict: dict[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = verdict["harness"]["result"]
    return result


def assert_loopback_only(verdict: dict[str, Any]) -> None:
    if os.environ.get("NO_NETNS") != "1":
        assert verdict["interfaces"] == ["lo"], verdict["interfaces"]
    stats = result_of(verdict)["stats"]
    addresses = {c["address"] for c in stats.get("candidates", [])}
    assert addresses == {"127.0.0.1"}, addresses


def assert_ready(verdict: dict[str, Any], logins: int = 1) -> None:
    """login -> clientReady -> gatewayState REGED -> telnyx.ready, as seen in the page and the emulator."""
    result = result_of(verdict)
    wire = result["wire"]
    assert wire["sdkVersion"] == SDK_VERSION, wire.get("sdkVersion")
    assert wire["outMethods"][:2] == ["login", "telnyx_rtc.gatewayState"], wire["outMethods"]
    assert wire["inMethods"][0] == "telnyx_rtc.clientReady", wire["inMethods"]
    assert wire["gatewayStates"] == ["REGED"], wire["gatewayStates"]
    assert "ready" in result["timings"]
    names = [e.get("event") for e in verdict["events"]]
    assert names.index("gatewayState") < names.index("ready"), names
    counters = verdict["emulator"]["snapshot"]["counters"]
    assert counters["logins_ok"] == logins and counters["gateway_REGED"] == logins, counters
    assert result["errors"] == [], result["errors"]
    assert {w["code"] for w in result["warnings"]} <= HARMLESS_WARNINGS, result["warnings"]


def assert_browser_heard_audio(verdict: dict[str, Any]) -> None:
    inbound = result_of(verdict)["stats"]["inbound"]
    assert inbound["packetsReceived"] > 0 and inbound["bytesReceived"] > 0, inbound
    assert inbound["totalAudioEnergy"] > 0, inbound


def assert_emulator_heard_audio(verdict: dict[str, Any]) -> None:
    report = verdict["emulator_media_report"]
    assert report is not None, "the emulator kept no media report for the browser's call"
    assert report["connected"] and report["frames_received"] > 0, report
    assert report["rms_dbfs"] > DEFAULT_ENERGY_FLOOR_DBFS, report
    assert not report["one_way"], report


def assert_cleared_by_sdk(verdict: dict[str, Any]) -> None:
    result = result_of(verdict)
    leg = verdict["emulator"]["legs"]["browser"]
    assert result["ended_by"] == "local" and "telnyx_rtc.bye" in result["wire"]["outMethods"]
    assert (result["cause"], result["causeCode"]) == ("NORMAL_CLEARING", 16), result
    assert leg["state"] == "ended" and (leg["cause"], leg["cause_code"]) == ("NORMAL_CLEARING", 16), leg
    assert result["states"][-2:] == ["hangup", "destroy"], result["states"]


def test_outbound_echo_call_flows_audio_both_ways_and_clears_normally() -> None:
    verdict = run_scenario("outbound", "--dest", "echo", "--stay", "3")
    result = result_of(verdict)
    assert_ready(verdict)
    assert result["states"][:4] == ["new", "requesting", "trying", "active"], result["states"]
    assert verdict["emulator"]["legs"]["browser"]["answered"]
    assert_browser_heard_audio(verdict)
    assert_emulator_heard_audio(verdict)
    assert_cleared_by_sdk(verdict)
    assert_loopback_only(verdict)


def test_hold_unhold_and_dtmf_digits_reach_the_emulator() -> None:
    digits = "1*9#"
    verdict = run_scenario("outbound", "--dest", "echo", "--hold", "--hold-for", "1.5", "--dtmf", digits, "--stay", "2")
    result = result_of(verdict)
    assert result["held"] and result["unheld"]
    # held: the SDK keeps sending (hold is signaling only), the platform sends it nothing (docs/scenarios.md)
    assert result["audio_before_hold"]
    start, end = result["hold_stats"]["start"], result["hold_stats"]["end"]
    assert end["outbound"]["packetsSent"] - start["outbound"]["packetsSent"] >= 40, result["hold_stats"]
    assert end["inbound"]["packetsReceived"] - start["inbound"]["packetsReceived"] <= 2, result["hold_stats"]
    assert result["stats"]["inbound"]["packetsReceived"] > end["inbound"]["packetsReceived"] + 25  # unhold resumed it
    assert "held" in result["states"]
    counters = verdict["emulator"]["snapshot"]["counters"]
    assert counters.get("modify_hold") == 1 and counters.get("modify_unhold") == 1, counters
    assert result["dtmf_sent"] == digits
    assert verdict["emulator"]["legs"]["browser"]["dtmf"] == digits
    assert counters.get("dtmf_digits") == len(digits), counters
    assert_browser_heard_audio(verdict)
    assert_cleared_by_sdk(verdict)


def test_jwt_login_reaches_ready_and_completes_a_call() -> None:
    verdict = run_scenario("jwt", "--login", "jwt-user", "--stay", "2")
    assert_ready(verdict)
    leg = verdict["emulator"]["legs"]["browser"]
    assert leg["login"] == "jwt-user", leg  # the identity came from the token, not from a password
    assert_browser_heard_audio(verdict)
    assert_emulator_heard_audio(verdict)
    assert_cleared_by_sdk(verdict)


def test_inbound_call_from_python_client_is_answered_by_sdk_with_audio() -> None:
    verdict = run_scenario("inbound", "--login", "sdk-callee", "--stay", "3")
    result = result_of(verdict)
    caller = verdict["caller"]
    assert_ready(verdict, logins=2)  # the browser and the Python caller
    assert result["direction"] == "inbound"
    assert result["states"][:4] == ["new", "ringing", "answering", "active"], result["states"]
    assert result["remote_caller"]["number"], result["remote_caller"]
    assert "telnyx_rtc.invite" in result["wire"]["acks"], result["wire"]
    assert "telnyx_rtc.answer" in result["wire"]["outMethods"]
    assert_browser_heard_audio(verdict)  # the caller's 440 Hz tone
    assert caller["audio_seen"], caller  # the browser's fake-device beep
    assert caller["analyzer"]["frames"] > 0 and caller["analyzer"]["rms_dbfs"] > DEFAULT_ENERGY_FLOOR_DBFS, caller
    # the caller hung up: the SDK got a remote bye with NORMAL_CLEARING and sent no bye itself
    assert caller["cause"] == "NORMAL_CLEARING", caller
    assert result["ended_by"] == "remote" and "telnyx_rtc.bye" not in result["wire"]["outMethods"]
    assert (result["cause"], result["causeCode"]) == ("NORMAL_CLEARING", 16), result
    legs = verdict["emulator"]["legs"]
    assert legs["browser"]["cause"] == legs["caller"]["cause"] == "NORMAL_CLEARING", legs
    assert_loopback_only(verdict)


def test_remote_bye_ends_the_sdk_call_with_normal_clearing() -> None:
    verdict = run_scenario("remote-bye", "--stay", "15")
    result = result_of(verdict)
    assert_ready(verdict)
    assert "active" in result["states"] and result["states"][-2:] == ["hangup", "destroy"], result["states"]
    assert result["ended_by"] == "remote"
    assert "telnyx_rtc.bye" in result["wire"]["inMethods"] and "telnyx_rtc.bye" in result["wire"]["acks"]
    assert "telnyx_rtc.bye" not in result["wire"]["outMethods"], result["wire"]
    assert (result["cause"], result["causeCode"]) == ("NORMAL_CLEARING", 16), result
    held_s = (result["timings"]["call_hangup"] - result["timings"]["call_active"]) / 1000
    assert 1.5 <= held_s <= 10, held_s  # the route says hangup=2
    leg = verdict["emulator"]["legs"]["browser"]
    assert leg["ended_by"] != "client" and leg["cause"] == "NORMAL_CLEARING", leg
    assert_browser_heard_audio(verdict)


def test_sdk_uploads_its_call_report_to_the_emulator() -> None:
    """Given a call_report_id in REGED, the official SDK POSTs its report (CORS preflight included)."""
    verdict = run_scenario("outbound", "--dest", "echo", "--stay", "2", "--call-report-id", "crid-sdk-1")
    assert_ready(verdict)
    assert_cleared_by_sdk(verdict)
    counters = verdict["emulator"]["snapshot"]["counters"]
    assert counters.get("call_reports_accepted", 0) >= 1, counters
    assert counters.get("call_reports_rejected", 0) == 0, counters
