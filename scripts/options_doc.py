#!/usr/bin/env python3
"""Build the option registry from rtcload's definitions and write docs/options.md (`--check`: fail if stale).

The registry (rtcload/options/registry.py) is read from each command's argparse parser
(rtcload.cli.build_parser), the Locust options the scenarios register (settings, open model, warm-up,
soak), and the variables read only from the environment. `--check` is run by CI (.ci/run) and by
tests/test_options_registry.py: a flag or RTCLOAD_* variable added anywhere changes the file.
Importing Locust patches the process with gevent, so run this as its own process.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from dataclasses import asdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

DOC = ROOT / "docs" / "options.md"

# Variables read only from the environment: where each is defined, and what it does.
ENV_ONLY: dict[str, tuple[str, str, str, tuple[str, ...]]] = {
    # name: (kind, default, help, commands)
    "RTCLOAD_ENGINE_NATIVE": (
        "bool",
        "on",
        "off: the media engine's pure-Python per-packet path, not the C one",
        ("run", "capacity", "call", "emulator"),
    ),
    "RTCLOAD_SEND_THREAD": (
        "bool",
        "on",
        "off: the C engine's streams are sent by the event loop's clock, not by the engine's send thread",
        ("run", "capacity", "call", "emulator"),
    ),
    "RTCLOAD_SEND_THREAD_RT": (
        "bool",
        "on",
        "off: the engine's send thread does not ask for real-time priority (SCHED_FIFO 1)",
        ("run", "capacity", "call", "emulator"),
    ),
    "RTCLOAD_GC_FREEZE": (
        "bool",
        "on",
        "off: do not gc.freeze() the startup heap of a media process",
        ("run", "capacity", "call", "emulator"),
    ),
    "RTCLOAD_GC_QUIET": (
        "bool",
        "on",
        "off: keep Python's automatic full collections after the startup freeze (on: none, ended calls are "
        "freed by reference counting; media/heap.py)",
        ("run", "capacity", "call", "emulator"),
    ),
    "RTCLOAD_TRACEMALLOC": (
        "path",
        "",
        "a directory: the soak_reconnect scenario's Locust processes and the emulator trace their Python "
        "allocations and write snapshots there (rtcload/memtrace.py; diff with bench/memdiff.py). Costly: "
        "for finding a leak, not for a measured run",
        ("locust", "emulator"),
    ),
    "RTCLOAD_TRACEMALLOC_EVERY": (
        "duration",
        "300",
        "with RTCLOAD_TRACEMALLOC: the interval between snapshots",
        ("locust", "emulator"),
    ),
    "RTCLOAD_DTLS_CERTIFICATE": (
        "choice",
        "shared",
        "DTLS certificate policy of a process: shared or per-call",
        ("run", "capacity", "call", "emulator"),
    ),
    "RTCLOAD_STEP_USERS": ("count", "10", "capacity scenario (StepShape): users added per step", ("locust",)),
    "RTCLOAD_STEP_SECONDS": ("duration", "60", "capacity scenario (StepShape): length of a step", ("locust",)),
    "RTCLOAD_MAX_USERS": ("count", "100", "capacity scenario (StepShape): stop above this many users", ("locust",)),
    "RTCLOAD_TOKEN": (
        "secret",
        "",
        "rtcload call: JWT for login_token (instead of --token on a visible command line)",
        ("call",),
    ),
    "RTCLOAD_PASSWORD": ("secret", "", "rtcload call: SIP password (instead of --password)", ("call",)),
    "RTCLOAD_CALL_DURATION": (
        "distribution",
        "",
        "old name of RTCLOAD_HOLDING: still read for a release, with a deprecation warning",
        ("locust",),
    ),
    "RTCLOAD_LEAN": (
        "bool",
        "off",
        "old spelling of RTCLOAD_MEDIA_PATH=lean: still read for a release, with a deprecation warning",
        ("locust",),
    ),
    "RTCLOAD_JWT_SECRET": (
        "secret",
        "",
        "rtcload emulator: the HS256 secret for login tokens (or --jwt-secret-file)",
        ("emulator",),
    ),
}


# What definitions do not say yet (an untyped argparse option, settings' "str"): the kind of value each
# option takes, by name, or by (command, name) where one name means two things. The registry round
# that builds the parsers will carry these in the definitions themselves.
KIND_OF: dict[str, str] = {
    "--duration": "duration",
    "--step-duration": "duration",
    "--warmup": "duration",
    "--rtc-step-duration": "duration",
    "--holding": "distribution",
    "--think": "distribution",
    "--rtc-warmup": "duration",
    "--rtc-think-time": "distribution",
    "--rtc-holding": "distribution",
    "--answer-delay": "distribution",
    "--ring-delay": "distribution",
    "--rtc-cps": "rate",
    "--results": "path",
    "--report": "path",
    "--junit": "path",
    "--json-file": "path",
    "--config": "path",
    "--users-file": "path",
    "--merge": "path",
    "--slo-file": "path",
    "--ca-file": "path",
    "--emulator-users-file": "path",
    "--jwt-secret-file": "path",
    "--rtc-ca-file": "path",
    "--rtc-call-records": "path",
    "--rtc-ledger": "path",
    "--rtc-health-file": "path",
    "--rtc-max-send-gap": "duration",
    "--rtc-resource-report": "path",
    "--rtc-call-reports": "bool",
    "--rtc-max-concurrent": "count",
    "--rtc-generators": "count",
    "--rtc-resource-interval": "number",
    "--rtc-control-token": "secret",
    "--control-token": "secret",
}
KIND_ON: dict[tuple[str, str], str] = {
    ("run", "--cps"): "rate",
    ("emulator", "--echo-playout"): "duration",
    ("call", "--json"): "bool",
}


def kinds_for(command: str, parser: argparse.ArgumentParser) -> dict[str, str]:
    names = {max(a.option_strings, key=len) for a in parser._actions if a.option_strings}
    out = {name: KIND_OF[name] for name in names if name in KIND_OF}
    out.update({name: kind for (on, name), kind in KIND_ON.items() if on == command and name in names})
    return out


def locust_rows() -> list:
    """The options the scenarios register on Locust's parser (`rtcload run -- ...` or `locust` itself)."""
    from locust.argument_parser import LocustArgumentParser

    from rtcload.gates import warmup
    from rtcload.loadgen import open_model, settings
    from rtcload.loadgen.scenarios import soak_reconnect
    from rtcload.options.registry import options_of

    parser = LocustArgumentParser(add_help=False)
    settings.add_locust_arguments(parser)
    open_model.add_open_model_arguments(parser)
    warmup._add_option(parser)
    soak_reconnect._soak_arguments(parser)
    env_of = {flag: env for flag, env, *_rest in settings.LOAD_OPTIONS}
    env_of.update({flag: env for flag, env, *_rest in open_model.OPTIONS})
    env_of["--rtc-warmup"] = "RTCLOAD_WARMUP"  # its default is read from it (rtcload/gates/warmup.py)
    return options_of(parser, "locust", env_of, {**table_kinds(settings.LOAD_OPTIONS), **kinds_for("locust", parser)})


