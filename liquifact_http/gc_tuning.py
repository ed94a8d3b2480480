"""The cyclic garbage collector, set up for a long-running server process.

A server process holds a large, long-lived object graph from start-up on (modules, the route
table, the OpenAPI document, cattrs' generated functions, the connection pool...). CPython's
full (generation 2) collection walks every tracked object each time: with that graph it paused
the event loop for 50-140 ms every few seconds under load, the whole p99 tail of cached reads
(docs/performance.md, "Hot path"). ``gc.freeze()`` moves what exists at start-up into the
permanent generation, which no collection walks; later collections only see objects allocated
while serving. Nothing is freed differently: frozen objects are still freed by reference
counting, only cycles among them are not looked for (start-up objects live for the whole
process anyway).
"""

from __future__ import annotations

import gc
import threading

# Young collections run after this many net allocations of tracked objects (CPython's default
# is 700). A request's objects are nearly all freed by reference counting, so the count grows
# slowly; measured under load (docs/performance.md), 7000 ran 6 young collections in 24 s
# (16 ms in all, none over 4 ms) where 700 ran 204 and 18 middle ones (106 ms in all).
YOUNG_THRESHOLD = 7000
_lock = threading.Lock()
_tuned = False


def tune_for_serving() -> bool:
    """Once per process: collect, freeze the survivors (``gc.freeze``) and raise the young
    generation's threshold to ``YOUNG_THRESHOLD`` (the older generations' are kept). Returns
    False when an earlier call already did it (a process may build several apps: tests)."""
    global _tuned  # noqa: PLW0603 - one process-wide setting, done once
    with _lock:
        if _tuned:
            return False
        _tuned = True
    gc.collect()
    gc.freeze()
    _, middle, old = gc.get_threshold()
    gc.set_threshold(YOUNG_THRESHOLD, middle, old)
    return True
