"""Writes the Grafana dashboards of dashboards/*.json from one readable list of panels.

Run `python dashboards/build.py` after editing; tests/test_metrics_dashboards.py evaluates every
query of every panel against a real Prometheus. Percentiles come from histograms
(`histogram_quantile` over `sum by (le)`), so they aggregate across every Locust process.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from grafana_foundation_sdk.builders import dashboard as gd
from grafana_foundation_sdk.builders import heatmap, prometheus, stat, timeseries
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models.dashboard import DataSourceRef, GridPos

HERE = Path(__file__).resolve().parent
R = "[$__rate_interval]"
DS = DataSourceRef(type_val="prometheus", uid="${datasource}")


def q(metric: str, p: float, by: str = "le") -> str:
    return f"histogram_quantile({p}, sum by ({by}) (rate({metric}_bucket{R})))"


def above(metric: str, le: str) -> str:
    """Samples/s above a bucket edge: count rate minus the rate of the bucket at that edge."""
    return f'sum(rate({metric}_count{R})) - sum(rate({metric}_bucket{{le="{le}"}}{R}))'


def percentiles(metric: str, ps: tuple[float, ...] = (0.5, 0.95, 0.99)) -> list[tuple[str, str]]:
    return [(q(metric, p), f"p{round(p * 100)}") for p in ps]


def _target(ref: str, expr: str, legend: str) -> prometheus.Dataquery:
    return prometheus.Dataquery().ref_id(ref).datasource(DS).expr(expr).legend_format(legend)


def panel(
    title: str, targets: list[tuple[str, str]], unit: str = "short", kind: str = "timeseries", **extra: Any
) -> Any:
    """A typed panel builder (timeseries by default; `heatmap`, `stat`) with one Prometheus query per target."""
    builder: Any
    if kind == "heatmap":
        builder = heatmap.Panel().calculate(False).y_axis(heatmap.YAxisConfig().unit(extra.get("y_unit", unit)))
    elif kind == "stat":
        builder = stat.Panel()
    else:
        builder = timeseries.Panel()
    builder = builder.title(title).datasource(DS).unit(unit)
    for i, (expr, legend) in enumerate(targets):
        builder = builder.with_target(_target(chr(65 + i), expr, legend))
    return builder


def dashboard(uid: str, title: str, panels: list[Any]) -> dict[str, Any]:
    """The dashboard as Grafana's JSON model, typed by grafana-foundation-sdk (its JSON encoder)."""
    board = (
        gd.Dashboard(title)
        .uid(uid)
        .tags(["rtcload"])
        .version(1)
        .editable()
        .refresh("10s")
        .time("now-30m", "now")
        .with_variable(gd.DatasourceVariable("datasource").label("Prometheus").type("prometheus"))
    )
    for i, p in enumerate(panels):
        board = board.with_panel(p.id(i + 1).grid_pos(GridPos(h=8, w=12, x=12 * (i % 2), y=8 * (i // 2))))
    return json.loads(JSONEncoder(sort_keys=True).encode(board.build()))


OVERVIEW = dashboard(
    "rtcload-overview",
    "rtcload / overview",
    [
        panel(
            "Users and registered clients",
            [("sum(rtcload_users)", "users"), ("sum(rtcload_registered_clients)", "registered")],
        ),
        panel(
            "Active calls",
            [("sum(rtcload_active_calls)", "generator"), ("sum(rtcload_emulator_active_calls)", "emulator")],
        ),
        panel("Registrations/s", [(f"sum(rate(rtcload_registration_seconds_count{R}))", "registrations/s")], "reqps"),
        panel("Calls/s by result", [(f"sum by (result) (rate(rtcload_calls_total{R}))", "{{result}}")], "reqps"),
        panel("Registration time", percentiles("rtcload_registration_seconds"), "s"),
        panel("Post-dial delay", percentiles("rtcload_post_dial_delay_seconds"), "s"),
        panel("Call setup (answer)", percentiles("rtcload_call_setup_seconds"), "s"),
        panel("First RTP", percentiles("rtcload_first_rtp_seconds"), "s"),
        panel(
            "Call success ratio",
            [
                (
                    f'sum(rate(rtcload_calls_total{{result="answered"}}{R})) / sum(rate(rtcload_calls_total{R}))',
                    "answered",
                )
            ],
            "percentunit",
        ),
        panel(
            "Failed calls/s by hangup cause",
            [(f"sum by (cause) (rate(rtcload_hangup_causes_total{R}))", "{{cause}}")],
            "reqps",
        ),
        panel("Errors/s by code", [(f"sum by (code) (rate(rtcload_errors_total{R}))", "{{code}}")], "reqps"),
        panel(
            "Emulator: logins/s and calls/s",
            [
                (f"sum by (result) (rate(rtcload_emulator_logins_total{R}))", "login {{result}}"),
                (f"sum by (route) (rate(rtcload_emulator_calls_total{R}))", "call {{route}}"),
            ],
            "reqps",
        ),
    ],
)

QUALITY = dashboard(
    "rtcload-quality",
    "rtcload / call quality",
    [
        panel(
            "MOS distribution (per-interval samples)",
            [(f"sum by (le) (increase(rtcload_mos_bucket{R}))", "{{le}}")],
            kind="heatmap",
        ),
        panel("MOS percentiles", [(q("rtcload_mos", p), f"p{round(p * 100)}") for p in (0.05, 0.25, 0.5)]),
        panel(
            "Share of intervals in MOS bands",
            [
                (f'sum(rate(rtcload_mos_bucket{{le="3.6"}}{R})) / sum(rate(rtcload_mos_count{R}))', "poor (< 3.6)"),
                (
                    f'(sum(rate(rtcload_mos_bucket{{le="4.0"}}{R})) - sum(rate(rtcload_mos_bucket{{le="3.6"}}{R})))'
                    f" / sum(rate(rtcload_mos_count{R}))",
                    "fair (3.6-4.0)",
                ),
            ],
            "percentunit",
        ),
        panel("RTT", percentiles("rtcload_rtt_seconds", (0.5, 0.95)), "s"),
        panel("Jitter", percentiles("rtcload_jitter_seconds", (0.5, 0.95)), "s"),
        panel("Packet loss", percentiles("rtcload_packet_loss_ratio", (0.5, 0.95)), "percentunit"),
        panel(
            "Intervals/s beyond the SDK warning thresholds",
            [
                (
                    f'sum(rate(rtcload_rtt_seconds_count{R})) - sum(rate(rtcload_rtt_seconds_bucket{{le="0.4"}}{R}))',
                    "RTT > 400 ms",
                ),
                (
                    above("rtcload_jitter_seconds", "0.03"),
                    "jitter > 30 ms",
                ),
                (
                    above("rtcload_packet_loss_ratio", "0.01"),
                    "loss > 1 %",
                ),
                (f'sum(rate(rtcload_mos_bucket{{le="3.5"}}{R}))', "MOS < 3.5"),
            ],
        ),
        panel(
            "One-way / silent calls per s (no RTP received)",
            [(f'sum(rate(rtcload_errors_total{{code="no_rtp"}}{R}))', "no RTP")],
            "reqps",
        ),
        # audio scores of sampled calls (issue 24): what the caller heard, beside the network's E-model MOS
        panel(
            "Audio score of sampled calls (p50, p5 by method)",
            [(q("rtcload_audio_mos", p, "le, method"), f"p{round(p * 100)} {{{{method}}}}") for p in (0.05, 0.5)],
        ),
    ],
)

RECONNECTION = dashboard(
    "rtcload-reconnection",
    "rtcload / reconnection",
    [
        panel(
            "Reconnects/s by result", [(f"sum by (result) (rate(rtcload_reconnects_total{R}))", "{{result}}")], "reqps"
        ),
        panel("Reconnect time", percentiles("rtcload_reconnect_seconds", (0.5, 0.95)), "s"),
        panel(
            "Calls after reconnect: reattached or lost",
            [(f"sum by (result) (rate(rtcload_reattach_total{R}))", "{{result}}")],
            "reqps",
        ),
        panel("Media gap around a reconnect", percentiles("rtcload_media_gap_seconds", (0.5, 0.95)), "s"),
        panel(
            "Emulator: faults injected and calls reattached",
            [
                (f"sum by (fault) (rate(rtcload_emulator_faults_total{R}))", "{{fault}}"),
                (f"sum(rate(rtcload_emulator_reattached_total{R}))", "reattached"),
            ],
            "reqps",
        ),
        panel(
            "Emulator sessions",
            [
                ("sum by (state) (rtcload_emulator_sessions)", "{{state}}"),
                ("sum(rtcload_emulator_connections)", "sockets"),
            ],
        ),
    ],
)

HEALTH = dashboard(
    "rtcload-generator-health",
    "rtcload / generator health",
    [
        panel(
            "Loop lag p99 (last 10 s) per process",
            [("max by (instance, loop) (rtcload_loop_lag_seconds)", "{{instance}} {{loop}}")],
            "s",
        ),
        panel(
            "Loop lag p99 over all processes",
            [(q("rtcload_loop_lag_samples_seconds", 0.99, "le, loop"), "{{loop}}")],
            "s",
        ),
        panel(
            "Process CPU (1.0 = one core)",
            [("max by (instance, role) (rtcload_process_cpu_ratio)", "{{instance}} {{role}}")],
            "percentunit",
        ),
        panel(
            "Resident memory per process (a soak's slope after warm-up is a leak)",
            [
                ("max by (instance, role) (rtcload_process_resident_memory_bytes)", "{{instance}} {{role}}"),
                ("max by (instance) (rtcload_emulator_process_resident_memory_bytes)", "emulator {{instance}}"),
            ],
            "bytes",
        ),
        panel(
            "Open FDs, UDP sockets and asyncio tasks per process",
            [
                ("max by (instance, role) (rtcload_process_open_fds)", "fds {{instance}} {{role}}"),
                ("max by (instance, role) (rtcload_process_udp_sockets)", "udp {{instance}} {{role}}"),
                ("max by (instance, role) (rtcload_process_asyncio_tasks)", "tasks {{instance}} {{role}}"),
                ("max by (instance) (rtcload_emulator_process_open_fds)", "fds emulator {{instance}}"),
                ("max by (instance) (rtcload_emulator_process_udp_sockets)", "udp emulator {{instance}}"),
                ("max by (instance) (rtcload_emulator_process_asyncio_tasks)", "tasks emulator {{instance}}"),
            ],
        ),
        panel("Saturated processes", [("sum(rtcload_generator_saturated)", "saturated")], kind="stat"),
        panel("Users per process", [("sum by (instance) (rtcload_users)", "{{instance}}")]),
        panel("Scrape targets up", [('sum by (job) (up{job=~"rtcload.*"})', "{{job}}")]),
    ],
)


def main() -> None:
    for name, board in (
        ("overview", OVERVIEW),
        ("quality", QUALITY),
        ("reconnection", RECONNECTION),
        ("generator_health", HEALTH),
    ):
        (HERE / f"rtcload-{name}.json").write_text(json.dumps(board, indent=2) + "\n")


if __name__ == "__main__":
    main()
