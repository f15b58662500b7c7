"""aioice's STUN handling per message, cheaper: the same messages and the same values, fewer Python steps.

Why: with a call's media in C, ICE consent freshness (a Binding request every 2.5 s from each Chrome-like
call, answered by the far end, and the far end's own checks) is the generator's largest Python cost per
steady call. A profile at 1,000 calls (docs/benchmarks.md) puts 17 % of the loop thread in aioice's STUN
code, most of it in steps that do not need to be in Python or done twice:

- every datagram in STUN's range was parsed twice: once by the stray-datagram guard (to count what is not
  STUN) and again by `StunProtocol.datagram_received`. `dispatch` is aioice 0.13's dispatch after the
  parse, so the guard parses once and hands the message on;
- (XOR-)address attributes go through `ipaddress` objects and a byte-at-a-time XOR. `install` swaps in
  codecs built on `socket.inet_pton`/`inet_ntop` and one integer XOR for IPv4 (the only family whose text
  form both agree on); anything else (IPv6, malformed) still takes aioice's own functions, so errors and
  values are aioice's.

Checked against aioice 0.13.0 (pinned in pyproject.toml): `stun.ATTRIBUTES_BY_TYPE` / `ATTRIBUTES_BY_NAME`
(type, name, pack, unpack), `StunProtocol.transactions`, `Connection.request_received`.
"""

from __future__ import annotations

import logging
import socket
import struct
from collections.abc import Callable
from typing import Any

from aioice import stun

_logger = logging.getLogger("aioice.ice")  # StunProtocol's debug log (aioice.ice's module logger)
_IPV4 = stun.IPV4_PROTOCOL
_PORT = struct.Struct("!H")
_COOKIE_PAD = struct.pack("!HI", stun.COOKIE >> 16, stun.COOKIE)  # first 6 bytes of the XOR pad (RFC 5389 15.2)
_COOKIE_PAD_INT = int.from_bytes(_COOKIE_PAD, "big")


def dispatch(protocol: Any, message: stun.Message, addr: tuple[Any, ...]) -> None:
    """What aioice's `StunProtocol.datagram_received` does with a datagram that parsed as `message`."""
    addr = (addr[0], addr[1])  # an IPv6 four-tuple to a two-tuple, as aioice does
    if _logger.isEnabledFor(logging.DEBUG):
        _logger.debug("%s %s < %s %s", protocol.receiver, protocol, addr, message)
    message_class = message.message_class
    if message_class == stun.Class.RESPONSE or message_class == stun.Class.ERROR:
        transaction = protocol.transactions.get(message.transaction_id)
        if transaction is not None:
            transaction.response_received(message, addr)
    elif message_class == stun.Class.REQUEST:
        protocol.receiver.request_received(message, addr, protocol)


def _pack_address(original: Callable[..., bytes]) -> Callable[..., bytes]:
    def pack_address(value: tuple[str, int], *xor: Any) -> bytes:
        if xor:  # aioice's own XOR codecs (IPv6) call this with their XOR function
            return original(value, *xor)
        try:
            packed = socket.inet_pton(socket.AF_INET, value[0])
        except (OSError, TypeError):
            return original(value)
        return b"\x00\x01" + _PORT.pack(value[1]) + packed

    return pack_address


def _unpack_address(original: Callable[..., tuple[str, int]]) -> Callable[..., tuple[str, int]]:
    def unpack_address(data: bytes, *xor: Any) -> tuple[str, int]:
        if xor or len(data) != 8 or data[1] != _IPV4:
            return original(data, *xor)
        return socket.inet_ntop(socket.AF_INET, data[4:8]), (data[2] << 8) | data[3]

    return unpack_address


def _pack_xor_address(original: Callable[[tuple[str, int], bytes], bytes]) -> Callable[[tuple[str, int], bytes], bytes]:
    def pack_xor_address(value: tuple[str, int], transaction_id: bytes) -> bytes:
        try:
            packed = socket.inet_pton(socket.AF_INET, value[0])
        except (OSError, TypeError):
            return original(value, transaction_id)
        plain = int.from_bytes(_PORT.pack(value[1]) + packed, "big")
        return b"\x00\x01" + (plain ^ _COOKIE_PAD_INT).to_bytes(6, "big")

    return pack_xor_address


def _unpack_xor_address(
    original: Callable[[bytes, bytes], tuple[str, int]],
) -> Callable[[bytes, bytes], tuple[str, int]]:
    def unpack_xor_address(data: bytes, transaction_id: bytes) -> tuple[str, int]:
        if len(data) != 8 or data[1] != _IPV4:
            return original(data, transaction_id)
        plain = (int.from_bytes(data[2:8], "big") ^ _COOKIE_PAD_INT).to_bytes(6, "big")
        return socket.inet_ntop(socket.AF_INET, plain[2:]), (plain[0] << 8) | plain[1]

    return unpack_xor_address


# aioice's own codecs (the fallbacks, and the reference tests/test_stun_fast.py compares with)
AIOICE_CODECS: dict[str, Callable[..., Any]] = {
    name: getattr(stun, name) for name in ("pack_address", "unpack_address", "pack_xor_address", "unpack_xor_address")
}
_installed = False


def install() -> None:
    """Idempotent: aioice's address attributes use the fast IPv4 codecs from now on (every connection).

    aioice tells XOR attributes from plain ones by comparing with its module's `pack_xor_address` /
    `unpack_xor_address`, so the module names are rebound too, and its own XOR codecs (kept for IPv6) find
    the plain codec under its module name at call time, with their XOR function as a second argument."""
    global _installed
    if _installed:
        return
    _installed = True
    codecs = {
        "pack_address": _pack_address(AIOICE_CODECS["pack_address"]),
        "unpack_address": _unpack_address(AIOICE_CODECS["unpack_address"]),
        "pack_xor_address": _pack_xor_address(AIOICE_CODECS["pack_xor_address"]),
        "unpack_xor_address": _unpack_xor_address(AIOICE_CODECS["unpack_xor_address"]),
    }
    for name, fast in codecs.items():
        setattr(stun, name, fast)
    for entry in list(stun.ATTRIBUTES_BY_TYPE.values()):
        pack, unpack = entry[2], entry[3]
        replaced = (
            entry[0],
            entry[1],
            codecs.get(getattr(pack, "__name__", ""), pack) if pack.__module__ == stun.__name__ else pack,
            codecs.get(getattr(unpack, "__name__", ""), unpack) if unpack.__module__ == stun.__name__ else unpack,
        )
        stun.ATTRIBUTES_BY_TYPE[entry[0]] = replaced
        stun.ATTRIBUTES_BY_NAME[entry[1]] = replaced
