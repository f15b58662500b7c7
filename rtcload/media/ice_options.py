"""ICE/TURN options shared by `rtcload run` and `rtcload call`: one parser, one meaning, no leaked secrets.

`--ice-server turn:user:pass@host:port?transport=udp` carries TURN credentials in the URI, as a
browser config would; `--relay-only` forces relayed candidates (both defined in the options registry, with
the variable ENV_SERVERS). Both commands parse them here, with
rtcload.media.ice's parser. `rtcload run` hands them to Locust in the environment, never on a command
line (which `ps` shows to everyone).
"""

from __future__ import annotations

import argparse

from rtcload.media.ice import IceServerSpec, parse_ice_servers
from rtcload.options import env

ENV_SERVERS = "RTCLOAD_ICE_SERVERS"


def ice_servers_text(args: argparse.Namespace) -> str:
    """The servers as one comma-separated string (the --rtc-ice-servers format), flags before the env."""
    given = [s for s in getattr(args, "ice_server", []) or [] if s.strip()]
    return ",".join(given) if given else env.text(ENV_SERVERS)


def ice_servers_from(args: argparse.Namespace) -> tuple[IceServerSpec, ...]:
    """Parsed and validated (ValueError names the bad entry, never its password)."""
    return parse_ice_servers(ice_servers_text(args))
