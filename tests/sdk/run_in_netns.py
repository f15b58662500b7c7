"""Run one official-SDK scenario against an in-process emulator, all on loopback, and print a verdict.

Why: the browser acceptance test needs the emulator, headless Chromium (tests/sdk/harness.mjs) and,
for inbound calls, rtcload's own Python client to share one network namespace in which only `lo`
exists. Run it as `unshare --net -- python tests/sdk/run_in_netns.py <scenario> [options]`; it brings
lo up, starts the emulator, spawns the node harness, gathers the harness's JSON lines plus the
emulator's view of the call, and prints ONE final JSON line: {"verdict": {...}}.
Exit code 0 when the harness and the driver finished without error (the pytest test judges the rest).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

SDK_DIR = Path(__file__).resolve().parent
REPO = SDK_DIR.parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from rtcload.emulator import Emulator, EmulatorConfig  # noqa: E402
from rtcload.emulator.aiortc_answerer import AiortcAnswerer  # noqa: E402
from rtcload.media.loopback import use_loopback_only  # noqa: E402
from rtcload.media.peer import CallMedia  # noqa: E402
from rtcload.signaling import ClientConfig, PasswordCredentials, SignalingClient  # noqa: E402

SCENARIOS = ("outbound", "jwt", "inbound", "remote-bye")
CALLER = "py-caller"


def bring_up_loopback() -> list[str]:
    """`ip link set lo up` and return the interface names this namespace has (expected: ["lo"])."""
    if os.environ.get("NO_NETNS") != "1":
        subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    out = subprocess.run(["ip", "-o", "link", "show"], check=True, capture_output=True, text=True).stdout
    return [line.split(":")[1].strip().split("@")[0] for line in out.splitlines() if ":" in line]


def analyzer_view(analyzer: Any) -> dict[str, Any]:
    return {
        "frames": analyzer.frames,
        "rms_dbfs": round(analyzer.rms_dbfs(), 1),
        "silence_ratio": round(analyzer.silence_ratio(), 3),
        "dominant_hz": analyzer.dominant_frequency(),
        "energy_floor_dbfs": analyzer.energy_floor_dbfs,
    }


def leg_view(emu: Emulator, call_id: str | None) -> dict[str, Any] | None:
    leg = emu.legs.get(call_id) if call_id else None
    if leg is None:
        return None
    return {
        "state": str(leg.state),
        "direction": leg.direction,
        "answered": leg.answered,
        "cause": leg.cause,
        "cause_code": leg.cause_code,
        "ended_by": leg.ended_by,
        "dtmf": "".join(leg.dtmf),
        "media": leg.media,
        "login": leg.session.identity.username,
        "peer_call_id": leg.peer.call_id if leg.peer else None,
    }


class Driver:
    """Owns the emulator, the harness subprocess and (inbound) the Python caller for one scenario."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.events: list[dict[str, Any]] = []
        self.result: dict[str, Any] | None = None
        self.caller: dict[str, Any] = {}
        self.problems: list[str] = []
        self.seen: dict[str, asyncio.Event] = {}

    def event(self, name: str) -> asyncio.Event:
        return self.seen.setdefault(name, asyncio.Event())

    def harness_cmd(self, emu: Emulator) -> list[str]:
        a = self.args
        cmd = ["node", str(SDK_DIR / "harness.mjs"), a.scenario, "--url", emu.url, "--stay", str(a.stay)]
        cmd += ["--timeout", str(a.timeout)]
        if a.scenario == "jwt":
            cmd += ["--token", emu.mint_token(a.login, ttl_s=600)]
        else:
            cmd += ["--login", a.login, "--password", "any-password"]
        if a.scenario in ("outbound", "jwt"):
            cmd += ["--dest", a.dest]
        if a.scenario == "remote-bye":
            cmd += ["--dest", "echo;hangup=2"]
        if a.dtmf:
            cmd += ["--dtmf", a.dtmf]
        if a.hold:
            cmd += ["--hold"]
        if a.hold_for:
            cmd += ["--hold-for", str(a.hold_for)]
        if a.scenario == "inbound":
            cmd += ["--hangup", "remote"]
        if a.call_report_id:
            cmd += ["--call-reports"]
        return cmd

    async def read_harness(self, proc: asyncio.subprocess.Process) -> None:
        assert proc.stdout is not None
        async for raw in proc.stdout:
            line = raw.decode(errors="replace").strip()
            if not line:
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError:
                self.events.append({"event": "raw", "text": line[:300]})
                continue
            if "result" in obj and "ok" in obj:
                self.result = obj
                continue
            self.events.append(obj)
            name = obj.get("event", "")
            self.event(name).set()

    async def inbound_caller(self, emu: Emulator) -> None:
        """Ring the browser from rtcload's Python client, check audio both ways, hang up after its stats."""
        await self.event("waiting_incoming").wait()
        config = ClientConfig(url=emu.url, credentials=PasswordCredentials(CALLER, "x"))
        client = SignalingClient(config, lambda: CallMedia("tone:440"))
        try:
            await client.connect(timeout=20)
            started = time.monotonic()
            call = await client.call(self.args.login, answer_timeout_s=30)
            self.caller["answered_after_s"] = round(time.monotonic() - started, 3)
            self.caller["call_id"] = call.id
            media = call.media
            assert isinstance(media, CallMedia)
            got_audio = await media.analyzer.wait_until(
                lambda a: a.frames >= 50 and a.rms_dbfs() > a.energy_floor_dbfs, timeout=20
            )
            self.caller["audio_seen"] = got_audio
            await self.event("waiting_remote_hangup").wait()
            self.caller["analyzer"] = analyzer_view(media.analyzer)
            await call.hangup()
            self.caller["cause"] = call.cause
            self.caller["cause_code"] = call.cause_code
            self.caller["ended_by"] = str(call.ended_by)
        finally:
            await client.close()

    async def run(self) -> dict[str, Any]:
        use_loopback_only()
        report_id = self.args.call_report_id or None
        config = EmulatorConfig(host="127.0.0.1", port=0, seed=7, call_report_id=report_id, http_front=bool(report_id))
        async with Emulator(config, AiortcAnswerer(loopback_only=True)) as emu:
            proc = await asyncio.create_subprocess_exec(
                *self.harness_cmd(emu),
                cwd=str(SDK_DIR),
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
            )
            reader = asyncio.create_task(self.read_harness(proc))
            caller = asyncio.create_task(self.inbound_caller(emu)) if self.args.scenario == "inbound" else None
            stderr = b""
            try:
                waits: list[asyncio.Future[Any]] = [reader]
                if caller is not None:
                    waits.append(caller)
                # the caller must not outlive the harness: if the browser never waits, stop waiting for it
                done, _ = await asyncio.wait(waits, timeout=self.args.timeout + self.args.stay + 45)
                if reader not in done:
                    self.problems.append("harness did not finish in time")
                if caller is not None and caller.done() and caller.exception() is not None:
                    self.problems.append(f"python caller failed: {caller.exception()!r}")
                elif caller is not None and not caller.done():
                    await asyncio.wait([caller], timeout=15)
                    if not caller.done():
                        self.problems.append("python caller did not finish")
                    elif caller.exception() is not None:
                        self.problems.append(f"python caller failed: {caller.exception()!r}")
            finally:
                for task in (reader, caller):
                    if task is not None and not task.done():
                        task.cancel()
                        with contextlib.suppress(BaseException):
                            await task
                if proc.returncode is None:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(proc.wait(), 10)
                if proc.returncode is None:
                    proc.kill()
                    await proc.wait()
                if proc.stderr is not None:
                    stderr = await proc.stderr.read()
            browser_call = (self.result or {}).get("result", {}).get("call_id")
            legs = {"browser": leg_view(emu, browser_call)}
            if self.caller.get("call_id"):
                legs["caller"] = leg_view(emu, self.caller["call_id"])
            # the emulator releases media when the leg ends; wait for its final report
            if browser_call and browser_call in getattr(emu.answerer, "endpoints", {}):
                await emu.wait_for(lambda: browser_call in emu.answerer.reports, timeout=10)
            reports = getattr(emu.answerer, "reports", {})
            media_report = reports.get(browser_call) if browser_call else None
            return {
                "scenario": self.args.scenario,
                "harness_rc": proc.returncode,
                "harness": self.result,
                "events": self.events,
                "harness_stderr": stderr.decode(errors="replace")[-2000:],
                "emulator": {"snapshot": emu.snapshot(), "legs": legs},
                "emulator_media_report": _media_summary(media_report),
                "caller": self.caller,
                "problems": self.problems,
            }


