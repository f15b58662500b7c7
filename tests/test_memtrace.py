"""RTCLOAD_TRACEMALLOC: a process writes allocation snapshots and type counts, and bench/memdiff.py names
what grew between two of them (issue 22's leak hunt, reproducible by a user)."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import tracemalloc
from pathlib import Path

import pytest

from rtcload.memtrace import trace_from_env
from rtcload.memtrace_refs import chains, protocol_referrers

ROOT = Path(__file__).resolve().parent.parent


class Grower:
    """Something that keeps growing between snapshots, for the diff to find."""


async def test_snapshots_name_what_grew(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RTCLOAD_TRACEMALLOC", str(tmp_path))
    monkeypatch.setenv("RTCLOAD_TRACEMALLOC_EVERY", "0.3")
    kept: list[Grower] = []
    tracer = asyncio.ensure_future(trace_from_env("generator"))
    try:
        for _ in range(200):  # until three snapshots exist, growing all along (bounded: 200 x 50 ms)
            kept.extend(Grower() for _ in range(500))
            if len(list(tmp_path.glob("*.types.json"))) >= 3:
                break
            await asyncio.sleep(0.05)
    finally:
        tracer.cancel()
        await asyncio.gather(tracer, return_exceptions=True)
        if tracemalloc.is_tracing():
            tracemalloc.stop()
    snaps = sorted(tmp_path.glob("generator-*.tracemalloc"))
    assert len(snaps) >= 3, list(tmp_path.iterdir())
    counts = [json.loads(p.with_suffix(".types.json").read_text())["types"] for p in snaps]
    name = f"{__name__}.Grower"
    assert counts[0][name] < counts[-1][name], [c.get(name) for c in counts]
    out = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "memdiff.py"), str(tmp_path), "--top", "5"],
        capture_output=True, text=True, timeout=60, check=True,
    ).stdout  # fmt: skip
    assert "test_memtrace.py" in out and name in out, out


async def test_unset_means_no_tracing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RTCLOAD_TRACEMALLOC", raising=False)
    await asyncio.wait_for(trace_from_env("emulator"), 5)  # returns at once
    assert not tracemalloc.is_tracing()


class Holder:
    """Keeps a closed WebSocket protocol by an attribute, as a leak would."""


def test_referrer_chains_name_what_keeps_a_closed_protocol() -> None:
    """types.json's `ws_referrers`: the holder's attribute and the protocol's own parser generator are named."""
    from websockets.client import ClientProtocol
    from websockets.uri import parse_uri

    holder = Holder()
    holder.kept = ClientProtocol(parse_uri("ws://127.0.0.1:9/"))
    holder.kept.receive_eof()  # the handshake cut short: CLOSED, discard() left in protocol.parser
    found = [r for r in protocol_referrers(limit=0, depth=2) if f"<- {__name__}.Holder.kept" in r["chains"]]
    assert found and found[0]["type"] == "ClientProtocol", protocol_referrers(limit=0, depth=2)
    assert "<- generator Protocol.discard" in found[0]["chains"]
    assert any(line.strip() == "<- websockets.client.ClientProtocol.parser (cycle)" for line in found[0]["chains"])

    def fails(kept: Holder) -> None:
        raise RuntimeError("kept by my traceback")

    try:
        fails(holder)
    except RuntimeError as exc:
        error = exc  # an exception kept with its traceback: the frame's local is named
    lines = chains(holder, depth=4)
    assert any(line.strip().startswith("<- frame fails@test_memtrace.py:") and line.endswith(".kept") for line in lines)
    assert any(".__traceback__" in line and "kept by my traceback" in line for line in lines), lines
    del error
