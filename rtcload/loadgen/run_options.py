"""`rtcload run`'s arguments: the general options, the embedded emulator, ICE, gates, outputs, the open
model and every --rtc-* load option (settings.LOAD_OPTIONS and the scenarios' own, scenario_options),
grouped as `rtcload run --help` shows them and as a run file's tables name them (run_config).
"""

from __future__ import annotations

import argparse

from rtcload.emulator.playout import parse_playout
from rtcload.gates.defaults import DEFAULT_GATES, SOAK_GATES
from rtcload.loadgen import open_options, run_config
from rtcload.loadgen.resources import GrowthLimits
from rtcload.loadgen.scenario_options import ALL_LOAD_OPTIONS
from rtcload.loadgen.scenarios import SCENARIOS
from rtcload.loadgen.settings import add_renamed_arguments
from rtcload.media.ice_options import add_ice_arguments
from rtcload.media_paths import DEFAULT_MEDIA_PATH, MEDIA_PATHS
from rtcload.options import names


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.epilog = (
        "exit codes: 0 every gate held, 1 an SLO failed, 2 usage error, 3 run broken (a default gate failed: "
        f"{', '.join(DEFAULT_GATES)}; or Locust crashed), 128+n stopped by signal n. "
        "`rtcload run -- --help` shows Locust's own options."
    )
    parser.add_argument("--scenario", default="smoke", help=f"one of {', '.join(SCENARIOS)} or a locustfile path")
    parser.add_argument("--target", help="ws:// or wss:// URL (default: start the embedded emulator on loopback)")
    parser.add_argument(
        "--users", type=int, default=None, help="concurrent virtual users (10; with --cps: the endpoint pool, sized)"
    )
    parser.add_argument("--spawn-rate", type=float, default=5.0, help="users started per second")
    parser.add_argument("--duration", default="30s", help="run time (Locust syntax: 30s, 5m, 1h)")
    parser.add_argument("--processes", type=int, default=1, help="Locust processes on this machine (one per core)")
    parser.add_argument("--web", action="store_true", help="show Locust's web UI instead of running headless")
    parser.add_argument("--web-host", default="127.0.0.1", help="--web: address the UI binds (default loopback)")
    parser.add_argument("--results", default="rtcload-results", help="directory for CSV, logs and summary.json")
    run_config.add_config_arguments(parser)
    emu = parser.add_argument_group("embedded emulator (no --target)")
    emu.add_argument("--impair-up", help="impair media client->platform (profile or spec)")
    emu.add_argument("--impair-down", help="impair media platform->client (profile or spec)")
    emu.add_argument(
        "--emulator-media-path",
        choices=MEDIA_PATHS,
        default=DEFAULT_MEDIA_PATH,
        help="the emulator's media: the media engine (default) or an aiortc baseline (lean, naive)",
    )
    add_emulator_media_argument(emu)
    names.add_renamed(emu, "--emulator-lean", dest="emulator_media_path", const="lean")
    emu.add_argument(
        "--emulator-echo-playout",
        type=echo_playout,
        default=None,
        metavar="DELAY",
        help="the emulator's echo and relay playout delay, as `rtcload emulator --echo-playout` (default 60ms; "
        "0 = forward at once)",
    )
    emu.add_argument(
        "--emulator-users-file", metavar="CSV", help="users file (username,password[,number]) instead of open mode"
    )
    names.add_renamed(emu, "--emulator-users", dest="emulator_users_file")
    ice = parser.add_argument_group("ICE / TURN (same options as `rtcload call`)")
    add_ice_arguments(ice)
    add_gate_arguments(parser)
    out = parser.add_argument_group("outputs")
    out.add_argument("--junit", help="JUnit XML path (default: RESULTS/junit.xml)")
    out.add_argument("--report", help="HTML report path (default: RESULTS/report.html)")
    out.add_argument("--no-report", action="store_true", help="do not write the HTML report")
    open_options.add_open_arguments(parser)
    add_load_arguments(parser)
    soak = parser.add_argument_group("soak (scenario soak_reconnect)")
    soak.add_argument(
        "--soak-max-fd-per-h",
        type=float,
        default=GrowthLimits.fd_per_h,
        help="FD (and UDP socket) growth the gate allows",
    )
    soak.add_argument("--soak-warmup", help="left out of the resource slopes (default 10m, at most a third of the run)")
    parser.add_argument("locust_args", nargs=argparse.REMAINDER, help="after --: passed to Locust unchanged")


