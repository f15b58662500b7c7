"""Stores whose size the configuration bounds, not the clients: byte-budgeted logs and report stores.

A client chooses what it sends (a 200 KB username, a 4 MB call report); what the emulator keeps of
it is charged against a byte budget and the oldest entries go first, so memory stays flat however
long a hostile or merely busy client keeps at it.
"""

from __future__ import annotations

import collections
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

ENTRY_OVERHEAD = 64  # what Python spends per kept str beyond its text (object header, deque slot)


class ByteBoundedLog:
    """An append-only list of strings holding at most `budget` bytes; oldest dropped first.

    Each entry is charged its UTF-8 size plus ENTRY_OVERHEAD, so a million one-letter names cost what
    they really hold in memory, not one byte each.
    """

    def __init__(self, budget: int) -> None:
        self.budget = budget
        self.bytes = 0
        self.dropped = 0
        self._items: collections.deque[str] = collections.deque()

    def append(self, item: str) -> None:
        size = len(item.encode("utf-8", "replace")) + ENTRY_OVERHEAD
        if size > self.budget:
            self.dropped += 1
            return
        self._items.append(item)
        self.bytes += size
        while self.bytes > self.budget:
            self.bytes -= len(self._items.popleft().encode("utf-8", "replace")) + ENTRY_OVERHEAD
            self.dropped += 1

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __getitem__(self, index: int) -> str:
        return self._items[index]

    def __repr__(self) -> str:
        return f"ByteBoundedLog({len(self._items)} entries, {self.bytes} bytes)"


@dataclass(frozen=True)
class StoredReport:
    """An accepted call report kept as the bytes that arrived (a parsed copy costs ~8x); parsed on read."""

    headers: dict[str, str]
    raw: bytes = field(repr=False)

    @property
    def report(self) -> Any:
        return json.loads(self.raw)

    @property
    def size(self) -> int:
        return len(self.raw) + sum(len(k) + len(v) for k, v in self.headers.items())

    def __getitem__(self, key: str) -> Any:
        """Dict-style access (`stored["report"]`, `stored["headers"]`), as tests and tools read it."""
        if key == "report":
            return self.report
        if key == "headers":
            return self.headers
        raise KeyError(key)


class ReportStore:
    """Accepted call reports, newest last, at most `budget` bytes in all; oldest dropped first."""

    def __init__(self, budget: int) -> None:
        self.budget = budget
        self.bytes = 0
        self.dropped = 0
        self._items: collections.deque[StoredReport] = collections.deque()

    def append(self, report: StoredReport) -> bool:
        """Keep `report`; False (and nothing kept) when it alone is larger than the whole budget."""
        if report.size > self.budget:
            self.dropped += 1
            return False
        self._items.append(report)
        self.bytes += report.size
        while self.bytes > self.budget:
            self.bytes -= self._items.popleft().size
            self.dropped += 1
        return True

    def __iter__(self) -> Iterator[StoredReport]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __getitem__(self, index: int) -> StoredReport:
        return self._items[index]
