"""Imported first, for its effect, by the benches that take `--tree PATH`: rtcload is then imported from that
checkout (an A/B against another commit), else from the one this script is in; bench._common always comes
from this checkout. One place for what three benches each wrote out."""

from __future__ import annotations

import os
import sys

THIS_TREE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def tree_from_argv(argv: list[str] = sys.argv) -> str:
    """The checkout to import rtcload from: `--tree PATH`, else this script's."""
    if "--tree" in argv:
        return os.path.abspath(argv[argv.index("--tree") + 1])
    return THIS_TREE


sys.path.insert(0, THIS_TREE)  # bench._common
sys.path.insert(0, tree_from_argv())  # rtcload (first: another tree wins)
