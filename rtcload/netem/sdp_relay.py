"""`ImpairedAnswerer`: puts a `UdpRelay` into every emulator-terminated call's media path.

Wraps any emulator MediaAnswerer. Per call it binds one relay, then rewrites both SDPs so each side
knows only the relay: the caller's candidates handed to the inner answerer point at the relay (the
real one is kept as the relay's first guess of the client), and the inner answer's candidates point
at the relay too (the first UDP one becomes the relay's target, the others its aliases). Other
candidate lines are removed: a second path would let ICE route around the impairment. One relay per
call assumes a single (bundled) transport, which is what rtcload's audio-only peers negotiate.
"""

from __future__ import annotations

import re
from collections import OrderedDict
from dataclasses import replace
from typing import Any

from rtcload.media.answerer import MediaAnswerer
from rtcload.netem.impairment import Impairment
from rtcload.netem.udp_relay import Addr, UdpRelay

__all__ = ["ImpairedAnswerer", "rewrite_candidates", "sdp_candidates"]

_CANDIDATE = re.compile(r"^(a=)?(candidate:\S+ \d+ )(\S+)( \d+ )(\S+) (\d+)( typ \S+.*)$", re.IGNORECASE)
_M_LINE = re.compile(r"^(m=\S+ )(\d+)( .*)$")
_C_LINE = re.compile(r"^c=IN IP(4|6) \S+$")


def sdp_candidates(sdp: str) -> list[tuple[str, Addr]]:
    """(transport, (ip, port)) of every candidate line, in SDP order."""
    found = []
    for line in sdp.splitlines():
        match = _CANDIDATE.match(line.strip())
        if match:
            found.append((match.group(3).lower(), (match.group(5), int(match.group(6)))))
    return found


def _rewrite_candidate(line: str, addr: Addr) -> str:
    match = _CANDIDATE.match(line.strip())
    assert match is not None
    prefix = match.group(1) or ""
    return f"{prefix}{match.group(2)}{match.group(3)}{match.group(4)}{addr[0]} {addr[1]}{match.group(7)}"


def rewrite_candidates(sdp: str, relay: Addr) -> str:
    """Point the first UDP candidate, m= ports and c= lines at `relay`; drop every other candidate."""
    eol = "\r\n" if "\r\n" in sdp else "\n"
    out: list[str] = []
    kept = False
    for line in sdp.splitlines():
        candidate = _CANDIDATE.match(line.strip())
        if candidate:
            if not kept and candidate.group(3).lower() == "udp":
                out.append(_rewrite_candidate(line, relay))
                kept = True
            continue
        m_line = _M_LINE.match(line)
        if m_line and m_line.group(2) != "0":  # port 0 = rejected section: keep it rejected
            line = f"{m_line.group(1)}{relay[1]}{m_line.group(3)}"
        elif _C_LINE.match(line):
            line = f"c=IN IP4 {relay[0]}"
        out.append(line)
    text = eol.join(out)
    return text + eol if sdp.endswith(("\n", "\r\n")) else text


def _first_udp(sdp: str) -> tuple[Addr | None, set[Addr]]:
    udp = [addr for transport, addr in sdp_candidates(sdp) if transport == "udp"]
    return (udp[0] if udp else None), set(udp[1:])


