"""`rtcload run`'s arguments: the general options, the embedded emulator, ICE, gates, outputs, the open
model and every --rtc-* load option (settings.LOAD_OPTIONS and the scenarios' own, scenario_options),
grouped as `rtcload run --help` shows them and as a run file's tables name them (run_config).
"""

from __future__ import annotations

import argparse

from rtcload.gates.defaults import DEFAULT_GATES, SOAK_GATES
from rtcload.loadgen.resources import GrowthLimits
from rtcload.loadgen.scenario_options import ALL_LOAD_OPTIONS
from rtcload.loadgen.scenarios import SCENARIOS
from rtcload.media.ice_options import ENV_SERVERS
from rtcload.media_paths import DEFAULT_MEDIA_PATH, MEDIA_PATHS
from rtcload.options.build import add_old_spellings, add_options
from rtcload.traffic import ARRIVALS

LOAD_GROUP = "load options (--rtc-*, also accepted after --; each has an RTCLOAD_* environment variable)"


GROUPS = (  # `rtcload run --help`'s sections, in order (run_config.TABLES names a run file's tables after them)
    "embedded emulator (no --target)",
    "ICE / TURN (same options as `rtcload call`)",
    "gates (exit 1 when an SLO fails, 3 when a default gate fails)",
    "outputs",
    "open-model load: calls per second (SIPp's -r, -l, -d)",
    LOAD_GROUP,
    "soak (scenario soak_reconnect)",
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """`rtcload run`'s options, from the registry (rtcload/options/registry.toml); the --rtc-* ones from the
    scenarios' tables of the same registry (add_load_arguments)."""
    parser.epilog = (
        "exit codes: 0 every gate held, 1 an SLO failed, 2 usage error, 3 run broken (a default gate failed: "
        f"{', '.join(DEFAULT_GATES)}; or Locust crashed), 128+n stopped by signal n. "
        "`rtcload run -- --help` shows Locust's own options."
    )
    same = {
        **gate_same(),
        "--emulator-media-path": {"choices": MEDIA_PATHS, "default": DEFAULT_MEDIA_PATH},
        "--ice-server": {"env": ENV_SERVERS},
        "--arrival": {"choices": ARRIVALS},
        "--soak-max-fd-per-h": {"default": GrowthLimits.fd_per_h},
    }
    fmt = {**gate_fmt(), "--scenario": {"scenarios": ", ".join(SCENARIOS)}}
    groups = add_options(parser, "run", fmt=fmt, same=same, order=GROUPS)
    add_load_arguments(groups[LOAD_GROUP])
    parser.add_argument("locust_args", nargs=argparse.REMAINDER, help="after --: passed to Locust unchanged")


def gate_fmt() -> dict[str, dict[str, str]]:
    """--no-gate's help lists the gates (run and capacity)."""
    gates = "; ".join(f"{name}: {what}" for name, (what, _c) in {**DEFAULT_GATES, **SOAK_GATES}.items())
    return {"--no-gate": {"gates": gates}}


def gate_same() -> dict[str, dict[str, object]]:
    """--no-gate's choices are the gates (the registry lists them; checked here)."""
    return {"--no-gate": {"choices": (*DEFAULT_GATES, *SOAK_GATES)}}


def add_load_arguments(group: argparse._ArgumentGroup) -> None:
    """The --rtc-* load options, listed in `rtcload run --help` and forwarded to Locust as given."""
    for flag, env, default, raw_help, kind in ALL_LOAD_OPTIONS:
        help_text = raw_help.replace("%", "%%")
        shown = "" if kind == "bool" else f" (default {default!r}; env {env})"
        if kind == "bool":
            group.add_argument(flag, action="store_true", default=argparse.SUPPRESS, help=help_text + f" (env {env})")
        else:
            group.add_argument(flag, default=argparse.SUPPRESS, metavar="VALUE", help=help_text + shown)
    # --rtc-call-duration, --rtc-lean (names.RENAMED): hidden, with a deprecation warning
    add_old_spellings(group, "run", (flag for flag, *_rest in ALL_LOAD_OPTIONS))


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
