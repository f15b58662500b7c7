"""Emulator settings: where it listens, who may log in, how calls are timed, and its limits."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field

from rtcload.distributions import Distribution, parse_distribution
from rtcload.emulator.auth import UserDirectory

OPEN_MODE_JWT_SECRET = "rtcload-emulator-default-jwt-secret-32b"


@dataclass
class Limits:
    """What the emulator keeps for its clients, bounded by configuration rather than by them.

    Every refusal is counted (`refused_<limit>`, exported as `rtcload_emulator_refused_total{limit}`);
    docs/security.md lists each bound with its default and its CLI flag.
    """

    max_sessions: int = 10_000  # logged-in sessions (attached or in grace); more logins are refused
    max_calls_per_session: int = 32  # live calls one session may hold; more invites get -32602
    max_legs_per_session: int = 256  # calls remembered per session (live + ended, kept 30 s for late byes)
    max_leg_items: int = 1_000  # per call: DTMF digits, chat messages and trickle candidates, each
    max_username_bytes: int = 256  # longer logins are refused (they become keys and log entries)
    login_log_bytes: int = 1 << 20  # who logged in (Emulator.login_log), oldest dropped first
    call_report_bytes: int = 32 << 20  # accepted call reports, stored raw, oldest dropped first
    login_timeout_s: float = 10.0  # a socket that has not logged in by then is closed (1008)
    max_unauthenticated_sockets: int = 1_000  # open sockets not logged in (nor control) yet; more are closed 1013
    auth_failures_before_backoff: int = 3  # per socket: failed logins / control tokens answered at once
    auth_failures_before_close: int = 10  # per socket: then the socket is closed (1008)
    auth_backoff_s: float = 0.25  # delay of the first throttled answer, doubling up to 4 s


@dataclass
class EmulatorConfig:
    host: str = "127.0.0.1"
    port: int = 0  # 0 = pick a free port; read it back from Emulator.url
    users: UserDirectory = field(default_factory=UserDirectory.open_mode)
    # None: open mode uses the well-known OPEN_MODE_JWT_SECRET (anyone may log in there anyway); users-file
    # mode gets a random secret per start, so only whoever holds it (Emulator.mint_token) can mint tokens.
    jwt_secret: str | None = field(default=None, repr=False)
    allow_anonymous: bool | None = None  # anonymous_login; None = on in open mode, off with a users file
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
    limits: Limits = field(default_factory=lambda: Limits())

    def __post_init__(self) -> None:
        if self.jwt_secret is None:
            self.jwt_secret = OPEN_MODE_JWT_SECRET if self.users.open else secrets.token_urlsafe(32)
        if self.allow_anonymous is None:
            self.allow_anonymous = self.users.open

    @property
    def secret(self) -> str:
        """The JWT secret, always set after construction."""
        assert self.jwt_secret is not None
        return self.jwt_secret

    @property
    def scheme(self) -> str:
        return "ws"
