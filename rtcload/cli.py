"""`rtcload` command line: one entry point, one subcommand per job; each room owns its arguments."""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Callable

from rtcload.options.build import add_options

# subcommand -> (module, help); modules expose add_arguments(parser) and run(args) -> int
SUBCOMMANDS: dict[str, tuple[str, str]] = {
    "run": ("rtcload.loadgen.run_command", "run a load scenario (default: smoke against the embedded emulator)"),
    "call": ("rtcload.call_command", "place one call and print every phase's timing and quality"),
    "emulator": ("rtcload.emulator.cli", "run the embedded platform emulator (or mint a test token)"),
    "compare": ("rtcload.gates.compare", "compare a run summary with a baseline; exit 1 on a regression"),
    "capacity": (
        "rtcload.loadgen.capacity_command",
        "step the load up and bisect to the highest load that meets the SLOs",
    ),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="rtcload", description=__doc__)
    add_options(parser, "rtcload")  # -v; every command's options come from the registry (rtcload/options)
    sub = parser.add_subparsers(dest="command", required=True)
    for name, (module_name, help_text) in SUBCOMMANDS.items():
        module = importlib.import_module(module_name)
        child = sub.add_parser(name, help=help_text, description=help_text)
        module.add_arguments(child)
        child.set_defaults(_run=module.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    args._argv = list(sys.argv[1:] if argv is None else argv)  # which options were given (run --config)
    level = logging.WARNING - 10 * min(args.verbose, 2)
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    runner: Callable[[argparse.Namespace], int] = args._run
    try:
        return int(runner(args) or 0)
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
