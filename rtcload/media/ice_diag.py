"""Per-call ICE diagnostics: what the platform docs' troubleshooting asks for, from aiortc/aioice.

Candidates by type and transport, gathering time, the selected pair's types, the ICE/DTLS state
timeline, the TURN allocation (time, or why it failed) and the SDK-equivalent warnings
(33003 empty gathering, 33002 gathering timeout, 33005 only-host candidates, 33008 pair change).

aioice swallows TURN allocation errors inside gathering (the relay candidate just goes missing),
so `install_turn_probe()` wraps `aioice.ice.relayed_candidate` process-wide to time every
allocation and keep its outcome per aioice Connection. It changes no behaviour.
"""

from __future__ import annotations

import asyncio
import collections
import time
import weakref
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import aioice.ice
import aioice.stun

from rtcload.media.aiortc_private.ice import (
    candidate_lists,
    connection_of,
    connection_of_protocol_factory,
    nominated_pair,
)

# SDK warning codes (TELNYX_WARNING_CODES in @telnyx/webrtc 2.27.10)
ICE_GATHERING_TIMEOUT = 33002
ICE_GATHERING_EMPTY = 33003
ONLY_HOST_ICE_CANDIDATES = 33005
ICE_CANDIDATE_PAIR_CHANGED = 33008
WARNING_NAMES = {
    ICE_GATHERING_TIMEOUT: "ICE_GATHERING_TIMEOUT",
    ICE_GATHERING_EMPTY: "ICE_GATHERING_EMPTY",
    ONLY_HOST_ICE_CANDIDATES: "ONLY_HOST_ICE_CANDIDATES",
    ICE_CANDIDATE_PAIR_CHANGED: "ICE_CANDIDATE_PAIR_CHANGED",
}
CANDIDATE_TYPES = ("host", "srflx", "prflx", "relay")
DEFAULT_GATHERING_TIMEOUT_S = 5.0  # aioice gives STUN/TURN requests 5 s per component

# Process-wide counts of TURN allocations by result (ok, auth_failed, quota, timeout, error): bounded labels.
TURN_ALLOCATIONS: collections.Counter[str] = collections.Counter()


@dataclass(frozen=True)
class TurnAllocation:
    server: str  # host:port/transport, never credentials
    duration_s: float | None  # request to relay candidate (or to the failure)
    result: str  # ok | auth_failed | quota | timeout | error
    error: str | None = None


@dataclass(frozen=True)
class IceWarning:
    code: int
    name: str
    detail: str = ""


@dataclass(frozen=True)
class IceReport:
    local_candidates: dict[str, int]  # "host/udp" -> count
    remote_candidates: dict[str, int]
    gathering_s: float | None  # gathering state "gathering" -> "complete"
    selected_local_type: str | None
    selected_remote_type: str | None
    selected_pair: str | None  # "relay 127.0.0.1:1234 -> host 127.0.0.1:5678"
    pair_changes: int
    turn: list[TurnAllocation]
    timeline: list[tuple[float, str, str]]  # (seconds since start, "ice"|"dtls"|"gathering"|"connection", state)
    warnings: list[IceWarning] = field(default_factory=list)

    @property
    def warning_codes(self) -> list[int]:
        return [w.code for w in self.warnings]


# ----------------------------------------------------------------------------- TURN allocation probe

_ALLOCATIONS: weakref.WeakKeyDictionary[Any, list[TurnAllocation]] = weakref.WeakKeyDictionary()
_ORIGINAL_RELAYED: Callable[..., Awaitable[Any]] = aioice.ice.relayed_candidate


def classify_turn_error(exc: BaseException) -> tuple[str, str]:
    """(result, message) for a failed allocation: 401 -> auth_failed, 486/508 -> quota."""
    if isinstance(exc, asyncio.CancelledError | TimeoutError | aioice.stun.TransactionTimeout):
        return "timeout", "TURN allocation timed out"
    if isinstance(exc, aioice.stun.TransactionFailed):
        code, reason = exc.response.attributes.get("ERROR-CODE", (0, ""))
        if code == 401:
            return "auth_failed", f"TURN allocation failed: {code} {reason}".strip()
        if code in (486, 508):
            return "quota", f"TURN allocation failed: {code} {reason}".strip()
        return "error", f"TURN allocation failed: {code} {reason}".strip()
    return "error", f"TURN allocation failed: {type(exc).__name__}: {exc}"


