"""The official SDK in Chromium and rtcload, one call each against one emulator, captured side by side.

Run it as `unshare --net -- python tests/sdk/twin.py [--stay S] [--trickle]` (tests/test_twin.py does):
in a namespace with only `lo` it starts the emulator (engine media, echo), writes one speech WAV that
both clients send (Chromium captures it with --use-file-for-fake-audio-capture, rtcload plays it as
`wav:`), then for each client in turn starts tcpdump on lo, places one echo call of `--stay` seconds
(the SDK through tests/sdk/harness.mjs; rtcload through `python -m rtcload call`, its default media
path), and stops tcpdump. The emulator's frame hook records what each client sent (methods in order,
the parameter keys of login and invite, the offer SDP, trickled candidates). Prints ONE JSON line:
{"twin": {"chrome": {...}, "rtcload": {...}}} with per-direction RTP/RTCP/STUN rates from the captures.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shutil
import signal
import sys
import tempfile
import time
import wave
from pathlib import Path
from typing import Any

SDK_DIR = Path(__file__).resolve().parent
REPO = SDK_DIR.parents[1]
for entry in (str(REPO), str(SDK_DIR)):
    if entry not in sys.path:
        sys.path.insert(0, entry)

from run_in_netns import bring_up_loopback  # noqa: E402
from wire import candidate_ports, flows, media_window, rates, sdp_features  # noqa: E402

from rtcload.emulator import Emulator, EmulatorConfig  # noqa: E402
from rtcload.emulator.aiortc_answerer import AiortcAnswerer  # noqa: E402
from rtcload.media.sources import SAMPLE_RATE, speech_buffer  # noqa: E402


def write_speech_wav(path: Path) -> None:
    """The speech-like source (talk spurts and pauses) as a 48 kHz mono WAV, for both clients."""
    buffer = speech_buffer()
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(SAMPLE_RATE)
        wav.writeframes(buffer.pcm.tobytes())


class FrameLog:
    """The emulator's view of what clients send: wraps `Emulator._on_text` (a test hook, nothing else)."""

    def __init__(self, emu: Emulator) -> None:
        self.frames: list[dict[str, Any]] = []
        original = emu._on_text

        async def hook(conn: Any, text: str | bytes) -> None:
            with contextlib.suppress(ValueError, TypeError):
                frame = json.loads(text)
                if isinstance(frame, dict) and isinstance(frame.get("method"), str):
                    self.frames.append({"t": time.monotonic(), "method": frame["method"], "params": frame["params"]})
            await original(conn, text)

        emu._on_text = hook  # type: ignore[method-assign]

    def since(self, start: int) -> list[dict[str, Any]]:
        return self.frames[start:]


def signaling_view(frames: list[dict[str, Any]]) -> dict[str, Any]:
    """Methods in order, parameter keys of login and invite, the offer and trickled candidates."""
    out: dict[str, Any] = {"methods": [f["method"] for f in frames]}
    invite_at = None
    for frame in frames:
        params = frame["params"] if isinstance(frame["params"], dict) else {}
        if frame["method"] == "login" and "login_keys" not in out:
            out["login_keys"] = list(params)
        elif frame["method"] == "telnyx_rtc.invite" and "invite_keys" not in out:
            out["invite_keys"] = list(params)
            out["dialog_keys"] = sorted(params.get("dialogParams") or {})
            out["offer"] = params.get("sdp") or ""
            invite_at = frame["t"]
    trickled = [f for f in frames if f["method"] == "telnyx_rtc.candidate"]
    out["candidates"] = [f["params"].get("candidate", "") for f in trickled]
    out["candidate_keys"] = list(trickled[0]["params"]) if trickled else []
    ends = [f for f in frames if f["method"] == "telnyx_rtc.endOfCandidates"]
    out["end_of_candidates_keys"] = list(ends[0]["params"]) if ends else []
    if invite_at is not None and trickled:
        out["first_candidate_after_invite_s"] = round(trickled[0]["t"] - invite_at, 3)
    return out


