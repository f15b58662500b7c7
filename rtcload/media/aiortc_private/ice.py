"""aioice's Connection behind aiortc's ICE transport, and what aioice keeps privately in it.

Checked against aiortc 1.16 / aioice 0.13 (pyproject.toml).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import aioice


def connection_of(dtls_transport: Any) -> aioice.Connection:
    """The aioice Connection of a DTLS transport's ICE transport (`RTCIceTransport._connection`)."""
    return dtls_transport.transport._connection


def connection_or_none(dtls_transport: Any) -> aioice.Connection | None:
    """As connection_of, None when there is no transport yet."""
    return getattr(getattr(dtls_transport, "transport", None), "_connection", None)


def candidate_lists(connection: aioice.Connection) -> tuple[list[Any], list[Any]]:
    """The local and remote candidate lists themselves (the public properties copy them on each read)."""
    local = getattr(connection, "_local_candidates", None) or connection.local_candidates
    remote = getattr(connection, "_remote_candidates", None) or connection.remote_candidates
    return local, remote


def nominated_pair(connection: aioice.Connection) -> Any:
    """The selected CandidatePair of component 1 (`Connection._nominated[1]`), None before nomination."""
    return getattr(connection, "_nominated", {}).get(1)


def nominated_pairs(connection: aioice.Connection) -> list[Any]:
    """Every component's selected CandidatePair (`Connection._nominated`)."""
    return list(connection._nominated.values())


def forget_consent_task(connection: aioice.Connection) -> None:
    """Let close() not cancel the consent task that is closing it (`Connection._query_consent_task`)."""
    connection._query_consent_task = None


def connection_of_protocol_factory(protocol_factory: Callable[[], Any]) -> aioice.Connection | None:
    """The Connection behind aioice's `lambda: StunProtocol(self)` (its closure cell)."""
    for cell in getattr(protocol_factory, "__closure__", None) or ():
        contents = cell.cell_contents
        if isinstance(contents, aioice.ice.Connection):
            return contents
    return None
