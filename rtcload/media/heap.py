"""The process' startup heap is frozen out of the garbage collector before the first call, so collections
stop pausing the media clock for it.

Why: a full (generation 2) collection walks every tracked object and holds the GIL while it does, so the
engine's 20 ms tick and every socket callback wait. A Locust worker holds ~85,000 objects after its imports
(Locust, gevent, aiortc, numpy): each full collection then took ~70 ms on the 2-core bench VM, and call
setups, which allocate a few hundred objects each, trigger one whenever the heap has grown by a quarter. The
modules, classes and functions loaded at startup live as long as the process, so `gc.freeze()` moves them
to the permanent generation once, before the first peer connection: later collections walk only what the
calls themselves allocate (~400 objects per call side). Nothing a call allocates is frozen: an ended call's
objects are freed by reference counting once teardown.py has cut their cycles, so collections find little.
`RTCLOAD_GC_FREEZE=0` turns it off.
"""

from __future__ import annotations

import gc

from rtcload.media.switches import switched_off

ENV_FREEZE = "RTCLOAD_GC_FREEZE"

_frozen = False


def freeze_startup_heap() -> bool:
    """Freeze what exists now, once per process (one collection first, then an O(1) freeze); True if it froze."""
    global _frozen
    if _frozen or switched_off(ENV_FREEZE):
        return False
    _frozen = True
    gc.collect()  # what is garbage already must not be frozen with the rest
    gc.freeze()
    return True


def startup_heap_frozen() -> bool:
    return _frozen
