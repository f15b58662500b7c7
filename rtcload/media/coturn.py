"""A real coturn (`turnserver`) on loopback, started and stopped by tests and demos.

Relaying on 127.0.0.1 needs `--allow-loopback-peers` (coturn refuses loopback peers by default)
and a private user DB/pid/log in a temp dir so nothing touches the system's coturn files.
Readiness is a real STUN Binding round-trip on the listening port, not a sleep.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from rtcload.media.ice import IceServerSpec

BINARY = "turnserver"
_MAGIC = 0x2112A442


def turnserver_available() -> bool:
    return shutil.which(BINARY) is not None


def _free_port() -> int:
    """A port free for both UDP and TCP on 127.0.0.1 (coturn listens on both)."""
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tcp:
            tcp.bind(("127.0.0.1", 0))
            port = int(tcp.getsockname()[1])
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
                try:
                    udp.bind(("127.0.0.1", port))
                except OSError:
                    continue
            return port
    raise RuntimeError("no free port for coturn")


def _stun_binding_ok(port: int, timeout: float) -> bool:
    request = (0x0001).to_bytes(2, "big") + (0).to_bytes(2, "big") + _MAGIC.to_bytes(4, "big") + os.urandom(12)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(timeout)
        try:
            sock.sendto(request, ("127.0.0.1", port))
            data, _ = sock.recvfrom(2048)
        except OSError:
            return False
    return len(data) >= 20 and data[:2] == b"\x01\x01" and data[8:20] == request[8:20]


@dataclass
class Coturn:
    """`async with Coturn(user="u", password="p") as turn:`; `turn.spec("udp")` is an IceServerSpec."""

    user: str = "u"
    password: str = field(default="p", repr=False)
    realm: str = "rtcload"
    port: int = 0  # 0 = pick a free port
    relay_ports: tuple[int, int] | None = None  # UDP relay range; default: a 200-port window near `port`
    extra_args: tuple[str, ...] = ()
    startup_timeout_s: float = 10.0
    process: subprocess.Popen[bytes] | None = None
    workdir: Path | None = None

    def command(self) -> list[str]:
        low, high = self.relay_ports or (0, 0)
        args = [
            BINARY,
            "-n",
            "--listening-ip=127.0.0.1",
            "--relay-ip=127.0.0.1",
            f"--listening-port={self.port}",
            "--lt-cred-mech",
            f"--user={self.user}:{self.password}",
            f"--realm={self.realm}",
            "--no-cli",
            "--no-tls",
            "--no-dtls",
            "--allow-loopback-peers",
            "--fingerprint",
            f"--min-port={low}",
            f"--max-port={high}",
            f"--userdb={self.workdir / 'turndb'}",
            f"--pidfile={self.workdir / 'turnserver.pid'}",
            f"--log-file={self.workdir / 'turnserver.log'}",
            "--simple-log",
            "--no-stdout-log",
            *self.extra_args,
        ]
        return args

    def spec(self, transport: str = "udp", user: str | None = None, password: str | None = None) -> IceServerSpec:
        """The TURN server as an ICE server entry; override user/password to test bad credentials."""
        return IceServerSpec(
            f"turn:127.0.0.1:{self.port}?transport={transport}",
            self.user if user is None else user,
            self.password if password is None else password,
        )

    def log_text(self) -> str:
        if self.workdir is None:
            return ""
        path = self.workdir / "turnserver.log"
        return path.read_text(errors="replace") if path.exists() else ""

    async def start(self) -> Coturn:
        if not turnserver_available():
            raise RuntimeError("coturn's turnserver is not installed (apt-get install coturn)")
        self.workdir = Path(tempfile.mkdtemp(prefix="rtcload-coturn-"))
        if self.port == 0:
            self.port = _free_port()
        if self.relay_ports is None:
            base = 20000 + (self.port * 7) % 40000
            self.relay_ports = (base, base + 199)
        self.process = subprocess.Popen(self.command(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + self.startup_timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"turnserver exited with {self.process.returncode}: {self.log_text()[-2000:]}")
            if await asyncio.to_thread(_stun_binding_ok, self.port, 0.2):
                return self
        await self.stop()
        raise RuntimeError("turnserver did not answer STUN in time")

    async def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                await asyncio.to_thread(self.process.wait, 5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                await asyncio.to_thread(self.process.wait, 5)
        if self.workdir is not None:
            with contextlib.suppress(OSError):
                shutil.rmtree(self.workdir)

    async def __aenter__(self) -> Coturn:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()
