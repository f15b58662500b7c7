#!/usr/bin/env python3
"""Check that every command's parser is the option registry's, and write docs/options.md from the registry.

The registry is rtcload/options/registry.toml; every parser is built from it (rtcload/options/build.py,
and the scenarios' --rtc-* tables). This builds each command's parser (rtcload.cli.build_parser) and the
options the scenarios register on Locust (settings, open model, warm-up, soak), and fails, naming the
flag, when a parser takes a flag the registry does not give that command or misses one it does. `--check`
(CI: .ci/run, and tests/test_options_registry.py) also fails when docs/options.md is not what the
registry gives. Importing Locust patches the process with gevent, so run this as its own process.
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


def locust_parser() -> argparse.ArgumentParser:
    """Locust's parser as a run builds it (`rtcload run -- ...` or `locust` itself): every scenario and the
    warm-up plugin imported and Locust's init_command_line_parser event fired, so each listener that
    registers options (through build.add_locust_options, or a bare add_argument) is what is checked."""
    import importlib

    from locust import events
    from locust.argument_parser import LocustArgumentParser

    from rtcload.loadgen.scenarios import SCENARIOS

    for module in (*(f"rtcload.loadgen.scenarios.{name}" for name in SCENARIOS), "rtcload.gates.warmup"):
        importlib.import_module(module)
    parser = LocustArgumentParser(add_help=False)
    events.init_command_line_parser.fire(parser=parser)
    return parser


def parsers() -> dict[str, argparse.ArgumentParser]:
    """Every parser of rtcload, by command ("rtcload" holds the global options, "locust" the scenarios')."""
    from rtcload.cli import build_parser
    from rtcload.options.registry import subparsers_of

    top = build_parser()
    return {"rtcload": top, **subparsers_of(top), "locust": locust_parser()}


def build() -> tuple[list, list[str]]:
    """The registry's rows as docs/options.md lists them, and what the parsers and the registry disagree on."""
    from rtcload.options.registry import doc_rows, parity

    built = parsers()
    return doc_rows(built), parity(built)


def counts(rows: list) -> dict[str, object]:
    """The size of the vocabulary (for closing notes): flags --help lists per command, variables, names."""
    from rtcload.options.registry import flags_of

    shown = {
        command: sorted(n for n, a in flags_of(parser).items() if a.help != argparse.SUPPRESS)
        for command, parser in parsers().items()
    }
    flags = {name for names in shown.values() for name in names}
    variables = {row.env for row in rows if row.env}
    env_only = {row.name for row in rows if not row.name.startswith("-")}
    return {
        "flags_per_command": {command: len(names) for command, names in shown.items()},
        "flag_names": len(flags),
        "variables": len(variables),
        "variables_without_a_flag": len(env_only),
        "names": len(flags | env_only),
        "registry_rows": len(rows),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if the doc is not what the registry gives")
    parser.add_argument("--doc", type=Path, default=DOC, help="the file to write or check (default docs/options.md)")
    parser.add_argument("--json", action="store_true", help="print the registry as JSON (for tests)")
    parser.add_argument("--counts", action="store_true", help="print flags per command, variables and names")
    args = parser.parse_args(argv)
    for name in [n for n in os.environ if n.startswith("RTCLOAD_")]:  # defaults read from the environment would
        del os.environ[name]  # make the doc depend on who runs it, and could print a token into it
    rows, problems = build()
    if problems:
        print("the parsers and the option registry disagree:", *problems, sep="\n  ", file=sys.stderr)
    if args.counts:
        print(json.dumps(counts(rows), indent=1))
        return 0
    if args.json:  # the registry's rows whatever the parsers say (tests judge each part on its own)
        print(json.dumps([asdict(row) for row in rows]))
        return 0
    if problems:
        return 1
    from rtcload.options.registry import render_markdown

    text = render_markdown(rows)
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
