"""Emulator settings: where it listens, who may log in, how calls are timed, and its limits."""

from __future__ import annotations

from dataclasses import dataclass, field

from rtcload.distributions import Distribution, parse_distribution
from rtcload.emulator.auth import UserDirectory


@dataclass
class EmulatorConfig:
    host: str = "127.0.0.1"
    port: int = 0  # 0 = pick a free port; read it back from Emulator.url
    users: UserDirectory = field(default_factory=UserDirectory.open_mode)
    jwt_secret: str = field(default="rtcload-emulator-default-jwt-secret-32b", repr=False)
    ring_delay: Distribution = field(default_factory=lambda: parse_distribution("fixed:0.05"))
    answer_delay: Distribution = field(default_factory=lambda: parse_distribution("fixed:0.2"))
    noanswer_timeout_s: float = 30.0  # how long a call rings before NO_ANSWER
    grace_s: float = 30.0  # a dropped session keeps its calls this long, for reattach
    server_ping_interval_s: float = 0.0  # 0 = off; the platform pings every 15-30 s
    control_token: str | None = field(default=None, repr=False)  # enables rtcload.control (None = off)
    max_calls: int | None = None  # concurrent calls the platform carries; more get NORMAL_CIRCUIT_CONGESTION
    call_report_id: str | None = None  # advertised in REGED; reports are accepted only with http_front
    http_front: bool = False  # HTTP front on the port: POST /call_report + CORS preflight (off = plain websockets)
    max_frame_bytes: int = 256 * 1024  # larger frames get -32600 and are dropped; the socket stays
    hard_frame_limit_bytes: int = 4 * 1024 * 1024  # larger frames close the socket (1009)
    seed: int | None = None

    @property
    def scheme(self) -> str:
        return "ws"