async def _probed_relayed_candidate(**kwargs: Any) -> Any:
    conn = connection_of_protocol_factory(kwargs.get("protocol_factory"))  # type: ignore[arg-type]
    host, port = kwargs.get("turn_server", ("?", 0))
    server = f"{host}:{port}/{'tls' if kwargs.get('turn_ssl') else kwargs.get('turn_transport', 'udp')}"
    started = time.monotonic()
    try:
        result = await _ORIGINAL_RELAYED(**kwargs)
    except BaseException as exc:
        kind, message = classify_turn_error(exc)
        _record(conn, TurnAllocation(server, time.monotonic() - started, kind, message))
        raise
    _record(conn, TurnAllocation(server, time.monotonic() - started, "ok"))
    return result


def _record(conn: Any, allocation: TurnAllocation) -> None:
    TURN_ALLOCATIONS[allocation.result] += 1
    if conn is not None:
        _ALLOCATIONS.setdefault(conn, []).append(allocation)


def install_turn_probe() -> None:
    """Time every TURN allocation (idempotent, process-wide, behaviour unchanged)."""
    if aioice.ice.relayed_candidate is not _probed_relayed_candidate:
        aioice.ice.relayed_candidate = _probed_relayed_candidate


def allocations_of(connection: Any) -> list[TurnAllocation]:
    return list(_ALLOCATIONS.get(connection, ()))


# ----------------------------------------------------------------------------- per-call collector


def _kinds(candidates: list[Any]) -> dict[str, int]:
    counts: collections.Counter[str] = collections.Counter()
    for c in candidates:
        counts[f"{c.type}/{str(c.transport).lower()}"] += 1
    return dict(sorted(counts.items()))


