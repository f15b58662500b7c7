"""Client configuration: target, credentials, TLS, timeouts and reconnect policy."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from rtcload.protocol.backoff import BackoffPolicy
from rtcload.protocol.messages import DEFAULT_USER_AGENT, UserAgent


@dataclass(frozen=True)
class PasswordCredentials:
    login: str
    password: str = field(repr=False)

    @property
    def identity(self) -> str:
        return self.login


@dataclass(frozen=True)
class TokenCredentials:
    """A JWT login. `refresh`, when given, returns a fresh token; it is called before `exp`."""

    token: str = field(repr=False)
    refresh: Callable[[], Awaitable[str]] | None = field(default=None, repr=False, compare=False)
    identity: str = "jwt"


@dataclass(frozen=True)
class AnonymousCredentials:
    target_id: str
    target_type: str = "ai_assistant"

    @property
    def identity(self) -> str:
        return f"anonymous:{self.target_type}"


Credentials = PasswordCredentials | TokenCredentials | AnonymousCredentials


@dataclass(frozen=True)
class HealthConfig:
    """The SDK's signaling-health monitor: probe after inbound silence, recover if the probe is unanswered."""

    inbound_silence_s: float = 20.0
    probe_timeout_s: float = 5.0
    check_every_s: float = 3.0
    enabled: bool = True


@dataclass(frozen=True)
class ClientConfig:
    url: str
    credentials: Credentials
    label: str = "client"  # names this client in logs and errors (never a secret)
    verify_tls: bool = True
    ca_file: str | None = None
    connect_timeout_s: float = 10.0
    login_timeout_s: float = 15.0
    critical_timeout_s: float = 10.0  # bye, modify, ping, as the SDK
    request_timeout_s: float = 30.0  # the SDK waits forever on the rest; a load tester must not
    bye_guard_s: float = 5.0
    register_repoll_s: tuple[float, float] = (2.0, 6.0)
    max_register_polls: int = 5
    auto_reconnect: bool = True
    backoff: BackoffPolicy = field(default_factory=BackoffPolicy)
    reconnect_session_max_age_s: float = 90.0
    health: HealthConfig = field(default_factory=HealthConfig)
    token_refresh_lead_s: float = 120.0
    trickle_ice: bool = False
    media_timeout_s: float | None = None  # no RTP this long in an active call -> ICE restart (None = off)
    user_agent: UserAgent = DEFAULT_USER_AGENT
    max_frame_bytes: int = 1 << 20
    caller_id_name: str = ""
    caller_id_number: str = ""

    def __post_init__(self) -> None:
        if not self.url.startswith(("ws://", "wss://")):
            raise ValueError(f"target URL must start with ws:// or wss:// (got {self.url!r})")