def _media_summary(report: dict[str, Any] | None) -> dict[str, Any] | None:
    if report is None:
        return None
    keys = ("frames_received", "rms_dbfs", "silence_ratio", "one_way", "dominant_hz", "connected", "codec")
    return {k: report.get(k) for k in keys}


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("scenario", choices=SCENARIOS)
    p.add_argument("--login", default="sdk-user")
    p.add_argument("--dest", default="echo")
    p.add_argument("--dtmf", default="")
    p.add_argument("--hold", action="store_true")
    p.add_argument("--hold-for", type=float, default=0.0, help="seconds held, with getStats at both ends")
    p.add_argument("--stay", type=float, default=3.0)
    p.add_argument("--timeout", type=float, default=25.0)
    p.add_argument("--call-report-id", default="", help="emulator hands this out; the SDK uploads call reports")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    interfaces = bring_up_loopback()
    verdict: dict[str, Any] = {"interfaces": interfaces}
    try:
        verdict.update(asyncio.run(Driver(args).run()))
    except Exception as exc:  # report, don't hide: the pytest side prints the verdict on failure
        verdict["problems"] = [f"driver crashed: {exc!r}"]
    print(json.dumps({"verdict": verdict}, default=str), flush=True)
    harness_ok = bool((verdict.get("harness") or {}).get("ok"))
    return 0 if harness_ok and not verdict.get("problems") else 1


if __name__ == "__main__":
    sys.exit(main())
