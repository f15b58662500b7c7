"""ICE server specs (STUN/TURN with credentials) and the RTCConfiguration built from them.

Credentials stay out of reprs; relay-only is aiortc's `RTCIceTransportPolicy.RELAY` (the enum,
not the string), the equivalent of the SDK's `forceRelayCandidate`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from aiortc import RTCConfiguration, RTCIceServer
from aiortc.rtcconfiguration import RTCIceTransportPolicy


@dataclass(frozen=True)
class IceServerSpec:
    urls: str
    username: str | None = None
    credential: str | None = field(default=None, repr=False)


def parse_ice_servers(text: str) -> tuple[IceServerSpec, ...]:
    """`stun:host:port,turn:user:pass@host:port?transport=udp` -> specs (credentials kept out of repr)."""
    servers: list[IceServerSpec] = []
    for part in (p.strip() for p in text.split(",") if p.strip()):
        scheme, _, rest = part.partition(":")
        if scheme not in ("stun", "stuns", "turn", "turns"):
            raise ValueError(f"ICE server must start with stun:, stuns:, turn: or turns: (got {scheme!r})")
        if "@" in rest and scheme.startswith("turn"):
            userinfo, _, hostpart = rest.rpartition("@")
            user, _, password = userinfo.partition(":")
            servers.append(IceServerSpec(f"{scheme}:{hostpart}", user, password))
        else:
            servers.append(IceServerSpec(part))
    return tuple(servers)


def rtc_configuration(
    ice_servers: Sequence[str | IceServerSpec] | None = None, relay_only: bool = False
) -> RTCConfiguration:
    """Exactly the given ICE servers (none by default: never a public STUN server)."""
    servers = []
    for server in ice_servers or []:
        spec = IceServerSpec(server) if isinstance(server, str) else server
        servers.append(RTCIceServer(urls=spec.urls, username=spec.username, credential=spec.credential))
    policy = RTCIceTransportPolicy.RELAY if relay_only else RTCIceTransportPolicy.ALL
    return RTCConfiguration(iceServers=servers, iceTransportPolicy=policy)
