"""Real media for emulator-terminated calls: one media endpoint per call (echo, tone, ...).

By default each call's RTP/RTCP runs in the process's media engine (rtcload.media.engine: echo forwards
each payload at its kernel arrival + a fixed playout delay, from the engine's send thread: playout.py);
"lean" and "naive" (aiortc sends/receives, forwarding at once) remain as baselines for bench/.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import Counter
from dataclasses import asdict, is_dataclass
from typing import Any

from rtcload.emulator.playout import DEFAULT_ECHO_PLAYOUT_S, split_mode
from rtcload.media.endpoint import MediaEndpoint
from rtcload.media.loopback import cache_host_addresses, use_loopback_only
from rtcload.media_paths import DEFAULT_MEDIA_PATH, check_media_path

log = logging.getLogger("rtcload.emulator")
# Media reports of released calls kept for lookups by call id (tests, a debugging session). Each is ~3 KB
# (its stats and send gaps as plain dicts): 1,000 of them filled over a soak's first half hour at 16
# users, ~3 MB of growth a leak watch could not tell from a leak (issue 22); 100 cover any live lookup.
MAX_REPORTS = 100


class AiortcAnswerer:
    """Implements MediaAnswerer with aiortc; `loopback_only` keeps ICE on 127.0.0.1 (tests, demos)."""

    relays_media = True

    def __init__(
        self,
        loopback_only: bool = True,
        ice_servers: list[str] | None = None,
        lean: bool = False,
        media_path: str = DEFAULT_MEDIA_PATH,
        echo_playout_s: float = DEFAULT_ECHO_PLAYOUT_S,
    ) -> None:
        """`media_path`: engine (default), lean (aiortc, pre-encoded, no decoding) or naive (aiortc
        encodes and decodes); `lean=True` is the older spelling of media_path="lean". `echo_playout_s`: the
        engine's echo and relay forward at kernel arrival + this (playout.py; a route's `playout` knob wins)."""
        if loopback_only:
            use_loopback_only()
        else:
            cache_host_addresses()  # every interface, enumerated once per few seconds instead of at every call
        self.ice_servers = list(ice_servers or [])
        self.media_path = "lean" if lean else check_media_path(media_path)
        self.echo_playout_s = echo_playout_s
        self.endpoints: dict[str, MediaEndpoint] = {}
        self.reports: dict[str, dict[str, Any]] = {}  # the latest MAX_REPORTS released calls' media reports
        self._rejected_ended: Counter[str] = Counter()  # stray datagrams of released endpoints, by kind
        self._closing: set[asyncio.Task[Any]] = set()  # replaced endpoints being closed (a strong reference)

    def _new(self, call_id: str, mode: str, codec: str | None = None) -> MediaEndpoint:
        mode, playout = split_mode(mode)
        if self.media_path == "engine":
            from rtcload.media.engine.call_media import EngineMediaEndpoint

            endpoint: MediaEndpoint = EngineMediaEndpoint(
                mode,
                codec=codec,
                ice_servers=self.ice_servers,
                playout_s=self.echo_playout_s if playout is None else playout,
            )
        elif self.media_path == "lean":
            from rtcload.media.lean import LeanMediaEndpoint

            endpoint = LeanMediaEndpoint(mode, codec=codec, ice_servers=self.ice_servers)
        else:
            endpoint = MediaEndpoint(mode, codec=codec, ice_servers=self.ice_servers)
        replaced = self.endpoints.get(call_id)
        if replaced is not None:
            # Two rebuilds of one call at once (a reattach per reconnection login, back to back): the one
            # replaced would otherwise keep its peer connection, UDP sockets and the engine's dup()ed fd
            # for the life of the process (issue 22's soak leak).
            task = asyncio.ensure_future(self._close_quietly(call_id, replaced))
            self._closing.add(task)
            task.add_done_callback(self._closing.discard)
        self.endpoints[call_id] = endpoint
        return endpoint

    async def _long_source_ready(self, mode: str) -> None:
        """A long source (the `prompt` route's 10 s speech, issue 24) is synthesised and encoded in a
        thread at its first call (~1 s of CPU), not on the loop where it would stall every call's media."""
        if not mode.startswith(("speech", "wav:")):
            return
        warming = self.__dict__.setdefault("_warming", {})
        if mode not in warming:
            from rtcload.media.encoded import encoded_frames

            def encode_all() -> None:
                for codec in ("opus", "pcmu", "pcma"):
                    encoded_frames(mode, codec)

            warming[mode] = asyncio.ensure_future(asyncio.to_thread(encode_all))
        await asyncio.shield(warming[mode])

    @staticmethod
    async def _close_quietly(call_id: str, endpoint: MediaEndpoint) -> None:
        try:
            await asyncio.wait_for(endpoint.close(), 5)
        except (TimeoutError, Exception) as exc:
            log.warning("call %s: replaced media endpoint close failed: %r", call_id, exc)

    async def answer(self, call_id: str, offer: str, mode: str) -> str:
        await self._long_source_ready(mode)
        return await self._new(call_id, mode).answer(offer)

    async def reoffer(self, call_id: str, mode: str, codec: str | None = None) -> str:
        await self._long_source_ready(mode)
        return await self._new(call_id, mode, codec).offer()

    async def accept_answer(self, call_id: str, sdp: str) -> None:
        endpoint = self.endpoints.get(call_id)
        if endpoint is None:
            raise KeyError(f"no media endpoint for call {call_id}")
        await endpoint.accept_answer(sdp)

    def link(self, call_a: str, call_b: str) -> None:
        """Relay audio between two bridged legs' endpoints (both created in "relay" mode).

        Legs on different codecs are transcoded by the engine (media/engine/transcode.py) and by the
        naive path (it decodes anyway); the lean baseline relays payloads and refuses (ValueError)."""
        self.endpoints[call_a].relay_to(self.endpoints[call_b])

    def hold(self, call_id: str, held: bool) -> None:
        """The call is (un)held: the platform's side stops (resumes) sending its media."""
        set_hold = getattr(self.endpoints.get(call_id), "set_hold", None)  # the aiortc baselines keep sending
        if set_hold is not None:
            set_hold(held)

    async def add_candidate(self, call_id: str, candidate: str, sdp_mid: str | None, index: int | None) -> None:
        endpoint = self.endpoints.get(call_id)
        if endpoint is not None:
            await endpoint.add_remote_candidate(candidate, sdp_mid, index)

    def rejected_datagrams(self) -> dict[str, int]:
        """Stray datagrams dropped at the media ports of every call so far (live ones included), by kind."""
        total = Counter(self._rejected_ended)
        for endpoint in self.endpoints.values():
            total.update(endpoint.rejected_datagrams())
        return dict(total)

    async def release(self, call_id: str) -> dict[str, Any] | None:
        endpoint = self.endpoints.pop(call_id, None)
        if endpoint is None:
            return None
        try:
            report = await asyncio.wait_for(endpoint.close(), 5)
        except (TimeoutError, Exception) as exc:
            log.warning("call %s: media endpoint close failed: %r", call_id, exc)
            return None
        self._rejected_ended.update(getattr(report, "rejected_datagrams", None) or {})
        summary = asdict(report) if is_dataclass(report) else {"report": repr(report)}
        self.reports[call_id] = summary
        if len(self.reports) > MAX_REPORTS:
            with contextlib.suppress(StopIteration):
                self.reports.pop(next(iter(self.reports)))
        return summary
