"""pymalloc's figures, read in-process through open_memstream: they follow real allocations, and the
parser reads CPython's own text (not a hand-written copy of it)."""

from __future__ import annotations

import gc
import sys

import pytest

from rtcload import pymalloc
from rtcload.procstats import sample_self

pytestmark = pytest.mark.skipif(pymalloc.stats_text() is None, reason="this CPython runs without pymalloc")


def test_figures_follow_objects_kept_and_freed():
    gc.collect()
    before = pymalloc.figures()
    kept = [{"n": i} for i in range(100_000)]  # ~100 B each in pymalloc's small blocks
    during = pymalloc.figures()
    del kept
    gc.collect()
    after = pymalloc.figures()
    assert set(before) == {"py_arena_bytes", "py_block_bytes", "py_free_block_bytes"}
    assert during["py_block_bytes"] - before["py_block_bytes"] > 8_000_000
    assert during["py_arena_bytes"] >= during["py_block_bytes"] + during["py_free_block_bytes"]
    assert during["py_block_bytes"] - after["py_block_bytes"] > 8_000_000


def test_parse_reads_the_text_cpython_prints(capfd):
    sys._debugmallocstats()  # CPython's own print of the same figures, to stderr
    printed = pymalloc.parse(capfd.readouterr().err)
    ours = pymalloc.figures()
    assert printed.keys() == ours.keys()
    assert printed["py_arena_bytes"] > 0
    # the two reads are moments apart: the same arenas, give or take the test's own allocations
    assert abs(printed["py_arena_bytes"] - ours["py_arena_bytes"]) <= 2 * 2**20


def test_soak_samples_carry_the_figures():
    sample = sample_self(count_objects=False)
    assert sample["py_arena_bytes"] >= sample["py_block_bytes"] > 0
    assert sample["rss_bytes"] > sample["py_arena_bytes"]
