"""The worst instant of a run: the moment the most calls had a send gap begin at once.

One stall of our own (a collection, a blocked loop) hits every call in the same ~100 ms, while a slow
stream hits one; counting distinct calls per window tells them apart. Shared by the generator's summary
(results/send_gaps.py) and the emulator's media clock (media/engine/send_gaps.py).
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable

WORST_WINDOW_S = 0.1


def worst_instant(
    starts: Iterable[tuple[float, Hashable]], window_s: float = WORST_WINDOW_S
) -> tuple[int, float | None]:
    """(calls, when): the most distinct calls with a gap beginning within one `window_s` window."""
    events = sorted(starts)
    best, best_at, low = 0, None, 0
    for high in range(len(events)):
        while events[high][0] - events[low][0] > window_s:
            low += 1
        calls = len({call for _, call in events[low : high + 1]})
        if calls > best:
            best, best_at = calls, events[low][0]
    return best, best_at