def add_emulator_media_argument(parser: argparse.ArgumentParser | argparse._ArgumentGroup) -> None:
    """--emulator-media aiortc|none (`none`: signaling only, as --rtc-media none; `static` is the old name)."""
    parser.add_argument(
        "--emulator-media",
        type=names.choice("--emulator-media", ("aiortc", "none"), {"static": "none"}),
        default="aiortc",
        metavar="{aiortc,none}",
        help="embedded emulator: aiortc (real media) or none (signaling only, a fixed SDP)",
    )


def echo_playout(text: str) -> str:
    """--emulator-echo-playout: checked here (a usage error, exit 2) and passed on to the emulator as given."""
    try:
        parse_playout(text, "--emulator-echo-playout")
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return text.strip()


def add_gate_arguments(parser: argparse.ArgumentParser) -> None:
    """SLO options shared by `rtcload run` and `rtcload capacity`."""
    group = parser.add_argument_group("gates (exit 1 when an SLO fails, 3 when a default gate fails)")
    group.add_argument(
        "--slo", action="append", default=[], metavar="RULE", help="an objective, e.g. 'registration p95 < 500ms'"
    )
    group.add_argument("--slo-file", help="TOML (or YAML) file of objectives; see docs/ci.md")
    group.add_argument("--warmup", help="drop the first DURATION of samples (e.g. 10s); overrides the SLO file")
    group.add_argument(
        "--no-gate",
        action="append",
        default=[],
        metavar="NAME",
        choices=(*DEFAULT_GATES, *SOAK_GATES),
        help="turn a default gate off (repeatable): "
        + "; ".join(f"{name}: {what}" for name, (what, _c) in {**DEFAULT_GATES, **SOAK_GATES}.items()),
    )


def add_load_arguments(parser: argparse.ArgumentParser) -> None:
    """The --rtc-* load options, listed in `rtcload run --help` and forwarded to Locust as given."""
    group = parser.add_argument_group(
        "load options (--rtc-*, also accepted after --; each has an RTCLOAD_* environment variable)"
    )
    for flag, env, default, raw_help, kind in ALL_LOAD_OPTIONS:
        help_text = raw_help.replace("%", "%%")
        shown = "" if kind == "bool" else f" (default {default!r}; env {env})"
        if kind == "bool":
            group.add_argument(flag, action="store_true", default=argparse.SUPPRESS, help=help_text + f" (env {env})")
        else:
            group.add_argument(flag, default=argparse.SUPPRESS, metavar="VALUE", help=help_text + shown)
    add_renamed_arguments(group)  # --rtc-call-duration, --rtc-lean: hidden, with a deprecation warning


def load_option_args(args: argparse.Namespace) -> tuple[list[str], dict[str, str]]:
    """--rtc-* options given before `--`: as Locust arguments, secrets as environment variables."""
    argv: list[str] = []
    env: dict[str, str] = {}
    for flag, env_name, _default, _help, kind in ALL_LOAD_OPTIONS:
        attr = flag.removeprefix("--").replace("-", "_")
        if not hasattr(args, attr):
            continue
        value = getattr(args, attr)
        if kind == "bool":
            argv.append(flag)
        elif kind == "secret":
            env[env_name] = str(value)
        else:
            argv += [flag, str(value)]
    return argv, env
