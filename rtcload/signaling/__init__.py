"""asyncio signaling client over `websockets`: login, readiness, calls, keepalive, reconnect."""

from rtcload.signaling.call import Call, CallTimings, Direction, EndedBy
from rtcload.signaling.client import InboundPolicy, RegistrationTimings, SignalingClient
from rtcload.signaling.config import (
    AnonymousCredentials,
    ClientConfig,
    Credentials,
    HealthConfig,
    PasswordCredentials,
    TokenCredentials,
)
from rtcload.signaling.errors import (
    CallFailed,
    ConnectFailed,
    ConnectionLost,
    LoginFailed,
    RequestTimeout,
    ServerError,
    SignalingError,
)
from rtcload.signaling.events import EventKind, EventLog, SignalingEvent
from rtcload.signaling.media_port import MediaFactory, MediaPort, StaticSdpMedia

__all__ = [
    "AnonymousCredentials",
    "Call",
    "CallFailed",
    "CallTimings",
    "ClientConfig",
    "ConnectFailed",
    "ConnectionLost",
    "Credentials",
    "Direction",
    "EndedBy",
    "EventKind",
    "EventLog",
    "HealthConfig",
    "InboundPolicy",
    "LoginFailed",
    "MediaFactory",
    "MediaPort",
    "PasswordCredentials",
    "RegistrationTimings",
    "RequestTimeout",
    "ServerError",
    "SignalingClient",
    "SignalingError",
    "SignalingEvent",
    "StaticSdpMedia",
    "TokenCredentials",
]
