"""Who keeps a closed WebSocket alive: referrer chains of surviving protocol objects, for memtrace's snapshots.

Why: a type count says that closed `ClientProtocol`/`ServerProtocol` objects accumulate (issue 22), not what
holds them. For a few protocols whose connection is already CLOSED, this walks `gc.get_referrers` up a few
levels and names each step (`type.attribute`, `dict[key]`, `frame fn@file:line`), the quickest way to see the
path a soak keeps. Only called with `RTCLOAD_TRACEMALLOC` set (costly: a scan of the heap per step).
"""

from __future__ import annotations

import gc
import types
from typing import Any

PROTOCOL_TYPES = ("ClientProtocol", "ServerProtocol")


def _closed_protocols(limit: int) -> list[Any]:
    found = []
    for obj in gc.get_objects():
        kind = type(obj)
        websocket = kind.__name__ in PROTOCOL_TYPES and str(kind.__module__).startswith("websockets")
        if websocket and getattr(getattr(obj, "state", None), "name", "") == "CLOSED":
            found.append(obj)
    return found[-limit:] if limit else found  # the newest (0: all)


def _name(obj: Any) -> str:
    if isinstance(obj, types.FrameType):
        code = obj.f_code
        return f"frame {code.co_name}@{code.co_filename.rsplit('/', 2)[-1]}:{obj.f_lineno}"
    if isinstance(obj, types.CoroutineType | types.GeneratorType):
        return f"{type(obj).__name__} {obj.__qualname__}"
    if isinstance(obj, BaseException):
        return f"{type(obj).__module__}.{type(obj).__qualname__}({str(obj)[:60]!r})"
    if isinstance(obj, types.FunctionType | types.MethodType):
        return f"{type(obj).__name__} {getattr(obj, '__qualname__', '?')}"
    return f"{type(obj).__module__}.{type(obj).__qualname__}"


def _edge(referrer: Any, target: Any) -> str:
    """How `referrer` holds `target`: an attribute, key, index or slot name when one is found."""
    if isinstance(referrer, dict):
        for key, value in referrer.items():
            if value is target:
                return f"[{str(key)[:40]!r}]"
        return "[key]"
    if isinstance(referrer, list | tuple | set | frozenset):
        return "[item]"
    if isinstance(referrer, types.FrameType):
        for key, value in referrer.f_locals.items():
            if value is target:
                return f".{key}"
        return ".?"
    attrs = getattr(referrer, "__dict__", None)
    if isinstance(attrs, dict):
        for key, value in attrs.items():
            if value is target:
                return f".{key}"
    for attr in (
        *getattr(type(referrer), "__slots__", ()),
        "__traceback__",
        "__context__",
        "__cause__",
        "tb_frame",
        "tb_next",
        "__self__",
        "__func__",
    ):
        if getattr(referrer, attr, None) is target:
            return f".{attr}"
    return ""


def _referrers(obj: Any, ignore: set[int]) -> list[Any]:
    """`gc.get_referrers(obj)` without this module's own frames and lists (`ignore`)."""
    return [
        r
        for r in gc.get_referrers(obj)
        if id(r) not in ignore and not (isinstance(r, types.FrameType) and r.f_code.co_filename == __file__)
    ]


def chains(obj: Any, depth: int = 5, width: int = 3, ignore: set[int] | None = None) -> list[str]:
    """Referrer paths of `obj`, `depth` levels up, at most `width` referrers per level, as text lines."""
    ignore = set(ignore or ())
    lines: list[str] = []

    def walk(target: Any, level: int, seen: set[int]) -> None:
        if level >= depth:
            return
        refs = _referrers(target, ignore)
        first = refs[:width]
        ignore.add(id(refs))
        ignore.add(id(first))
        for index in range(len(first)):  # no iterator object: it would show up as a referrer
            referrer = first[index]
            edge = _edge(referrer, target)
            module = isinstance(referrer, dict) and "__builtins__" in referrer and "__name__" in referrer
            cycle = " (cycle)" if id(referrer) in seen else ""
            name = f"globals of {referrer['__name__']}" if module else _name(referrer)
            lines.append(f"{'  ' * level}<- {name}{edge}{cycle}")
            if not cycle and not module:
                walk(referrer, level + 1, seen | {id(target)})
        if len(refs) > width:
            lines.append(f"{'  ' * level}   ... {len(refs) - width} more")

    walk(obj, 0, {id(obj)})
    return lines


def protocol_referrers(limit: int = 2, depth: int = 6, width: int = 2) -> list[dict[str, Any]]:
    """For up to `limit` closed websockets protocols: their type and referrer chains (memtrace's types.json)."""
    out = []
    found = _closed_protocols(limit)
    ignore = {id(found)}
    for proto in found:
        out.append({"type": type(proto).__qualname__, "chains": chains(proto, depth, width, ignore)})
    del found
    return out
