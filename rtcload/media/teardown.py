"""An ended call's objects are freed by reference counting: the cycles they form are cut at teardown.

Why: a call leaves ~700 objects (both sides) in reference cycles: aiortc's peer connection and its
transports hold each other (the DTLS transport's event handlers are the peer connection's bound methods,
aioice's STUN protocols point back at their Connection), and our own objects hold the session through
callbacks (stats sampler, ICE diagnostics, the native receive path's callbacks, codec lookups, an echo
endpoint forwarding to itself). Only a full garbage collection frees cycles; under churn one ran every
~20 s over 50,000-130,000 objects for 150-210 ms, holding the GIL: every stream's packets stopped at
once (engineering-notes, "Measured 2026-12-06"). With the edges below cut when the session closes,
the last reference going frees the call at once and the collector has nothing of it to walk.

Only objects that belong to one call and are finished with are touched, and only after the call's
report was built: aiortc's per-call transports (a whitelist of classes, never shared objects such as the
process's certificate) lose their references to other tracked objects (scalars such as
`connectionState` stay readable); our own objects lose their callbacks.
"""

from __future__ import annotations

import contextlib
import gc
from collections import deque
from collections.abc import Iterable
from typing import Any

# aiortc/aioice classes whose instances belong to one peer connection and are dead once it is closed.
PER_CALL_CLASSES = frozenset(
    {
        ("aiortc.rtcpeerconnection", "RTCPeerConnection"),
        ("aiortc.rtcrtpsender", "RTCRtpSender"),
        ("aiortc.rtcrtpreceiver", "RTCRtpReceiver"),
        ("aiortc.rtcrtpreceiver", "RemoteStreamTrack"),
        ("aiortc.rtcdtlstransport", "RTCDtlsTransport"),
        ("aiortc.rtcdtlstransport", "RtpRouter"),
        ("aiortc.rtcicetransport", "RTCIceTransport"),
        ("aiortc.rtcicetransport", "RTCIceGatherer"),
        ("aiortc.rtcsctptransport", "RTCSctpTransport"),
        ("aioice.ice", "Connection"),
        ("aioice.ice", "StunProtocol"),
        ("aioice.ice", "CandidatePair"),
        ("aioice.turn", "TurnClientMixin"),
        ("aioice.turn", "TurnClientUdpProtocol"),
        ("aioice.turn", "TurnClientTcpProtocol"),
        ("aioice.turn", "TurnTransport"),
    }
)
# walked through (to reach the transports) but kept whole: read after the close (negotiated codec)
WALK_ONLY = frozenset({("aiortc.rtcrtptransceiver", "RTCRtpTransceiver")})
CONTAINERS = (list, tuple, set, frozenset, dict, deque)
# the native receive path's Python callbacks (rtcload.media.engine._native.Rx)
RX_CALLBACKS = ("on_first_rtp", "on_rtcp", "on_dtmf", "on_audio", "forward")
# the Python engine stream's callbacks (rtcload.media.engine.stream.EngineStream)
STREAM_CALLBACKS = ("on_first_rtp", "on_dtmf", "on_packet", "loss_runs")


def _kind(obj: object) -> tuple[str, str]:
    cls = type(obj)
    return cls.__module__, cls.__qualname__


def per_call_objects(pc: Any) -> list[Any]:
    """The peer connection and every per-call aiortc/aioice object reachable from it (through their
    attributes and plain containers), found by a walk that never enters anything else."""
    found: list[Any] = []
    seen: set[int] = set()
    todo: list[Any] = [pc]
    while todo:
        obj = todo.pop()
        if id(obj) in seen:
            continue
        seen.add(id(obj))
        if isinstance(obj, CONTAINERS):
            items: Iterable[Any] = obj.values() if isinstance(obj, dict) else obj
            todo.extend(v for v in items if gc.is_tracked(v))
            continue
        kind = _kind(obj)
        if kind in PER_CALL_CLASSES:
            found.append(obj)
        elif kind not in WALK_ONLY:
            continue
        todo.extend(v for v in getattr(obj, "__dict__", {}).values() if gc.is_tracked(v))
    return found


