"""The server process's long-lived heap and Python's cyclic garbage collector.

A full (generation 2) collection of CPython's cyclic GC visits every tracked object
in the process on the event loop's thread, holding the GIL: no frame is read or sent
meanwhile. Measured on ``handoff serve`` under 500 visitors (``docs/benchmarks.md``),
these pauses were the event loop's longest stalls: 0.14–1 s each, over ~164,000
objects left by start-up (the answerer's index, the escalation detectors, the imported
libraries) and up to ~265,000 more, most from the conversations kept in memory (see
:mod:`~handoff_server.conversations.memory` for how those now stay out of its way).

:func:`settle`, run once the server is ready, collects once and moves everything alive
into the GC's permanent generation (:func:`gc.freeze`), so later collections visit only
what was allocated since; and it makes young collections rarer
(:data:`YOUNG_THRESHOLD` allocations instead of CPython's 700), so fewer short-lived
objects (a turn's frames and models in flight) are promoted to the oldest generation,
whose growth is what triggers a full collection. Frozen objects are still freed by
reference counting; only reference cycles among them are never collected, which is why
this runs once, after start-up, in the server's own process (``handoff serve``), not
for a library caller (the tests start many servers in one process).

:func:`refreeze`, run when a large long-lived structure has replaced another at run time
(the operator's reindex swaps in a new answerer:
:class:`~handoff_server.operator.kb_desk.KbDesk`), does the same again: collects what is
not frozen (a short pause: measured 3–5 ms on ``handoff serve``, against 0.1–0.4 s for a
collection that first unfreezes everything; ``docs/benchmarks.md``) and freezes what is
alive, the new index with it. Without it the new index's objects stayed in the oldest
generation and every full collection walked them again. The replaced index's reference
cycles, frozen with it, stay uncollected (a few dozen objects a reindex, measured; as
before this ran). It does nothing in a process that never ran :func:`settle` (a
library caller, the tests' many servers).

``/metrics`` shows every collection's pause by generation
(``handoff_gc_pause_seconds``) and the objects frozen (``handoff_gc_frozen_objects``),
in any process that imports this module.
"""

from __future__ import annotations

import bisect
import gc
import itertools
import math
import time
from collections.abc import Iterator
from typing import Any

from prometheus_client.core import GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

from handoff_server.metrics import REGISTRY

__all__ = ["GC_METRICS", "YOUNG_THRESHOLD", "refreeze", "settle"]

YOUNG_THRESHOLD = 20_000
"""Allocations (minus deallocations) of tracked objects between two young collections
once the server is ready (CPython's default: 700)."""

_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, float("inf"))
_counts = [[0] * len(_BUCKETS) for _ in range(3)]
"""Per generation, collections per bucket of :data:`_BUCKETS` (not cumulative)."""
_sums = [0.0, 0.0, 0.0]
_started = [0.0]
_settled = [False]
"""Whether :func:`settle` ran in this process (then :func:`refreeze` acts)."""


def _time_collection(phase: str, info: dict[str, Any]) -> None:
    """``gc.callbacks`` hook: count each collection's duration by generation. Plain
    lists only: a callback that took a lock could wait for itself (a collection may start
    while this thread holds it)."""
    if phase == "start":
        _started[0] = time.perf_counter()
        return
    seconds = time.perf_counter() - _started[0]
    generation = info["generation"]
    _sums[generation] += seconds
    _counts[generation][bisect.bisect_left(_BUCKETS, seconds)] += 1


class _GCCollector(Collector):
    """``handoff_gc_pause_seconds`` (histogram by generation) and
    ``handoff_gc_frozen_objects`` (gauge), read when ``/metrics`` is asked for."""

    def collect(self) -> Iterator[Metric]:
        pauses = HistogramMetricFamily(
            "handoff_gc_pause_seconds",
            "Cyclic garbage collections (the event loop waits for each), by generation",
            labels=["generation"],
        )
        for generation in range(3):
            cumulative = list(itertools.accumulate(_counts[generation]))
            buckets = [
                ("+Inf" if math.isinf(le) else repr(le), n)
                for le, n in zip(_BUCKETS, cumulative, strict=True)
            ]
            pauses.add_metric([str(generation)], buckets, _sums[generation])
        yield pauses
        yield GaugeMetricFamily(
            "handoff_gc_frozen_objects",
            "Objects moved out of the cyclic GC's reach after start-up (gc.freeze)",
            value=gc.get_freeze_count(),
        )


GC_METRICS = _GCCollector()
"""The collector of the GC's metrics, registered in
:data:`~handoff_server.metrics.REGISTRY`."""
REGISTRY.register(GC_METRICS)
if _time_collection not in gc.callbacks:
    gc.callbacks.append(_time_collection)


def settle() -> int:
    """Collect garbage, freeze every surviving object out of the cyclic GC's reach
    (:func:`gc.freeze`) and raise the young generation's threshold to
    :data:`YOUNG_THRESHOLD`. Returns the number of objects frozen in all
    (:func:`gc.get_freeze_count`). Call once, when the start-up allocations are done."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(YOUNG_THRESHOLD, *gc.get_threshold()[1:])
    _settled[0] = True
    return gc.get_freeze_count()


def refreeze() -> int:
    """After a large long-lived structure replaced another at run time (a reindex; see
    the module): collect once (what is not frozen: the new structure and what was
    allocated since the last freeze) and freeze every surviving object. Returns the
    number of objects frozen in all, or 0 without doing anything in a process where
    :func:`settle` never ran. Run it on the event loop's thread once the new structure
    is in place."""
    if not _settled[0]:
        return 0
    gc.collect()
    gc.freeze()
    return gc.get_freeze_count()
