"""Locust's own per-run stats, bounded for soaks: per-second request counts and the chart history.

Locust keeps, for every stats entry, a count of requests (and failures) for every second of the run
(`num_reqs_per_sec`), and appends a chart point to `stats.history` every 5 s. Nothing bounds either,
and in a local or master process only the last ~12 s of the counts are ever read (`current_rps`,
`current_fail_per_sec`); the history feeds Locust's own HTML report and web charts. rtcload records
every call as several stats entries, so a soak's generator grew ~0.9 MB/h from these two alone
(issue 22, a tracemalloc diff of a 16-user soak). `trim` drops counts older than KEEP_S and thins the
older half of the history once it passes MAX_HISTORY points (every other one goes, as the live view
does), so the charts still span the whole run.
"""

from __future__ import annotations

import time
from typing import Any

KEEP_S = 60  # counts younger than this stay: Locust reads the last 12 s
MAX_HISTORY = 720  # one hour of 5 s chart points before the older half is thinned
INTERVAL_S = 60.0


def trim(stats: Any, now: float, keep_s: int = KEEP_S, max_history: int = MAX_HISTORY) -> int:
    """Trim a locust.stats.RequestStats in place; the number of per-second counts dropped."""
    cutoff = int(now) - keep_s
    dropped = 0
    for entry in (stats.total, *stats.entries.values()):
        for per_second in (entry.num_reqs_per_sec, entry.num_fail_per_sec):
            old = [t for t in per_second if t < cutoff]
            for t in old:
                del per_second[t]
            dropped += len(old)
    history = stats.history
    if len(history) > max_history:
        half = len(history) // 2
        history[:] = history[:half:2] + history[half:]
    return dropped


def trim_forever(stats: Any, interval_s: float = INTERVAL_S) -> None:
    """A greenlet's body (gevent.spawn): trim every `interval_s` for the life of the process."""
    import gevent

    while True:
        gevent.sleep(interval_s)
        trim(stats, time.time())
