"""ICE/TURN options shared by `rtcload run` and `rtcload call`: one parser, one meaning, no leaked secrets.

`--ice-server turn:user:pass@host:port?transport=udp` carries TURN credentials in the URI, as a
browser config would; `--relay-only` forces relayed candidates. Both commands parse them here, with
rtcload.media.ice's parser. `rtcload run` hands them to Locust in the environment, never on a command
line (which `ps` shows to everyone).
"""

from __future__ import annotations

import argparse

from rtcload.media.ice import IceServerSpec, parse_ice_servers
from rtcload.options import env

ENV_SERVERS = "RTCLOAD_ICE_SERVERS"


def add_ice_arguments(parser: argparse.ArgumentParser | argparse._ArgumentGroup) -> None:
    parser.add_argument(
        "--ice-server",
        action="append",
        default=[],
        metavar="URL",
        help="STUN/TURN server, repeatable: stun:host:port or turn:user:pass@host:port?transport=udp "
        f"(or env {ENV_SERVERS}, comma-separated; default none: host candidates only)",
    )
    parser.add_argument("--relay-only", action="store_true", help="use TURN relay candidates only")


def ice_servers_text(args: argparse.Namespace) -> str:
    """The servers as one comma-separated string (the --rtc-ice-servers format), flags before the env."""
    given = [s for s in getattr(args, "ice_server", []) or [] if s.strip()]
    return ",".join(given) if given else env.text(ENV_SERVERS)


def ice_servers_from(args: argparse.Namespace) -> tuple[IceServerSpec, ...]:
    """Parsed and validated (ValueError names the bad entry, never its password)."""
    return parse_ice_servers(ice_servers_text(args))