class Capture:
    """tcpdump on lo (UDP only, headers only), started and stopped by us."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.proc: asyncio.subprocess.Process | None = None

    async def __aenter__(self) -> Capture:
        self.proc = await asyncio.create_subprocess_exec(
            "tcpdump", "-i", "lo", "-s", "96", "-U", "-w", str(self.path), "udp",
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        assert self.proc.stderr is not None
        # tcpdump says "listening on lo" once the capture runs: the event to wait for, not a sleep
        line = await asyncio.wait_for(self.proc.stderr.readline(), 20)
        if b"listening" not in line:
            raise RuntimeError(f"tcpdump did not start: {line!r}")
        return self

    async def __aexit__(self, *_exc: object) -> None:
        assert self.proc is not None
        await asyncio.sleep(0.3)  # packets already sent reach the -U buffered writer
        self.proc.send_signal(signal.SIGINT)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.proc.wait(), 10)
        if self.proc.returncode is None:
            self.proc.kill()
            await self.proc.wait()


async def run_process(cmd: list[str], timeout: float, cwd: Path | None = None) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        *cmd, cwd=str(cwd) if cwd else None, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    try:
        out, err = await asyncio.wait_for(proc.communicate(), timeout)
    except TimeoutError:
        proc.kill()
        out, err = await proc.communicate()
        return -9, out.decode(errors="replace"), err.decode(errors="replace")
    return proc.returncode or 0, out.decode(errors="replace"), err.decode(errors="replace")


def wire_view(pcap: Path, signaling: dict[str, Any]) -> dict[str, Any]:
    ports = candidate_ports(signaling.get("offer", ""), signaling.get("candidates", []))
    both = flows(pcap, ports)
    window = media_window(both)
    return {"client_ports": sorted(ports), "window_s": round(window[1] - window[0], 2)} | {
        direction: rates(flow, window).as_dict() for direction, flow in both.items()
    }


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    work = Path(tempfile.mkdtemp(prefix="rtcload-twin-"))
    wav = work / "speech.wav"
    write_speech_wav(wav)
    config = EmulatorConfig(host="127.0.0.1", port=0, seed=7)
    out: dict[str, Any] = {"work": str(work)}
    async with Emulator(config, AiortcAnswerer(loopback_only=True)) as emu:
        log = FrameLog(emu)
        # 1. the official SDK in Chromium
        start = len(log.frames)
        harness = ["node", str(SDK_DIR / "harness.mjs"), "outbound", "--url", emu.url, "--dest", "echo"]
        harness += ["--login", "twin-sdk", "--password", "x", "--stay", str(args.stay), "--fake-audio", str(wav)]
        if args.trickle:
            harness.append("--trickle")
        async with Capture(work / "chrome.pcap"):
            rc, stdout, stderr = await run_process(harness, args.stay + 60, cwd=SDK_DIR)
        chrome = signaling_view(log.since(start))
        chrome["rc"] = rc
        if rc != 0:
            chrome["stderr"] = stderr[-1500:]
            chrome["stdout"] = stdout[-1500:]
        chrome["wire"] = wire_view(work / "chrome.pcap", chrome)
        chrome["sdp"] = sdp_features(chrome.get("offer", ""))
        out["chrome"] = chrome
        # 2. rtcload, default media path
        start = len(log.frames)
        call = [sys.executable, "-m", "rtcload", "call", "--target", emu.url, "--login", "twin-rtcload"]
        call += ["--to", "echo", "--duration", str(args.stay), "--source", f"wav:{wav}", "--json"]
        if args.profile:
            call += ["--client-profile", args.profile]
        if args.trickle:
            call.append("--trickle")
        os.environ["RTCLOAD_PASSWORD"] = "x"  # the emulator is in open mode: any password logs in
        async with Capture(work / "rtcload.pcap"):
            rc, stdout, stderr = await run_process(call, args.stay + 60)
        mine = signaling_view(log.since(start))
        mine["rc"] = rc
        if rc != 0:
            mine["stderr"] = stderr[-1500:]
            mine["stdout"] = stdout[-1500:]
        mine["wire"] = wire_view(work / "rtcload.pcap", mine)
        mine["sdp"] = sdp_features(mine.get("offer", ""))
        out["rtcload"] = mine
    for side in ("chrome", "rtcload"):
        out[side].pop("offer", None)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--stay", type=float, default=20.0, help="seconds each call stays up")
    parser.add_argument("--trickle", action="store_true", help="both clients trickle ICE candidates")
    parser.add_argument("--profile", default="chrome", help="rtcload's --client-profile")
    parser.add_argument("--keep", action="store_true", help="keep the WAV and the two captures (prints where)")
    args = parser.parse_args()
    interfaces = bring_up_loopback()
    result: dict[str, Any] = {"interfaces": interfaces}
    try:
        result.update(asyncio.run(main_async(args)))
    except Exception as exc:  # report, don't hide: the pytest side prints the result on failure
        result["problem"] = f"driver crashed: {exc!r}"
    if not args.keep and "work" in result:
        shutil.rmtree(result.pop("work"), ignore_errors=True)
    print(json.dumps({"twin": result}, default=str), flush=True)
    return 0 if "problem" not in result else 1


if __name__ == "__main__":
    sys.exit(main())
