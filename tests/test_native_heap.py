"""Freed native memory is handed back to the kernel on a timer (media/native_heap.py, issue 22).

Each test runs in its own interpreter: the trimmer is once per process, and RSS must be read clean.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

FRAGMENT_AND_WAIT = """
import ctypes, json, os, sys, time
from gevent import monkey  # imported before the first RSS reading: the trimmer's thread tools come from it
from rtcload.media import native_heap

def rss():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")

chunks = [ctypes.create_string_buffer(1000) for _ in range(60_000)]  # ~60 MB of 1 KB malloc chunks
kept = chunks[::16]  # one in 16 stays: 15 KB holes below chunks still in use, which glibc keeps resident
del chunks
before = rss()
started = native_heap.start_native_heap_trim()
deadline = time.monotonic() + 60
while native_heap.trims()[0] == 0 and time.monotonic() < deadline:
    BLOCK(0.05)
print(json.dumps({"started": started, "trims": native_heap.trims(), "freed_mb": (before - rss()) / 2**20}))
"""


def run(script: str, interval: str, block: str = "time.sleep") -> dict:
    code = textwrap.dedent(script).replace("BLOCK", block)
    env_vars = {"RTCLOAD_MALLOC_TRIM": interval, "PATH": "/usr/bin:/bin"}
    env_vars.update({k: v for k, v in os.environ.items() if k.startswith("PYTHON")})
    out = subprocess.run([sys.executable, "-c", code], env=env_vars, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_the_trimmer_gives_freed_holes_back_to_the_kernel():
    result = run(FRAGMENT_AND_WAIT, "0.2")
    assert result["started"] and result["trims"][0] >= 1
    assert result["freed_mb"] > 25, f"the trim gave back only {result['freed_mb']:.1f} MB of ~56 MB of holes"


def test_zero_turns_it_off():
    script = FRAGMENT_AND_WAIT.replace("deadline = time.monotonic() + 60", "deadline = time.monotonic() + 1")
    result = run(script, "0")
    assert not result["started"] and result["trims"] == [0, 0]
    assert result["freed_mb"] < 5


def test_it_trims_on_a_real_thread_in_a_gevent_patched_process():
    """Locust's processes are monkey-patched: a greenlet trimmer would run only when the hub is free.
    The main thread blocks here in a real (unpatched) sleep, so only an OS thread can trim meanwhile."""
    script = FRAGMENT_AND_WAIT.replace("from gevent import monkey ", "from gevent import monkey; monkey.patch_all() ")
    result = run(script, "0.2", block="monkey.get_original('time', 'sleep')")
    assert result["started"] and result["trims"][0] >= 1
