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

With the calls' cycles gone, a full collection frees (next to) nothing and still walks every live call's
objects: under churn (~200 calls up) that walk took 40-220 ms every ~10 s while freeing 0 objects
(docs/benchmarks.md, "Issue 21"). So, from the freeze on, Python's automatic full collections are off
(generation 2's threshold raised out of reach); young collections (generations 0 and 1, a few ms at
most) go on. The cost: a reference cycle that survives into generation 2 stays in memory until an
explicit `gc.collect()`; tests/test_gc_refcount.py keeps ended calls free of them.
`RTCLOAD_GC_QUIET=0` keeps Python's automatic full collections.
"""

from __future__ import annotations

import gc

from rtcload.media.native_heap import start_native_heap_trim
from rtcload.media.switches import switched_off
from rtcload.metrics.gc_pauses import installed_gc_pauses

ENV_FREEZE = "RTCLOAD_GC_FREEZE"
ENV_QUIET = "RTCLOAD_GC_QUIET"
NO_AUTOMATIC_FULL = 1 << 30  # generation 2's threshold: full collections are counted in gen-1 runs (~1/s)

_frozen = False


def freeze_startup_heap() -> bool:
    """Freeze what exists now, once per process (one collection first, then an O(1) freeze); True if it froze."""
    global _frozen
    if _frozen or switched_off(ENV_FREEZE):
        return False
    _frozen = True
    gc.collect()  # what is garbage already must not be frozen with the rest
    gc.freeze()
    quiet_full_collections()
    start_native_heap_trim()  # the native side of the same concern: freed memory must not stay resident
    pauses = installed_gc_pauses()
    if pauses is not None:  # what the media clock meets is counted from here (start-up pauses apart)
        pauses.start_media()
    return True


def quiet_full_collections() -> bool:
    """No automatic full (generation 2) collection from now on; True if it was switched so."""
    if switched_off(ENV_QUIET):
        return False
    young, middle, _full = gc.get_threshold()
    gc.set_threshold(young, middle, NO_AUTOMATIC_FULL)
    return True


def startup_heap_frozen() -> bool:
    return _frozen
