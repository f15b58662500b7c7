"""Issue 22, a soak that can pass: a call that ends right after its media was rebuilt by a reattach
is not "no media after recovery" (the generator cut the gap short, not the platform), and it still
counts as a call that had media."""

from __future__ import annotations

import asyncio

from rtcload.emulator import Emulator
from rtcload.emulator.aiortc_answerer import AiortcAnswerer
from rtcload.loadgen.records import call_record
from rtcload.media.engine.call_media import EngineCallMedia
from rtcload.media.loopback import use_loopback_only
from rtcload.media.media_settings import MediaSettings
from rtcload.results.ledger import had_media
from rtcload.signaling import EventKind, SignalingClient
from tests.conftest import fast_config, reconnecting_config

use_loopback_only()


async def test_call_ended_just_after_reattach_is_no_media_gap_failure():
    async with Emulator(fast_config(grace_s=10), AiortcAnswerer(loopback_only=True)) as emu:
        config = reconnecting_config(emu.url, "gapper")
        client = SignalingClient(
            config, lambda: EngineCallMedia("tone:440", settings=MediaSettings(codec="opus", stats_interval_s=1.0))
        )
        await client.connect(timeout=20)
        try:
            call = await client.call("echo", answer_timeout_s=20)
            assert await call.media.wait_first_rtp(20) is not None
            reattached, gaps = asyncio.Event(), []
            client.events.subscribe(lambda e: reattached.set() if e.kind is EventKind.CALL_REATTACHED else None)
            client.events.subscribe(lambda e: gaps.append(e) if e.kind is EventKind.MEDIA_GAP else None)
            assert emu.drop_socket(client.sessid)
            await asyncio.wait_for(reattached.wait(), 20)
            gap_tasks = [t for t in asyncio.all_tasks() if t.get_name().endswith("-media-gap")]
            assert gap_tasks, "the gap measurement started with the reattach"
            await call.hangup()  # before the rebuilt media's first packet (DTLS takes longer than this)
            # before the fix this waited the full 30 s and then reported "no media after recovery"
            done, _pending = await asyncio.wait(gap_tasks, timeout=10)
            assert len(done) == len(gap_tasks)
            assert [e for e in gaps if e.detail.get("gap_s") is None] == []
            row = call_record(call, "gapper", "answered")
            assert row["rtp_before_recovery"] == "yes"
            assert had_media(row)
        finally:
            await client.close()


async def test_socket_lost_during_the_attach_answer_keeps_the_call_for_the_next_reattach():
    """A second fault while the client builds its attach answer: the answer cannot be sent (not
    connected) and the platform never refused it, so the call is not the client's to end (before the
    fix it hung up with USER_BUSY); the next reconnection reattaches it and media comes back."""
    built: list[EngineCallMedia] = []
    second_fault = asyncio.Event()

    class RecordedMedia(EngineCallMedia):
        async def accept_offer(self, sdp: str) -> str:
            built.append(self)
            if len(built) == 1:  # the first reattach: the test drops the socket while this builds
                await second_fault.wait()
            return await super().accept_offer(sdp)

    async with Emulator(fast_config(grace_s=20), AiortcAnswerer(loopback_only=True)) as emu:
        config = reconnecting_config(emu.url, "twice", base_s=1.0, cap_s=2.0)  # reconnects ~1 s after a loss
        client = SignalingClient(
            config, lambda: RecordedMedia("tone:440", settings=MediaSettings(codec="opus", stats_interval_s=1.0))
        )
        await client.connect(timeout=20)
        try:
            call = await client.call("echo", answer_timeout_s=20)
            lost, reattached = asyncio.Event(), asyncio.Event()
            client.events.subscribe(lambda e: lost.set() if e.kind is EventKind.SOCKET_LOST else None)
            client.events.subscribe(lambda e: reattached.set() if e.kind is EventKind.CALL_REATTACHED else None)
            assert emu.drop_socket(client.sessid)
            assert await call.wait_until(lambda _c: len(built) >= 1, 20)  # the attach arrived and is being answered
            lost.clear()
            assert emu.drop_socket(client.sessid)  # the second fault
            await asyncio.wait_for(lost.wait(), 10)
            second_fault.set()  # the answer is ready while the socket is down: "not connected"
            await asyncio.wait_for(reattached.wait(), 20)
            assert not call.ended and call.cause is None, (call.cause, call.error)
            assert call.reattach_count == 1 and len(built) == 2
            assert await call.media.wait_first_rtp(20) is not None  # media back on the rebuilt media
            await call.hangup()
            assert call.cause == "NORMAL_CLEARING"
        finally:
            await client.close()
