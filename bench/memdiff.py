"""What grew between two allocation snapshots of a soak (written with `RTCLOAD_TRACEMALLOC=DIR`, see
rtcload/memtrace.py): the top allocation sites by line and by traceback, and the object types whose
count grew, per process.

    RTCLOAD_TRACEMALLOC=/tmp/trace RTCLOAD_TRACEMALLOC_EVERY=4m \
        python bench/soak.py --duration 22m --users 16 --sample 60s --warmup 6m
    python bench/memdiff.py /tmp/trace                 # each process: its 2nd snapshot vs its last
    python bench/memdiff.py /tmp/trace --first 1 --last 4 --top 15 --frames 10

A site that grows by about the same amount between every pair of snapshots is a slope; one that grows
once and stays is warm-up. Compare the pairs before calling anything a leak.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import tracemalloc
from collections import defaultdict
from pathlib import Path

NAME = re.compile(r"^(?P<proc>[a-z]+-\d+)-(?P<n>\d+)\.tracemalloc$")


def snapshots(directory: Path) -> dict[str, list[Path]]:
    """Snapshot files per process (`role-pid`), oldest first."""
    found: dict[str, list[Path]] = defaultdict(list)
    for path in sorted(directory.iterdir()):
        m = NAME.match(path.name)
        if m:
            found[m["proc"]].append(path)
    return dict(found)


def print_stats(title: str, stats: list[tracemalloc.StatisticDiff], top: int, frames: int) -> None:
    print(f"\n  -- {title}")
    for stat in stats[:top]:
        print(f"  {stat.size_diff / 1024:+9.1f} KiB {stat.count_diff:+8d} blocks  (now {stat.size / 1024:.0f} KiB)")
        for line in stat.traceback.format(limit=frames, most_recent_first=True):
            print(f"      {line.strip()}")


def type_growth(old: Path, new: Path, top: int) -> None:
    a = json.loads(old.with_suffix(".types.json").read_text())
    b = json.loads(new.with_suffix(".types.json").read_text())
    minutes = (b["t"] - a["t"]) / 60
    traced = f"{a['traced'][0] / 2**20:.1f} -> {b['traced'][0] / 2**20:.1f} MiB"
    print(f"\n  -- object types, {minutes:.1f} min; traced {traced}")
    grew = {k: b["types"].get(k, 0) - a["types"].get(k, 0) for k in set(a["types"]) | set(b["types"])}
    for name, diff in sorted(grew.items(), key=lambda kv: -kv[1])[:top]:
        print(f"  {diff:+8d}  {name} (now {b['types'].get(name, 0)})")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("directory", type=Path)
    parser.add_argument("--first", type=int, default=1, help="older snapshot's index (default 1)")
    parser.add_argument("--last", type=int, default=-1, help="index of the newer snapshot (default: the last)")
    parser.add_argument("--top", type=int, default=12)
    parser.add_argument("--frames", type=int, default=10)
    args = parser.parse_args()
    found = snapshots(args.directory)
    if not found:
        print(f"no snapshots in {args.directory}", file=sys.stderr)
        return 2
    for proc, paths in found.items():
        if len(paths) < 2:
            print(f"{proc}: {len(paths)} snapshot(s), need 2")
            continue
        old, new = paths[min(args.first, len(paths) - 2)], paths[args.last]
        print(f"\n===== {proc}: {old.name} -> {new.name}")
        a, b = tracemalloc.Snapshot.load(str(old)), tracemalloc.Snapshot.load(str(new))
        print_stats("by line", b.compare_to(a, "lineno"), args.top, 1)
        print_stats("by traceback", b.compare_to(a, "traceback"), args.top, args.frames)
        if old.with_suffix(".types.json").exists() and new.with_suffix(".types.json").exists():
            type_growth(old, new, args.top)
    return 0


if __name__ == "__main__":
    sys.exit(main())
