"""aioice's STUN with rtcload's cheaper per-message steps (media/aiortc_private/stun.py): same bytes, same values,
and a datagram parsed once on its way through the stray-datagram guard.

Real parts: aioice's own codecs are the reference (captured before the swap), and two real aioice Connections
on loopback sockets complete ICE and exchange consent checks through the guard.
"""

from __future__ import annotations

import asyncio
import os
from typing import Any

import aioice
import pytest
from aioice import stun

from rtcload.media import stray
from rtcload.media.aiortc_private import stun as fast_stun
from rtcload.media.aiortc_private.ice import nominated_pair
from rtcload.media.loopback import use_loopback_only

ORIGINAL = fast_stun.AIOICE_CODECS
ADDRESSES = [
    ("127.0.0.1", 1),
    ("127.201.2.3", 65535),
    ("127.255.255.255", 0),
    ("::1", 5000),
    ("fe80::1", 1234),
    ("2001:db8::ff00:42:8329", 3478),
    ("::ffff:127.2.3.4", 9),
]
MALFORMED = [
    b"\x00\x01\x00",
    b"\x00\x03\x00\x01\x01\x02\x03\x04",
    b"\x00\x01\x00\x01\x01\x02\x03",
    b"\x00\x02" + bytes(10),
]


def _message(address: tuple[str, int], transaction_id: bytes) -> stun.Message:
    message = stun.Message(stun.Method.BINDING, stun.Class.RESPONSE, transaction_id=transaction_id)
    for name in ("XOR-MAPPED-ADDRESS", "MAPPED-ADDRESS", "XOR-PEER-ADDRESS", "XOR-RELAYED-ADDRESS", "OTHER-ADDRESS"):
        message.attributes[name] = address
    message.add_message_integrity(b"k" * 16)
    message.add_fingerprint()
    return message


def _outcome(function: Any, *args: Any) -> Any:
    try:
        return function(*args)
    except ValueError as exc:
        return ("ValueError", str(exc))


def test_the_fast_codecs_give_aioices_bytes_values_and_errors():
    transaction_ids = [os.urandom(12) for _ in range(4)]
    reference = []
    with pytest.MonkeyPatch.context() as patch:  # aioice's own codecs, whether or not a peer installed ours
        for name, function in ORIGINAL.items():
            patch.setattr(stun, name, function)
        for entry in list(stun.ATTRIBUTES_BY_TYPE.values()):
            plain = (entry[0], entry[1], *(ORIGINAL.get(f.__name__, f) for f in entry[2:]))
            patch.setitem(stun.ATTRIBUTES_BY_TYPE, entry[0], plain)
            patch.setitem(stun.ATTRIBUTES_BY_NAME, entry[1], plain)
        assert stun.ATTRIBUTES_BY_NAME["XOR-MAPPED-ADDRESS"][2] is ORIGINAL["pack_xor_address"]
        for address in ADDRESSES:
            for tid in transaction_ids:
                data = bytes(_message(address, tid))
                reference.append((data, dict(stun.parse_message(data).attributes)))
    fast_stun.install()
    fast_stun.install()  # idempotent
    assert stun.pack_xor_address is not ORIGINAL["pack_xor_address"]
    index = 0
    for address in ADDRESSES:
        for tid in transaction_ids:
            data = bytes(_message(address, tid))
            assert data == reference[index][0], address
            assert dict(stun.parse_message(data).attributes) == reference[index][1], address
            index += 1
    for bad in MALFORMED:
        assert _outcome(stun.unpack_address, bad) == _outcome(ORIGINAL["unpack_address"], bad)
        tid = transaction_ids[0]
        assert _outcome(stun.unpack_xor_address, bad, tid) == _outcome(ORIGINAL["unpack_xor_address"], bad, tid)


async def _connected_pair() -> tuple[aioice.Connection, aioice.Connection]:
    a = aioice.Connection(ice_controlling=True)
    b = aioice.Connection(ice_controlling=False)
    for conn in (a, b):
        await conn.gather_candidates()
    for here, there in ((a, b), (b, a)):
        for candidate in there.local_candidates:
            await here.add_remote_candidate(candidate)
        await here.add_remote_candidate(None)
        here.remote_username, here.remote_password = there.local_username, there.local_password
    await asyncio.wait_for(asyncio.gather(a.connect(), b.connect()), 30)
    return a, b


async def test_a_consent_check_through_the_guard_is_parsed_once_each_way(monkeypatch):
    """One Binding request and its response: two parses (the request at B, the response at A), not four
    (the guard's check and aioice's own parse of each); the transaction completes as aioice's would."""
    stray.install_stray_datagram_guard()
    use_loopback_only()
    a, b = await _connected_pair()
    try:
        parses = []
        original = stun.parse_message

        def counting(data: bytes, *args: Any, **kwargs: Any) -> stun.Message:
            parses.append(data[:2])
            return original(data, *args, **kwargs)

        monkeypatch.setattr(stun, "parse_message", counting)
        pair = nominated_pair(a)
        request = a.build_request(pair, nominate=False)
        key = a.remote_password.encode()
        response, addr = await asyncio.wait_for(
            pair.protocol.request(request, pair.remote_addr, integrity_key=key, retransmissions=0), 10
        )
        assert response.message_class == stun.Class.RESPONSE
        local = pair.local_candidate
        assert response.attributes["XOR-MAPPED-ADDRESS"] == (local.host, local.port)
        assert tuple(addr) == tuple(pair.remote_addr)
        assert len(parses) == 2, parses
    finally:
        await a.close()
        await b.close()
