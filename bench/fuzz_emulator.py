"""Long fuzz run against one emulator process over real loopback sockets (issue 16).

Starts `rtcload -v emulator` (users file, aiortc media, HTTP front, control token) as a child process,
logs a legitimate user in and completes an echo call (warm-up), reads the emulator's RSS, then sends
N fuzzed frames (default 100,000) over a few concurrent sockets: Verto-shaped requests with hostile
parts (wrong types, garbage SDP and candidates, unknown methods with huge names, free-text causes,
notifications, wrong passwords and control tokens, deep nesting, truncation, random bytes), plus
hostile POST /call_report bodies. Then it waits for sessions and legs to expire, reads RSS again, and
checks that a legitimate client still logs in and completes an echo call with audio.

Prints: frames sent, replies, sockets the server closed and with which codes, process crashes,
internal errors (the emulator's own counter), tracebacks in its log, RSS before/after, the legit
call's result. Exit status 0 only if the bar holds (no crash, no traceback, no internal error,
RSS growth < 5 MB, legit call OK).

    python3 bench/fuzz_emulator.py [--frames 100000] [--sockets 8] [--seed 16]

Loopback only; bounded in frames and time.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import os
import random
import re
import subprocess
import sys
import tempfile
import time
import urllib.request
from typing import Any

from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake

from rtcload.protocol.sdp import static_sdp

PASSWORD = "fuzz-alice-password-0001"
CONTROL_TOKEN = "fuzz-control-token-0123456789abcdef"
METHODS = [
    "login",
    "anonymous_login",
    "telnyx_rtc.invite",
    "telnyx_rtc.answer",
    "telnyx_rtc.bye",
    "telnyx_rtc.modify",
    "telnyx_rtc.info",
    "telnyx_rtc.candidate",
    "telnyx_rtc.endOfCandidates",
    "telnyx_rtc.attach",
    "telnyx_rtc.ping",
    "telnyx_rtc.gatewayState",
    "telnyx_rtc.subscribe",
    "telnyx_rtc.ringing",
    "rtcload.control",
]
CALL = [sys.executable, "-m", "rtcload", "call"]
EMULATOR = [sys.executable, "-m", "rtcload", "-v", "emulator", "--port", "0"]
SYNC_EVERY = 50
# The per-socket auth back-off (up to 4 s per failed login) would make this run hours long: answer every
# failure at once, close a socket after 50 (so the close path runs ~hundreds of times). The throttle
# itself is tested in tests/test_hardening_emulator.py.
# Accepted call reports are kept by design (32 MiB by default): a 256 KiB budget keeps what is retained
# on purpose small next to the leak this run looks for, and exercises the store's eviction.
LIMITS = ["--limit-auth-failures-before-backoff", "1000", "--limit-auth-failures-before-close", "50"]
LIMITS += ["--limit-call-report-bytes", "262144"]
CANDIDATE = "candidate:1 1 udp 2130706431 127.0.0.1 5000 typ host"


class Fuzzer:
    """Seeded generator of hostile frames: templates of real requests, then mutations."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.call_ids = [f"call-{n}" for n in range(64)]

    def value(self, depth: int = 0) -> Any:
        r = self.rng.random()
        if depth > 3 or r < 0.5:
            return self.rng.choice(
                [None, True, 0, -1, 2**70, 1.5e308, "", "x" * self.rng.randint(0, 3000), "\u0000\ud7ff", [], {}]
            )
        if r < 0.75:
            return [self.value(depth + 1) for _ in range(self.rng.randint(0, 4))]
        return {self.text(8): self.value(depth + 1) for _ in range(self.rng.randint(0, 4))}

    def text(self, limit: int) -> str:
        return "".join(chr(self.rng.randint(32, 0x2FF)) for _ in range(self.rng.randint(0, limit)))

    def sdp(self) -> Any:
        r = self.rng.random()
        if r < 0.15:
            return static_sdp()
        if r < 0.3:
            lines = static_sdp().split("\r\n")
            self.rng.shuffle(lines)
            return "\r\n".join(lines)
        if r < 0.45:
            return "v=0\r\n" + self.text(200)
        if r < 0.6:
            return static_sdp().replace("m=audio 9", f"m=audio {self.rng.choice(['-1', '99999', 'x', ''])}")
        return self.value()

    def candidate(self) -> Any:
        r = self.rng.random()
        if r < 0.2:
            return CANDIDATE
        if r < 0.5:
            parts = CANDIDATE.split(" ")
            parts[self.rng.randrange(len(parts))] = self.text(12)
            return " ".join(parts)
        return self.value()

    def params(self, method: str) -> dict[str, Any]:
        rng = self.rng
        call_id = rng.choice(self.call_ids) if rng.random() < 0.9 else self.value()
        dialog: Any = {"callID": call_id, "destination_number": rng.choice(["busy", "noanswer", "x", "alice", "echo"])}
        if rng.random() < 0.05:
            dialog = self.value()
        params: dict[str, Any] = {"dialogParams": dialog, "sessid": self.text(10)}
        if method == "login":
            choice = rng.random()
            if choice < 0.3:
                params.update(login="alice", passwd=PASSWORD)
            elif choice < 0.6:
                params.update(login=rng.choice(["alice", "mallory", self.text(300)]), passwd=self.text(20))
            elif choice < 0.8:
                params.update(login_token=rng.choice(["a.b.c", "eyJ" + self.text(60), self.value()]))
            else:
                params.update(login=self.value(), passwd=self.value())
        elif method == "anonymous_login":
            params.update(target_type="ai_assistant", target_id=self.value())
        elif method in ("telnyx_rtc.invite", "telnyx_rtc.answer", "telnyx_rtc.attach"):
            params["sdp"] = self.sdp()
            if method == "telnyx_rtc.invite" and isinstance(dialog, dict):
                # mostly routes that need no media endpoint: the point is signaling, not aiortc's CPU
                dialog["destination_number"] = rng.choice(["busy", "noanswer", "x", "x", "alice", "echo"])
        elif method == "telnyx_rtc.modify":
            params.update(action=rng.choice(["hold", "unhold", "toggleHold", "updateMedia", self.value()]))
            params["sdp"] = self.sdp()
        elif method == "telnyx_rtc.info":
            params.update(rng.choice([{"dtmf": rng.choice(["1", "12#", self.text(30)])}, {"msg": self.value()}]))
        elif method == "telnyx_rtc.candidate":
            params.update(candidate=self.candidate(), sdpMid=self.value(), sdpMLineIndex=self.value())
        elif method == "telnyx_rtc.bye":
            params.update(cause=rng.choice(["NORMAL_CLEARING", "USER_BUSY", self.text(40)]), causeCode=self.value())
        elif method == "rtcload.control":
            params.update(token=rng.choice([self.text(36), CONTROL_TOKEN[:-1] + "x"]), action="snapshot")
        extra = rng.randint(0, 2)
        for _ in range(extra):
            params[self.text(10)] = self.value()
        return params

    def frame(self) -> str | bytes:
        rng = self.rng
        r = rng.random()
        if r < 0.03:
            depth = rng.choice([40, 1000, 50_000])
            return "[" * depth + "]" * depth
        if r < 0.05:
            return bytes(rng.randrange(256) for _ in range(rng.randint(1, 200)))
        if r < 0.08:
            return self.text(300)
        method = rng.choice(METHODS) if rng.random() < 0.9 else self.text(rng.choice([10, 2000]))
        frame: dict[str, Any] = {"jsonrpc": "2.0" if rng.random() < 0.95 else self.value(), "method": method}
        frame["params"] = self.params(method) if rng.random() < 0.95 else self.value()
        if rng.random() < 0.9:
            frame["id"] = rng.choice([rng.randint(0, 10**6), self.text(10), 1.5, True, None, []])
        text = json.dumps(frame)
        r = rng.random()
        if r < 0.05:
            return text[: rng.randint(0, len(text))]  # truncated
        if r < 0.08:
            i = rng.randrange(len(text))
            return text[:i] + chr(rng.randint(0, 0x7F)) + text[i + 1 :]  # one character flipped
        return text