def scrub(obj: Any) -> None:
    """Drop every reference `obj` holds to a tracked object (which alone can close a cycle); scalars stay."""
    attrs = getattr(obj, "__dict__", None)
    if attrs is None:
        return
    for key, value in list(attrs.items()):
        if gc.is_tracked(value):
            attrs[key] = None


def release_peer_connection(pc: Any) -> None:
    """Cut the cycles of a closed aiortc peer connection (no-op while it is not closed)."""
    if pc is None or getattr(pc, "connectionState", None) != "closed":
        return
    for obj in per_call_objects(pc):
        if hasattr(obj, "remove_all_listeners"):  # pyee: handlers are bound methods of their owners
            with contextlib.suppress(Exception):
                obj.remove_all_listeners()
        scrub(obj)


class FixedCodec:
    """Stands in for a `lambda: session.codec` after the call: the same answer, without the session."""

    __slots__ = ("codec",)

    def __init__(self, codec: str | None) -> None:
        self.codec = codec

    def __call__(self) -> str | None:
        return self.codec


def release_engine_stream(stream: Any) -> None:
    """The media engine's stream after close: its callbacks (bound methods of the stream and the session),
    in C on the native path (its Rx) and in the stream's own attributes."""
    if stream is None:
        return
    rx = stream.__dict__.get("nrx")
    if rx is not None:  # the native path: the C receive object holds them
        for name in RX_CALLBACKS:
            with contextlib.suppress(AttributeError, TypeError):
                setattr(rx, name, None)
    for name in STREAM_CALLBACKS:
        if name in stream.__dict__:
            stream.__dict__[name] = None


def release_session(session: Any) -> None:
    """Cut every known cycle of a closed AudioSession (any media path, generator or emulator side).

    Called once its MediaReport is built; what a caller may still read afterwards (timings, stats
    samples, the negotiated codec, analyser figures, received digits) stays."""
    attrs = session.__dict__
    codec = FixedCodec(_codec_or_none(session))
    for holder in (session.track, attrs.get("analyzer"), attrs.get("payloads")):
        if holder is not None and hasattr(holder, "_codec_of"):
            holder._codec_of = codec
    for holder in (attrs.get("analyzer"), attrs.get("payloads")):
        if holder is not None:
            for name in ("on_payload", "on_frame"):
                if getattr(holder, name, None) is not None:
                    setattr(holder, name, None)
    stats = attrs.get("stats")
    if stats is not None:
        stats.pc = None
        stats.enrich = None
        stats.__dict__.pop("session", None)
    diag = attrs.get("ice_diag")
    if diag is not None:
        diag.pc = None
        diag.on_gathering_empty = None
        diag.__dict__.pop("_connection", None)
    release_engine_stream(attrs.get("stream"))
    if "_forward_target" in attrs:  # an echo endpoint forwards to itself; a relay leg to its partner
        attrs["_forward_target"] = None
    for name in ("_relay_partner", "_relay_hop", "_restore", "decoder"):
        if name in attrs:
            attrs[name] = None
    release_peer_connection(session.pc)


def _clear_transaction_after_run(run: Any) -> Any:
    """aioice's STUN Transaction.run, then the transaction forgets its future and timer.

    A transaction that times out (consent checks of an ending call, checks of candidate pairs that lose)
    leaves transaction -> future -> TransactionTimeout -> traceback -> run()'s frame -> transaction: a
    cycle per timed-out check, hundreds under churn. Once run() is over aioice never reads either again
    (the protocol forgets the transaction in the same step), so dropping them cuts the cycle."""

    async def run_then_forget(self: Any) -> Any:
        try:
            return await run(self)
        finally:
            self._Transaction__future = None
            self._Transaction__timeout_handle = None

    run_then_forget.__wrapped__ = run  # type: ignore[attr-defined]
    return run_then_forget


def patch_aioice_transactions() -> None:
    """Install `_clear_transaction_after_run` once per process."""
    from aioice import stun

    if not hasattr(stun.Transaction.run, "__wrapped__"):
        stun.Transaction.run = _clear_transaction_after_run(stun.Transaction.run)  # type: ignore[method-assign]


patch_aioice_transactions()


def _codec_or_none(session: Any) -> str | None:
    with contextlib.suppress(Exception):
        return session.codec
    return None