class ImpairedAnswerer:
    """MediaAnswerer that routes each call's media through its own impairing UDP relay."""

    def __init__(
        self,
        inner: MediaAnswerer,
        profile_up: Impairment | None = None,
        profile_down: Impairment | None = None,
        host: str = "127.0.0.1",
        keep_finished: int = 100,
    ) -> None:
        self.inner = inner
        self.profile_up = profile_up or Impairment()
        self.profile_down = profile_down or Impairment()
        self.host = host
        self.relays: dict[str, UdpRelay] = {}
        self.finished: OrderedDict[str, UdpRelay] = OrderedDict()  # released calls' relays, for inspection
        self._keep_finished = keep_finished
        self._advertised: set[str] = set()  # calls whose inner side already knows the relay as the client
        self._calls = 0

    def set_profiles(self, up: Impairment | None = None, down: Impairment | None = None) -> None:
        """Change the impairment of calls from now on and of every call in progress (fault schedules)."""
        self.profile_up = up or self.profile_up
        self.profile_down = down or self.profile_down
        for relay in self.relays.values():
            relay.set_impairment(up, down)

    @property
    def relays_media(self) -> bool:
        return bool(getattr(self.inner, "relays_media", False))

    def link(self, call_a: str, call_b: str) -> None:
        """Bridged calls: the inner answerer relays audio between its two endpoints (each leg has its relay)."""
        link = getattr(self.inner, "link", None)
        if link is not None:
            link(call_a, call_b)

    def hold(self, call_id: str, held: bool) -> None:
        hold = getattr(self.inner, "hold", None)
        if hold is not None:
            hold(call_id, held)

    def rejected_datagrams(self) -> dict[str, int]:
        """The inner answerer's stray-datagram counts (the emulator's /metrics and emulator.json show them)."""
        inner = getattr(self.inner, "rejected_datagrams", None)
        return inner() if callable(inner) else {}

    def relay(self, call_id: str) -> UdpRelay | None:
        return self.relays.get(call_id) or self.finished.get(call_id)

    def _seeded(self, impairment: Impairment, ordinal: int) -> Impairment:
        """Each call gets its own deterministic seed, so concurrent calls do not lose the same packets."""
        if impairment.seed is None or ordinal == 0:
            return impairment
        return replace(impairment, seed=impairment.seed * 1_000_003 + ordinal)

    async def _new_relay(self, call_id: str) -> UdpRelay:
        await self._stop(call_id)
        ordinal = self._calls
        self._calls += 1
        relay = UdpRelay(
            None, self._seeded(self.profile_up, ordinal), self._seeded(self.profile_down, ordinal), host=self.host
        )
        await relay.start()
        self.relays[call_id] = relay
        self._advertised.discard(call_id)
        return relay

    def _client_side(self, call_id: str, relay: UdpRelay, sdp: str) -> str:
        """The caller's SDP as the inner answerer should see it: the relay is the caller."""
        first, _ = _first_udp(sdp)
        if first is not None:
            relay.client = relay.client or first
            self._advertised.add(call_id)
        return rewrite_candidates(sdp, relay.address)

    def _platform_side(self, relay: UdpRelay, sdp: str) -> str:
        """The inner answerer's SDP as the caller should see it: the relay is the platform."""
        first, others = _first_udp(sdp)
        relay.target = first
        relay.target_aliases = others
        return rewrite_candidates(sdp, relay.address)

    async def answer(self, call_id: str, offer: str, mode: str) -> str:
        relay = await self._new_relay(call_id)
        try:
            answer = await self.inner.answer(call_id, self._client_side(call_id, relay, offer), mode)
        except BaseException:
            await self._stop(call_id)
            raise
        return self._platform_side(relay, answer)

    async def reoffer(self, call_id: str, mode: str, codec: str | None = None) -> str:
        relay = await self._new_relay(call_id)
        try:
            offer = await self.inner.reoffer(call_id, mode, codec)
        except BaseException:
            await self._stop(call_id)
            raise
        return self._platform_side(relay, offer)

    async def accept_answer(self, call_id: str, sdp: str) -> None:
        relay = self.relays.get(call_id)
        await self.inner.accept_answer(call_id, sdp if relay is None else self._client_side(call_id, relay, sdp))

    async def add_candidate(self, call_id: str, candidate: str, sdp_mid: str | None, index: int | None) -> None:
        """A trickled caller candidate: the first UDP one is passed on as the relay, the rest dropped."""
        relay = self.relays.get(call_id)
        if relay is None:
            await self.inner.add_candidate(call_id, candidate, sdp_mid, index)
            return
        found = sdp_candidates(candidate)
        if not found or found[0][0] != "udp" or call_id in self._advertised:
            if found and found[0][0] == "udp":
                relay.client = relay.client or found[0][1]
            return
        relay.client = relay.client or found[0][1]
        self._advertised.add(call_id)
        await self.inner.add_candidate(call_id, _rewrite_candidate(candidate, relay.address), sdp_mid, index)

    async def release(self, call_id: str) -> dict[str, Any] | None:
        result = await self.inner.release(call_id)
        relay = await self._stop(call_id)
        if relay is None:
            return result
        merged = dict(result or {})
        merged["netem"] = relay.snapshot()
        return merged

    async def _stop(self, call_id: str) -> UdpRelay | None:
        relay = self.relays.pop(call_id, None)
        self._advertised.discard(call_id)
        if relay is None:
            return None
        await relay.stop()
        self.finished[call_id] = relay
        while len(self.finished) > self._keep_finished:
            self.finished.popitem(last=False)
        return relay

    async def close(self) -> None:
        for call_id in list(self.relays):
            await self._stop(call_id)
