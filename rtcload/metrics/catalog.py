"""One catalog of measurements: each defined once, then fed to Locust, Prometheus and the run summary.

A measurement's `key` is what code records; its Locust request type/name, Prometheus name, unit,
buckets and the percentiles the summary prints all hang off that one definition.
"""

from __future__ import annotations

from rtcload.metrics.emulator_catalog import EMULATOR_CATALOG
from rtcload.metrics.measurement import (
    GC_PAUSE_BUCKETS,
    JITTER_BUCKETS,
    LAG_BUCKETS,
    LATENCY_BUCKETS,
    LOSS_BUCKETS,
    MOS_BUCKETS,
    RTT_BUCKETS,
    Kind,
    Measurement,
    Unit,
)

__all__ = [
    "BY_KEY",
    "CATALOG",
    "EMULATOR_CATALOG",
    "GC_PAUSE_BUCKETS",
    "JITTER_BUCKETS",
    "LAG_BUCKETS",
    "LATENCY_BUCKETS",
    "LOSS_BUCKETS",
    "MOS_BUCKETS",
    "RTT_BUCKETS",
    "SUMMARY_KEYS",
    "Kind",
    "Measurement",
    "Unit",
    "emulator_measurements",
    "generator_measurements",
    "measurement",
]

_M = Measurement
GENERATOR_CATALOG: tuple[Measurement, ...] = (
    _M(
        "registration",
        "rtcload_registration_seconds",
        Kind.HISTOGRAM,
        Unit.SECONDS,
        "WebSocket connect start to gateway state REGED",
        LATENCY_BUCKETS,
        "REGISTER",
        "registration",
    ),
    _M(
        "ws_connect",
        "rtcload_ws_connect_seconds",
        Kind.HISTOGRAM,
        Unit.SECONDS,
        "WebSocket connect start to socket open",
        LATENCY_BUCKETS,
        "REGISTER",
        "ws_connect",
    ),
    _M(
        "login",
        "rtcload_login_seconds",
        Kind.HISTOGRAM,
        Unit.SECONDS,
        "login sent to login result",
        LATENCY_BUCKETS,
        "REGISTER",
        "login",
    ),
    _M(
        "post_dial_delay",
        "rtcload_post_dial_delay_seconds",
        Kind.HISTOGRAM,
        Unit.SECONDS,
        "invite sent to first ringing or early media",
        LATENCY_BUCKETS,
        "CALL",
        "post_dial_delay",
    ),
    _M(
        "call_setup",
        "rtcload_call_setup_seconds",
        Kind.HISTOGRAM,
        Unit.SECONDS,
        "invite sent to answer received",
        LATENCY_BUCKETS,
        "CALL",
        "answer",
    ),
    _M(
        "inbound_answer",
        "rtcload_inbound_answer_seconds",
        Kind.HISTOGRAM,
        Unit.SECONDS,
        "inbound call: answer sent to answer result",
        LATENCY_BUCKETS,
        "CALL",
        "inbound_answer",
    ),
    _M(
        "ice_connect",
        "rtcload_ice_connect_seconds",
        Kind.HISTOGRAM,
        Unit.SECONDS,
        "remote SDP applied to ICE connected",
        LATENCY_BUCKETS,
        "MEDIA",
        "ice_connect",
    ),
    _M(
        "dtls_connect",
        "rtcload_dtls_connect_seconds",
        Kind.HISTOGRAM,
        Unit.SECONDS,
        "remote SDP applied to DTLS connected",
        LATENCY_BUCKETS,
        "MEDIA",
        "dtls_connect",
    ),
    _M(
        "first_rtp",
        "rtcload_first_rtp_seconds",
        Kind.HISTOGRAM,
        Unit.SECONDS,
        "call active to first audio RTP from the platform",
        LATENCY_BUCKETS,
        "MEDIA",
        "first_rtp",
    ),
    _M(
        "hangup",
        "rtcload_hangup_seconds",
        Kind.HISTOGRAM,
        Unit.SECONDS,
        "bye sent to bye result",
        LATENCY_BUCKETS,
        "CALL",
        "hangup",
    ),
    _M(
        "reconnect",
        "rtcload_reconnect_seconds",
        Kind.HISTOGRAM,
        Unit.SECONDS,
        "socket loss detected to registered again",
        LATENCY_BUCKETS,
        "RECONNECT",
        "reconnect",
    ),
    _M(
        "media_gap",
        "rtcload_media_gap_seconds",
        Kind.HISTOGRAM,
        Unit.SECONDS,
        "last RTP before a fault to first RTP after recovery",
        LATENCY_BUCKETS,
        "RECONNECT",
        "media_gap",
    ),
    _M(
        "rtt",
        "rtcload_rtt_seconds",
        Kind.HISTOGRAM,
        Unit.SECONDS,
        "round-trip time from RTCP, per stats interval",
        RTT_BUCKETS,
        labels=("direction",),
        quality=True,
    ),
    _M(
        "jitter",
        "rtcload_jitter_seconds",
        Kind.HISTOGRAM,
        Unit.SECONDS,
        "RFC 3550 interarrival jitter, per stats interval",
        JITTER_BUCKETS,
        labels=("direction",),
        quality=True,
    ),
    _M(
        "packet_loss",
        "rtcload_packet_loss_ratio",
        Kind.HISTOGRAM,
        Unit.RATIO,
        "packet loss ratio, per stats interval",
        LOSS_BUCKETS,
        labels=("direction",),
        quality=True,
    ),
    _M(
        "mos",
        "rtcload_mos",
        Kind.HISTOGRAM,
        Unit.MOS,
        "E-model (G.107) MOS, per stats interval",
        MOS_BUCKETS,
        labels=("direction",),
        quality=True,
    ),
    # --- audio scores of sampled calls (issue 24): what the caller heard, not what the network did
    _M(
        "audio_mos",
        "rtcload_audio_mos",
        Kind.HISTOGRAM,
        Unit.MOS,
        "objective audio score of a sampled call's received audio, per scored call (method: visqol-speech "
        "= ViSQOL v3 speech MOS-LQO against the known reference, plcmos = no-reference PLCMOS v2, silent)",
        MOS_BUCKETS,
        "QUALITY",
        "audio_mos_x100",
        ("method", "codec"),
    ),
    _M(
        "audio_scores",
        "rtcload_audio_scores_total",
        Kind.COUNTER,
        Unit.COUNT,
        "sampled calls offered for an audio score, by result: scored, failed, queue_full, over_budget, unavailable",
        labels=("result",),
    ),
    # ---------------------------------------------------------------- outcomes (counters)
    _M(
        "calls",
        "rtcload_calls_total",
        Kind.COUNTER,
        Unit.COUNT,
        "calls attempted by the generator, by result (answered or failed before answer)",
        labels=("result",),
    ),
    _M(
        "hangup_causes",
        "rtcload_hangup_causes_total",
        Kind.COUNTER,
        Unit.COUNT,
        "calls that failed with a hangup cause, by cause name (unknown names become OTHER)",
        labels=("cause",),
    ),
    _M(
        "errors",
        "rtcload_errors_total",
        Kind.COUNTER,
        Unit.COUNT,
        "failed samples, by bounded error code (JSON-RPC/SDK code, cause, timeout, other)",
        labels=("code",),
    ),
    _M(
        "reconnects",
        "rtcload_reconnects_total",
        Kind.COUNTER,
        Unit.COUNT,
        "socket losses by outcome: ok (registered again) or exhausted (gave up)",
        labels=("result",),
    ),
    _M(
        "reattach",
        "rtcload_reattach_total",
        Kind.COUNTER,
        Unit.COUNT,
        "live calls after a reconnect by outcome: reattached or lost",
        labels=("result",),
    ),
    # ---------------------------------------------------------------- load and generator health (gauges)
    _M("users", "rtcload_users", Kind.GAUGE, Unit.COUNT, "Locust users running in this process"),
    _M("active_calls", "rtcload_active_calls", Kind.GAUGE, Unit.COUNT, "calls in progress (not ended)"),
    # ---------------------------------------------------------------- open-model load (--cps)
    _M(
        "call_attempts",
        "rtcload_call_attempts_total",
        Kind.COUNTER,
        Unit.COUNT,
        "call attempts the open-model scheduler made due, by result: placed, refused_limit"
        " (--max-concurrent, SIPp -l), refused_pool (no idle registered endpoint: the generator's shortage)",
        labels=("result",),
    ),
    _M("offered_cps", "rtcload_offered_cps", Kind.GAUGE, Unit.COUNT, "call attempts per second offered now (plan)"),
    _M(
        "offered_erlangs",
        "rtcload_offered_erlangs",
        Kind.GAUGE,
        Unit.COUNT,
        "traffic offered now: offered CPS x mean holding time (Erlangs)",
    ),
    _M(
        "registered_clients",
        "rtcload_registered_clients",
        Kind.GAUGE,
        Unit.COUNT,
        "virtual endpoints registered (gateway REGED) and not closed",
    ),
    _M(
        "send_gap_max",
        "rtcload_send_gap_max_seconds",
        Kind.HISTOGRAM,
        Unit.SECONDS,
        "largest interval between two RTP packets the engine sent on one call (one observation per call):"
        " the generator's own stalls as the platform sees them",
        (0.02, 0.025, 0.03, 0.04, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.5, 1.0),
    ),
    _M(
        "send_gaps",
        "rtcload_send_gaps_total",
        Kind.COUNTER,
        Unit.COUNT,
        "intervals between the engine's RTP packets longer than the gap threshold (30 ms)",
    ),
    _M(
        "send_drops",
        "rtcload_send_drops_total",
        Kind.COUNTER,
        Unit.COUNT,
        "RTP packets the generator's own socket refused (EAGAIN, ENOBUFS) or forwards too big to send",
    ),
    _M(
        "loop_lag",
        "rtcload_loop_lag_seconds",
        Kind.GAUGE,
        Unit.SECONDS,
        "p99 scheduling delay of a periodic timer over the last window, per loop (asyncio, gevent);"
        " rtp_send: how late lean-path RTP sends run behind their 20 ms grid",
        labels=("loop",),
    ),
    _M(
        "loop_lag_samples",
        "rtcload_loop_lag_samples_seconds",
        Kind.HISTOGRAM,
        Unit.SECONDS,
        "every scheduling delay measured by the lag probe, per loop",
        LAG_BUCKETS,
        labels=("loop",),
    ),
    _M(
        "process_cpu",
        "rtcload_process_cpu_ratio",
        Kind.GAUGE,
        Unit.RATIO,
        "CPU of this process over the last second (1.0 = one core busy)",
        labels=("role",),
    ),
    # ---------------------------------------------------------------- process resources (issue 22: a soak, live)
    _M(
        "process_rss",
        "rtcload_process_resident_memory_bytes",
        Kind.GAUGE,
        Unit.BYTES,
        "resident memory of this process (read at scrape time): a soak's slope after warm-up is a leak",
        labels=("role",),
    ),
    _M(
        "process_fds",
        "rtcload_process_open_fds",
        Kind.GAUGE,
        Unit.COUNT,
        "file descriptors this process holds open (sockets, dup()ed engine fds, files)",
        labels=("role",),
    ),
    _M(
        "process_udp_sockets",
        "rtcload_process_udp_sockets",
        Kind.GAUGE,
        Unit.COUNT,
        "UDP sockets this process holds open (media ports; a dup()ed fd counts once per fd)",
        labels=("role",),
    ),
    _M(
        "process_tasks",
        "rtcload_process_asyncio_tasks",
        Kind.GAUGE,
        Unit.COUNT,
        "asyncio tasks alive on this process's media loop (0 on a master, which has none)",
        labels=("role",),
    ),
    _M(
        "saturated",
        "rtcload_generator_saturated",
        Kind.GAUGE,
        Unit.BOOLEAN,
        "1 when loop lag p95 or process CPU is above its threshold: the generator may be the bottleneck",
    ),
    _M(
        "gc_pause",
        "rtcload_gc_pause_seconds",
        Kind.HISTOGRAM,
        Unit.SECONDS,
        "garbage-collection pauses of this process by generation (gc.callbacks): each one stops its media clock",
        GC_PAUSE_BUCKETS,
        labels=("generation",),
    ),
    # ---------------------------------------------------------------- ICE / TURN / call reports (issue 9)
    _M(
        "turn_allocation",
        "rtcload_turn_allocation_seconds",
        Kind.HISTOGRAM,
        Unit.SECONDS,
        "TURN Allocate request to relayed candidate (failures are counted by result)",
        LATENCY_BUCKETS,
        "MEDIA",
        "turn_allocation",
    ),
    _M(
        "turn_allocations",
        "rtcload_turn_allocations_total",
        Kind.COUNTER,
        Unit.COUNT,
        "TURN allocations by result: ok, auth_failed, quota, timeout, error",
        labels=("outcome",),
    ),
    _M(
        "ice_selected",
        "rtcload_ice_selected_total",
        Kind.COUNTER,
        Unit.COUNT,
        "calls by the selected pair's local candidate type (host, srflx, prflx, relay, none)",
        labels=("candidate",),
    ),
    _M(
        "ice_warnings",
        "rtcload_ice_warnings_total",
        Kind.COUNTER,
        Unit.COUNT,
        "SDK-equivalent ICE warnings by code (33002, 33003, 33005, 33008)",
        labels=("warning",),
    ),
    _M(
        "call_reports",
        "rtcload_call_reports_total",
        Kind.COUNTER,
        Unit.COUNT,
        "end-of-call report uploads by outcome: sent, failed, sampled_out",
        labels=("outcome",),
    ),
    _M(
        "rejected_datagrams",
        "rtcload_rejected_datagrams_total",
        Kind.COUNTER,
        Unit.COUNT,
        "stray datagrams dropped at the generator's media ports, by kind (empty, oversized, unauthenticated, "
        "replayed, malformed, stun, dtls, unknown); counted per call, added when the call ends",
        labels=("kind",),
    ),
    _M(
        "stale_receive_stamps",
        "rtcload_stale_receive_stamps_total",
        Kind.COUNTER,
        Unit.COUNT,
        "received datagrams whose kernel stamp was unusable (over 1 s old or ahead of the clock), stamped "
        "at the socket callback instead: their jitter includes the generator's own wait",
    ),
)
CATALOG: tuple[Measurement, ...] = GENERATOR_CATALOG + EMULATOR_CATALOG

BY_KEY: dict[str, Measurement] = {m.key: m for m in CATALOG}

# Figures the run summary prints first, in this order.
SUMMARY_KEYS: tuple[str, ...] = (
    "registration",
    "post_dial_delay",
    "call_setup",
    "first_rtp",
    "hangup",
    "mos",
    "audio_mos",  # sampled calls' audio score (issue 24): printed under the E-model MOS
    "rtt",
    "jitter",
    "packet_loss",
)


def generator_measurements() -> tuple[Measurement, ...]:
    """What each Locust process serves on /metrics."""
    return tuple(m for m in CATALOG if not m.emulator)


def emulator_measurements() -> tuple[Measurement, ...]:
    """What the emulator serves on /metrics."""
    return tuple(m for m in CATALOG if m.emulator)


def measurement(key: str) -> Measurement:
    try:
        return BY_KEY[key]
    except KeyError:
        raise KeyError(f"unknown measurement {key!r}; known: {', '.join(BY_KEY)}") from None
