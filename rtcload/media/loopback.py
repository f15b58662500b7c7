"""Loopback-only ICE and STUN-free configuration for tests and the embedded emulator.

aioice drops 127.0.0.1 when gathering host candidates, so two peers in one process could never
connect without real interfaces. Tests and the emulator call `use_loopback_only()`; a real target
run never does, so it gathers normal host candidates.
"""

from __future__ import annotations

import aioice.ice

from rtcload.media.ice import rtc_configuration

LOOPBACK = "127.0.0.1"

__all__ = ["LOOPBACK", "loopback_only_active", "rtc_configuration", "use_host_addresses", "use_loopback_only"]


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
