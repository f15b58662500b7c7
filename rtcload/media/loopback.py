"""Which local addresses ICE gathers host candidates on: loopback only, chosen addresses, the route to a
target, or every interface (enumerated once per few seconds, not at every call).

aioice drops 127.0.0.1 when gathering host candidates, so two peers in one process could never
connect without real interfaces. Tests and the emulator call `use_loopback_only()`; a real target
run never does, so it gathers normal host candidates. aioice enumerates the interfaces again at every
gather (ifaddr, ~0.4 ms on a VM with two interfaces, more with container bridges and VPNs), and binds a
socket and pairs a candidate per address: `cache_host_addresses()` keeps the enumeration for a few seconds,
and `route_addresses()` finds the one local address per family the kernel would use toward a target.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable, Iterable

import aioice.ice

from rtcload.media.ice import rtc_configuration

LOOPBACK = "127.0.0.1"

__all__ = [
    "LOOPBACK",
    "cache_host_addresses",
    "loopback_only_active",
    "route_addresses",
    "rtc_configuration",
    "use_host_addresses",
    "use_loopback_only",
]

_ENUMERATE: Callable[[bool, bool], list[str]] = aioice.ice.get_host_addresses  # aioice's own, unpatched


def _loopback_addresses(use_ipv4: bool, use_ipv6: bool) -> list[str]:
    return [LOOPBACK] if use_ipv4 else []


def use_loopback_only() -> None:
    """Make ICE gather only 127.0.0.1 (idempotent; affects every peer in this process)."""
    if aioice.ice.get_host_addresses is not _loopback_addresses:
        aioice.ice.get_host_addresses = _loopback_addresses


def loopback_only_active() -> bool:
    return aioice.ice.get_host_addresses is _loopback_addresses


def use_host_addresses(addresses: tuple[str, ...] | list[str]) -> None:
    """Gather host candidates only on these local addresses (a multi-homed load generator picking its
    interface, or a network namespace); affects every peer in this process."""
    chosen = [a for a in addresses if a]
    if not chosen:
        raise ValueError("use_host_addresses needs at least one address")

    def _chosen(use_ipv4: bool, use_ipv6: bool) -> list[str]:
        return [a for a in chosen if (":" in a and use_ipv6) or (":" not in a and use_ipv4)]

    aioice.ice.get_host_addresses = _chosen


def cache_host_addresses(ttl_s: float = 10.0) -> None:
    """Gather on every interface as aioice does, but enumerate them at most once per `ttl_s` (process-wide).

    Interfaces do not come and go between two calls of a load test; one that does shows up within `ttl_s`.
    Leaves a loopback-only or chosen-address setting alone.
    """
    if aioice.ice.get_host_addresses is not _ENUMERATE:
        return
    cache: dict[tuple[bool, bool], tuple[float, list[str]]] = {}

    def _cached(use_ipv4: bool, use_ipv6: bool) -> list[str]:
        now = time.monotonic()
        hit = cache.get((use_ipv4, use_ipv6))
        if hit is None or now - hit[0] >= ttl_s:
            hit = cache[(use_ipv4, use_ipv6)] = (now, _ENUMERATE(use_ipv4, use_ipv6))
        return list(hit[1])

    aioice.ice.get_host_addresses = _cached


def route_addresses(hosts: Iterable[str]) -> list[str]:
    """The local address the kernel routes from toward each host (per address family; no packet is sent).

    ValueError names a host that cannot be resolved or reached, so a run does not start with no candidates.
    """
    found: list[str] = []
    for host in hosts:
        try:
            infos = socket.getaddrinfo(host, 9, type=socket.SOCK_DGRAM)
        except OSError as exc:
            raise ValueError(f"cannot resolve {host!r} to choose the ICE host address: {exc}") from None
        routed = False
        for family, _, _, _, address in infos:
            with socket.socket(family, socket.SOCK_DGRAM) as probe:
                try:
                    probe.connect(address)  # UDP connect: a route lookup only
                except OSError:
                    continue
                local = probe.getsockname()[0]
            routed = True
            if local not in found:
                found.append(local)
        if not routed:
            raise ValueError(f"no route to {host!r} to choose the ICE host address")
    return found
