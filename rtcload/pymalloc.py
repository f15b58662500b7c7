"""CPython's small-object allocator (pymalloc) as a soak sees it: the bytes its arenas hold, and the
bytes in blocks live objects use.

Why: a soak's RSS slope says the process grows, not what grows. Arenas growing while live blocks stay
flat is fragmentation (objects pinning mostly empty 1 MiB arenas); both flat while RSS grows is native
memory (malloc'd by C libraries); live blocks growing is Python objects kept. CPython prints these
figures only as text, to a C `FILE *` (`sys._debugmallocstats` writes to stderr); this reads them
through an in-memory stream (`open_memstream`), in ~0.1 ms, with no tracing and nothing written.
"""

from __future__ import annotations

import ctypes
import re

FIELDS = {
    "bytes in allocated blocks": "py_block_bytes",
    "bytes in available blocks": "py_free_block_bytes",
}
ARENA_BYTES_RE = re.compile(r"^(\d+) arenas \* (\d+) bytes/arena")
LINE_RE = re.compile(r"^# (.+?)\s+=\s+([\d,]+)$")


def _bind() -> tuple[ctypes.CDLL, ctypes._CFuncPtr] | None:
    try:
        libc = ctypes.CDLL(None)
        stats = ctypes.pythonapi._PyObject_DebugMallocStats
        open_memstream = libc.open_memstream
    except (AttributeError, OSError):  # not glibc/musl, or a CPython without the function
        return None
    open_memstream.restype = ctypes.c_void_p
    open_memstream.argtypes = [ctypes.POINTER(ctypes.c_char_p), ctypes.POINTER(ctypes.c_size_t)]
    libc.fclose.argtypes = [ctypes.c_void_p]
    libc.free.argtypes = [ctypes.c_void_p]
    stats.argtypes = [ctypes.c_void_p]
    stats.restype = ctypes.c_int
    return libc, stats


_BOUND = _bind()


def stats_text() -> str | None:
    """The text `sys._debugmallocstats()` would print; None when pymalloc is off (PYTHONMALLOC=malloc)
    or the C functions are missing."""
    if _BOUND is None:
        return None
    libc, stats = _BOUND
    buf, size = ctypes.c_char_p(), ctypes.c_size_t()
    stream = libc.open_memstream(ctypes.byref(buf), ctypes.byref(size))
    if not stream:
        return None
    try:
        used = stats(stream)
    finally:
        libc.fclose(stream)  # flushes: buf and size are valid from here
    try:
        return ctypes.string_at(buf, size.value).decode("ascii", "replace") if used else None
    finally:
        libc.free(ctypes.cast(buf, ctypes.c_void_p))


def parse(text: str) -> dict[str, int]:
    """`py_arena_bytes` (arenas held), `py_block_bytes` (in live objects), `py_free_block_bytes`
    (free blocks in used pools) from the stats text."""
    out: dict[str, int] = {}
    for line in text.splitlines():
        if m := ARENA_BYTES_RE.match(line):
            out["py_arena_bytes"] = int(m.group(1)) * int(m.group(2))
        elif (m := LINE_RE.match(line)) and m.group(1) in FIELDS:
            out.setdefault(FIELDS[m.group(1)], int(m.group(2).replace(",", "")))
    return out


def figures() -> dict[str, int]:
    """This process's pymalloc figures; empty when they cannot be read."""
    text = stats_text()
    return parse(text) if text else {}
