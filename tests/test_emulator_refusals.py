"""The emulator's login-failure counters and metric labels come from a closed set, not message text (issue 25).

Real login frames with every kind of bad credential go to a real emulator over loopback; every
`logins_failed_*` counter key it creates, and every `result` label of rtcload_emulator_logins_total
it exports, must be a LoginRefusal value, while the wire's `data.reason` keeps its words.
"""

from __future__ import annotations

import asyncio
import json
import re

import pytest
from prometheus_client.parser import text_string_to_metric_families
from websockets.asyncio.client import connect

from rtcload.emulator import Emulator, UserDirectory
from rtcload.emulator.auth import AuthError, LoginRefusal
from rtcload.metrics.emulator_exporter import emulator_registry, exposition
from tests.conftest import fast_config

FRAMES = [
    ({"login": "alice", "passwd": "not-her-password"}, LoginRefusal.WRONG_PASSWORD),
    ({"login": "mallory", "passwd": "whatever-it-is"}, LoginRefusal.UNKNOWN_USER),
    ({"login": "alice"}, LoginRefusal.MISSING_CREDENTIALS),
    ({"login_token": "not-a-jwt"}, LoginRefusal.MALFORMED_TOKEN),
    ({"login": "x" * 5000, "passwd": "p"}, LoginRefusal.LOGIN_TOO_LONG),
]


async def _refused(url: str, params: dict) -> str:
    async with connect(url, max_size=2**20) as ws:
        await ws.send(json.dumps({"jsonrpc": "2.0", "id": "L1", "method": "login", "params": params}))
        reply = json.loads(await asyncio.wait_for(ws.recv(), 10))
    assert reply["error"]["code"] == -32001, reply
    return str(reply["error"]["data"]["reason"])


@pytest.mark.timeout(60)
async def test_refusal_counters_and_labels_are_a_closed_set():
    users = UserDirectory()  # closed: only alice
    users.add("alice", "alice-pass")
    async with Emulator(fast_config(users=users)) as emu:
        for params, refusal in FRAMES:
            assert await _refused(emu.url, params) == refusal.text  # the words on the wire are unchanged
        keys = {k.removeprefix("logins_failed_") for k in emu.counters if k.startswith("logins_failed_")}
        text = exposition(emulator_registry(lambda: emu.counters, lambda: {})).decode()
    assert keys == {refusal.value for _, refusal in FRAMES}
    allowed = {r.value for r in LoginRefusal} | {"ok"}
    results = {
        sample.labels["result"]
        for family in text_string_to_metric_families(text)
        if family.name == "rtcload_emulator_logins"
        for sample in family.samples
    }
    assert results and results <= allowed, results - allowed


def test_refusals_are_label_safe_and_keep_their_words():
    for refusal in LoginRefusal:
        assert re.fullmatch(r"[a-z_]+", refusal.value), refusal
        assert refusal.text.replace(" ", "_") == refusal.value  # the labels dashboards already know
    assert str(AuthError(LoginRefusal.TOKEN_EXPIRED)) == "token expired"
    with pytest.raises(AttributeError):
        AuthError("free text from an exception")  # type: ignore[arg-type]