def table_kinds(load_options: tuple) -> dict[str, str]:
    """settings' own kind column, where it says more than argparse does (bool, secret, numbers)."""
    kinds = {flag: {"float": "number", "int": "count"}.get(k, k) for flag, _e, _d, _h, k in load_options}
    return {flag: kind for flag, kind in kinds.items() if kind in ("bool", "number", "count", "secret")}


def build() -> list:
    from rtcload.cli import build_parser
    from rtcload.loadgen.settings import LOAD_OPTIONS
    from rtcload.options.registry import Option, merge, options_of, subparsers_of

    env_of = {flag: env for flag, env, *_rest in LOAD_OPTIONS}
    top = build_parser()
    rows = options_of(top, "rtcload")
    for name, parser in subparsers_of(top).items():
        rows += options_of(parser, name, env_of, {**table_kinds(LOAD_OPTIONS), **kinds_for(name, parser)})
    rows += locust_rows()
    for name, (kind, default, help_text, commands) in ENV_ONLY.items():
        rows.append(
            Option(name, kind, "s" if kind == "duration" else "", default, name, help_text, commands, "environment")
        )
    return merge(rows)


def render() -> str:
    from rtcload.options.registry import render_markdown

    return render_markdown(build())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if the doc is not what the registry gives")
    parser.add_argument("--doc", type=Path, default=DOC, help="the file to write or check (default docs/options.md)")
    parser.add_argument("--json", action="store_true", help="print the registry as JSON (for tests)")
    args = parser.parse_args(argv)
    for name in [n for n in os.environ if n.startswith("RTCLOAD_")]:  # defaults read from the environment would
        del os.environ[name]  # make the doc depend on who runs it, and could print a token into it
    if args.json:
        print(json.dumps([asdict(row) for row in build()]))
        return 0
    text = render()
    if args.check:
        if not args.doc.exists() or args.doc.read_text(encoding="utf-8") != text:
            print(f"{args.doc} is stale: run `python3 scripts/options_doc.py` and commit it", file=sys.stderr)
            return 1
        return 0
    args.doc.write_text(text, encoding="utf-8")
    print(f"wrote {args.doc}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