class IceDiagnostics:
    """Attach to an RTCPeerConnection at creation; `report()` any time (also after close)."""

    def __init__(
        self,
        pc: Any,
        ice_servers_configured: bool,
        gathering_timeout_s: float = DEFAULT_GATHERING_TIMEOUT_S,
        on_gathering_empty: Callable[[IceReport], None] | None = None,
    ) -> None:
        install_turn_probe()
        self.pc = pc
        self.ice_servers_configured = ice_servers_configured
        self.gathering_timeout_s = gathering_timeout_s
        self.on_gathering_empty = on_gathering_empty
        self.started = time.monotonic()
        self.timeline: list[tuple[float, str, str]] = []
        self.gathering_started: float | None = None
        self.gathering_done: float | None = None
        self.pair_changes = 0
        self._pair: tuple[Any, Any] | None = None
        self._pair_text: str | None = None
        self._local: dict[str, int] = {}
        self._remote: dict[str, int] = {}
        self._counted: tuple[int, int, int, int] | None = None  # the candidate lists _local/_remote were counted from
        self._connection: Any = None
        self._dtls_hooked = False
        self.turn_done = asyncio.Event()  # set once every TURN allocation of this call has an outcome
        pc.on("icegatheringstatechange", self._on_gathering)
        pc.on("iceconnectionstatechange", lambda: self._mark("ice", pc.iceConnectionState))
        pc.on("connectionstatechange", self._on_connection)

    def _mark(self, what: str, state: str) -> None:
        self.timeline.append((round(time.monotonic() - self.started, 4), what, state))
        self._hook_transport()
        self.snapshot()

    def _on_gathering(self) -> None:
        state = self.pc.iceGatheringState
        if state == "gathering" and self.gathering_started is None:
            self.gathering_started = time.monotonic()
        elif state == "complete" and self.gathering_done is None:
            self.gathering_done = time.monotonic()
            if self.gathering_started is None:
                self.gathering_started = self.started
            self.turn_done.set()
        self._mark("gathering", state)
        if state == "complete" and not self._local and self.on_gathering_empty is not None:
            # aiortc never starts ICE without a local candidate, so the call would sit in "new" forever.
            self.on_gathering_empty(self.report())

    def _on_connection(self) -> None:
        self._mark("connection", self.pc.connectionState)

    def _hook_transport(self) -> None:
        """Find the ICE/DTLS transports once the transceiver exists, and follow DTLS state."""
        if self._dtls_hooked:
            return
        for transceiver in self.pc.getTransceivers():
            dtls = transceiver.sender.transport
            if dtls is None:
                continue
            self._dtls_hooked = True
            self._connection = connection_of(dtls)
            dtls.on("statechange", lambda d=dtls: self._mark("dtls", d.state))
            return

    def snapshot(self) -> None:
        """Read candidates and the nominated pair now (they vanish when the connection closes)."""
        self._hook_transport()
        conn = self._connection
        if conn is None:
            return
        # aioice's candidate properties copy their lists: read the lists themselves, and count kinds again only
        # when they changed (a state change happens ~10 times per call; candidates are added only while gathering)
        local, remote = candidate_lists(conn)
        counted = (id(local), len(local), id(remote), len(remote))
        if counted != self._counted:
            self._counted = counted
            if local:
                self._local = _kinds(local)
            if remote:
                self._remote = _kinds(remote)
        nominated = nominated_pair(conn)
        if nominated is not None:
            key = (nominated.local_candidate, nominated.remote_candidate)
            if self._pair is not None and self._pair != key:
                self.pair_changes += 1
            if self._pair != key:
                self._pair = key
                lc, rc = key
                self._pair_text = f"{lc.type} {lc.host}:{lc.port} -> {rc.type} {rc.host}:{rc.port}"

    def report(self) -> IceReport:
        self.snapshot()
        turn = allocations_of(self._connection) if self._connection is not None else []
        gathering_s = None
        if self.gathering_started is not None and self.gathering_done is not None:
            gathering_s = self.gathering_done - self.gathering_started
        warnings: list[IceWarning] = []
        gathered = self.gathering_done is not None
        if gathered and not self._local:
            failed = "; ".join(a.error for a in turn if a.error) or "no candidates"
            warnings.append(IceWarning(ICE_GATHERING_EMPTY, WARNING_NAMES[ICE_GATHERING_EMPTY], failed))
        if (gathering_s is not None and gathering_s >= self.gathering_timeout_s) or any(
            a.result == "timeout" for a in turn
        ):
            warnings.append(IceWarning(ICE_GATHERING_TIMEOUT, WARNING_NAMES[ICE_GATHERING_TIMEOUT]))
        if self.ice_servers_configured and self._local and all(k.startswith("host/") for k in self._local):
            warnings.append(IceWarning(ONLY_HOST_ICE_CANDIDATES, WARNING_NAMES[ONLY_HOST_ICE_CANDIDATES]))
        if self.pair_changes:
            warnings.append(
                IceWarning(
                    ICE_CANDIDATE_PAIR_CHANGED, WARNING_NAMES[ICE_CANDIDATE_PAIR_CHANGED], str(self.pair_changes)
                )
            )
        return IceReport(
            local_candidates=dict(self._local),
            remote_candidates=dict(self._remote),
            gathering_s=gathering_s,
            selected_local_type=self._pair[0].type if self._pair else None,
            selected_remote_type=self._pair[1].type if self._pair else None,
            selected_pair=self._pair_text,
            pair_changes=self.pair_changes,
            turn=turn,
            timeline=list(self.timeline),
            warnings=warnings,
        )


def ice_samples(report: IceReport) -> list[dict[str, Any]]:
    """The loadgen Sample fields for one call's ICE report (bounded labels only; no addresses)."""
    out: list[dict[str, Any]] = []
    for allocation in report.turn:
        out.append({"key": "turn_allocations", "value": 1.0, "label": allocation.result})
        if allocation.result == "ok" and allocation.duration_s is not None:
            out.append({"key": "turn_allocation", "value": allocation.duration_s})
        else:
            out.append(
                {
                    "key": "turn_allocation",
                    "value": None,
                    "error": allocation.error or allocation.result,
                    "code": f"turn_{allocation.result}",
                }
            )
    selected = report.selected_local_type if report.selected_local_type in CANDIDATE_TYPES else "none"
    out.append({"key": "ice_selected", "value": 1.0, "label": selected})
    for warning in report.warnings:
        out.append({"key": "ice_warnings", "value": 1.0, "label": str(warning.code)})
    return out
