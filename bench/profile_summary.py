"""Where a process' time goes, from py-spy's collapsed stacks (`py-spy record --format raw`).

Prints the share of samples per leaf function (self time) and per category (inclusive: a sample counts
for the first category whose pattern appears anywhere in its stack, checked in order), so a profile can
be read beside bench/engine_floor.py's per-packet floor.

    python bench/profile_summary.py /tmp/prof-engine-gen.txt --top 25
"""

from __future__ import annotations

import argparse
import collections

# (category, substrings of a frame "function (file:line)"); the first category matching any frame wins
CATEGORIES: list[tuple[str, tuple[str, ...]]] = [
    ("gc", ("(gc)", "garbage collection")),
    (
        "RTP send (pack, SRTP protect, sendto; tick or echo)",
        ("_send (rtcload/media/engine/stream.py", "send (rtcload/media/engine/takeover.py"),
    ),
    ("engine RTCP", ("send_rtcp (rtcload/media/engine", "_on_rtcp (rtcload/media/engine")),
    ("engine tick: other", ("on_tick (rtcload/media/engine/stream.py", "on_native (rtcload/media/engine/native.py")),
    # the native engine's C tick (pack, SRTP protect, sendto of every stream) shows as its Python caller
    ("engine tick (native: C send of every stream)", ("tick (rtcload/media/engine/native.py",)),
    ("engine tick: other", ("_tick (rtcload/media/engine/engine.py",)),
    ("engine receive: echo forward", ("forward (rtcload/media/engine/stream.py",)),
    ("engine receive: payload analysis", ("add_payload (rtcload/media/lean.py",)),
    ("engine receive: SRTP, parse, stats", ("on_datagram (rtcload/media/engine/stream.py",)),
    ("socket read + demux", ("received (rtcload/media/engine/takeover.py", "_read_ready", "datagram_received")),
    ("aiortc/aioice (ICE consent, DTLS, signalling)", ("aioice", "aiortc")),
    (
        "stats sampling / call bookkeeping",
        ("rtcload/media/stats.py", "rtcload/media/session.py", "rtcload/media/peer.py"),
    ),
    ("bench harness", ("bench/",)),
    ("asyncio loop (select, scheduling)", ("asyncio", "uvloop", "selectors")),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("files", nargs="+")
    parser.add_argument("--top", type=int, default=20)
    args = parser.parse_args()
    for path in args.files:
        leaves: collections.Counter[str] = collections.Counter()
        categories: collections.Counter[str] = collections.Counter()
        total = 0
        with open(path) as f:
            for line in f:
                stack, _, count_text = line.rstrip("\n").rpartition(" ")
                if not stack or not count_text.isdigit():
                    continue
                count = int(count_text)
                frames = stack.split(";")
                total += count
                leaves[frames[-1]] += count
                if frames[-1].startswith(("main (", "<module> (")):
                    # the leaf is the top-level frame: time in C under run_until_complete (uvloop: epoll, reads,
                    # timers; with the native engine also its receive path, called by uvloop with no Python frame)
                    categories["event loop internals (C: epoll, socket reads, timers; native receive)"] += count
                    continue
                for name, patterns in CATEGORIES:
                    if any(p in frame for frame in frames for p in patterns):
                        categories[name] += count
                        break
                else:
                    categories["other"] += count
        print(f"## {path}: {total} samples")
        for name, count in categories.most_common():
            print(f"{100 * count / max(1, total):6.1f} %  {name}")
        print(f"-- top {args.top} leaf functions (self time)")
        for frame, count in leaves.most_common(args.top):
            print(f"{100 * count / max(1, total):6.1f} %  {frame[:150]}")


if __name__ == "__main__":
    main()