def rss_kb(pid: int) -> int:
    with open(f"/proc/{pid}/status") as handle:
        for line in handle:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def metric(port: int, name: str) -> float:
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10).read().decode()
    total = 0.0
    for line in text.splitlines():
        if line.startswith(name):
            total += float(line.rsplit(" ", 1)[1])
    return total


def legit_call(url: str) -> dict[str, Any]:
    """`rtcload call` as a user runs it: login as alice, echo call with audio, JSON result."""
    done = subprocess.run(
        [*CALL, "--target", url, "--login", "alice", "--to", "echo", "--duration", "3", "--json", "--timeout", "20"],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "RTCLOAD_PASSWORD": PASSWORD},
    )
    try:
        out = json.loads(done.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        out = {"ok": False, "error": (done.stdout + done.stderr)[-300:]}
    out["exit"] = done.returncode
    return out


async def fuzz_socket(url: str, fuzzer: Fuzzer, frames: int, stats: collections.Counter[str]) -> None:
    """Have the server process `frames` fuzzed frames, reconnecting whenever it closes the socket.

    Every SYNC_EVERY frames a ping with a fresh id follows; its reply proves the server has handled
    every frame before it (one socket's frames are handled in order). Frames sent after the last
    acknowledged ping on a socket the server then closed are not counted.
    """
    processed = 0
    while processed < frames:
        try:
            async with connect(url, max_size=None, ping_interval=None, open_timeout=10) as ws:
                stats["sockets_opened"] += 1
                acked: asyncio.Queue[str] = asyncio.Queue()

                async def drain(acked: asyncio.Queue[str] = acked) -> None:
                    try:
                        async for reply in ws:
                            stats["replies"] += 1
                            if '"id":"sync-' in reply:
                                await acked.put(reply)
                    finally:
                        await acked.put("")  # the socket closed: no more acknowledgements

                reader = asyncio.create_task(drain())
                try:
                    while processed < frames:
                        batch = min(SYNC_EVERY, frames - processed)
                        for _ in range(batch):
                            await ws.send(fuzzer.frame())
                            stats["frames_sent"] += 1
                        await ws.send(f'{{"jsonrpc":"2.0","id":"sync-{processed}","method":"telnyx_rtc.ping"}}')
                        if not await asyncio.wait_for(acked.get(), 60):
                            code = ws.close_code
                            stats[f"closed_by_server_{code}"] += 1
                            break
                        processed += batch
                        stats["frames"] += batch
                finally:
                    reader.cancel()
        except ConnectionClosed as exc:
            code = exc.rcvd.code if exc.rcvd else None
            stats[f"closed_by_server_{code}"] += 1
        except (InvalidHandshake, OSError, TimeoutError) as exc:
            stats[f"connect_failed_{type(exc).__name__}"] += 1
            await asyncio.sleep(0.1)


async def hostile_reports(port: int, count: int, stats: collections.Counter[str]) -> None:
    bodies = [
        '{"summary":' + "[" * 50_000 + "]" * 50_000 + "}",
        "not json",
        json.dumps({"summary": {"callId": "c"}, "stats": [{"pad": "x" * 100_000}]}),
    ]
    for n in range(count):
        body = bodies[n % len(bodies)].encode()
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        head = f"POST /call_report HTTP/1.1\r\nHost: x\r\nContent-Length: {len(body)}\r\nx-call-report-id: fuzz\r\n"
        writer.write((head + "x-call-id: c\r\n\r\n").encode() + body)
        await writer.drain()
        status = (await asyncio.wait_for(reader.readline(), 10)).split()
        stats[f"report_http_{status[1].decode() if len(status) > 1 else 'none'}"] += 1
        writer.close()


async def fuzz(url: str, port: int, frames: int, sockets: int, seed: int) -> collections.Counter[str]:
    stats: collections.Counter[str] = collections.Counter()
    per_socket = frames // sockets
    await asyncio.gather(
        *(fuzz_socket(url, Fuzzer(seed + n), per_socket, stats) for n in range(sockets)),
        hostile_reports(port, 60, stats),
    )
    return stats


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--frames", type=int, default=100_000)
    parser.add_argument("--sockets", type=int, default=8)
    parser.add_argument("--seed", type=int, default=16)
    parser.add_argument("--settle", type=float, default=35.0, help="seconds to let sessions and ended legs expire")
    args = parser.parse_args()

    workdir = tempfile.mkdtemp(prefix="rtcload-fuzz-")
    users = os.path.join(workdir, "users.csv")
    with open(users, "w") as handle:
        handle.write(f"alice,{PASSWORD},+15550001001\nbob,bob-password-0002,+15550001002\n")
    log_path = os.path.join(workdir, "emulator.log")
    env = {**os.environ, "RTCLOAD_CONTROL_TOKEN": CONTROL_TOKEN}
    with open(log_path, "w") as log_file:
        proc = subprocess.Popen(
            [
                *EMULATOR,
                "--users",
                users,
                "--call-report-id",
                "fuzz",
                "--grace",
                "2",
                "--noanswer-timeout",
                "2",
                *LIMITS,
            ],
            stdout=subprocess.PIPE,
            stderr=log_file,
            text=True,
            env=env,
        )
        try:
            assert proc.stdout is not None
            banner = proc.stdout.readline()
            match = re.search(r"(ws://\S+)", banner)
            if not match:
                print(f"emulator did not start: {banner!r}")
                return 2
            url = match.group(1)
            port = int(url.rsplit(":", 1)[1].strip("/"))
            warm = legit_call(url)
            before = rss_kb(proc.pid)
            started = time.monotonic()
            # a tenth first, then the rest: RSS in between shows whether growth is one-time or keeps going
            first = args.frames // 10
            stats = asyncio.run(fuzz(url, port, first, args.sockets, args.seed))
            middle = rss_kb(proc.pid)
            stats += asyncio.run(fuzz(url, port, args.frames - first, args.sockets, args.seed + 1000))
            elapsed = time.monotonic() - started
            alive_after_fuzz = proc.poll() is None
            time.sleep(args.settle)
            after = rss_kb(proc.pid)
            internal = metric(port, "rtcload_emulator_internal_errors_total")
            refused = metric(port, "rtcload_emulator_refused_total")
            legit = legit_call(url)
            alive = proc.poll() is None and alive_after_fuzz
        finally:
            proc.terminate()
            proc.wait(20)
    with open(log_path) as handle:
        log_text = handle.read()
    tracebacks = log_text.count("Traceback")
    secrets_in_log = sum(log_text.count(s) for s in (PASSWORD, CONTROL_TOKEN))
    growth_mb = (after - before) / 1024
    ok = (
        alive
        and tracebacks == 0
        and internal == 0
        and growth_mb < 5
        and legit.get("ok") is True
        and (legit.get("packets_received") or 0) > 0
        and secrets_in_log == 0
    )
    print(f"frames processed       {stats['frames']} (acknowledged) of {stats['frames_sent']} sent")
    print(f"  over {stats['sockets_opened']} sockets in {elapsed:.1f} s ({stats['frames'] / elapsed:.0f} frames/s)")
    print(f"replies received       {stats['replies']}")
    print("server closes          " + ", ".join(f"{k}={v}" for k, v in sorted(stats.items()) if k.startswith("closed")))
    print("call_report POSTs      " + ", ".join(f"{k}={v}" for k, v in sorted(stats.items()) if k.startswith("report")))
    print(f"emulator crashed       {'no' if alive else 'YES'}")
    print(f"internal errors        {internal:.0f}")
    print(f"refused by limits      {refused:.0f}")
    print(f"tracebacks in log      {tracebacks}")
    print(f"secrets in log (-v)    {secrets_in_log}")
    print(f"RSS before / after     {before / 1024:.1f} MB / {after / 1024:.1f} MB (growth {growth_mb:+.1f} MB)")
    print(f"  after the first 10%  {middle / 1024:.1f} MB; growth over the last 90%: {(after - middle) / 1024:+.1f} MB")
    print(f"legit call before      ok={warm.get('ok')} packets_received={warm.get('packets_received')}")
    print(
        f"legit call after       ok={legit.get('ok')} exit={legit.get('exit')} packets_received="
        f"{legit.get('packets_received')} MOS={legit.get('mos')} {legit.get('error', '')}"
    )
    print(f"verdict                {'PASS' if ok else 'FAIL'}")
    summary = {"frames": stats["frames"], "internal_errors": internal, "tracebacks": tracebacks}
    summary.update(rss_before_kb=before, rss_middle_kb=middle, rss_after_kb=after, legit_ok=legit.get("ok"), passed=ok)
    print(json.dumps(summary))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
