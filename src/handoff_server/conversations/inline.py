"""Run quick work on the event loop, slow work in a thread: :class:`InlineRunner`.

Handing a call to a worker thread (``asyncio.to_thread``) costs a queue, two thread
switches and a wake-up of the loop, and under load the work then fights the loop for
the GIL: for an answerer that takes ~1 ms that overhead was larger than the work. The
runner times each call and runs the next one on the loop itself while the calls stay
quick (a running mean under ``budget`` seconds and the last call under four times it),
in a thread with the timeout otherwise.

What is timed: the calling thread's CPU time (:func:`time.thread_time`), the cost of
the work itself, as answerers are CPU-bound (:class:`~handoff_server.ai.base.Answerer`).
Not the wall clock: a call in a thread waits for the GIL whenever the loop runs, and
on a busy machine any call waits for a core, so by the wall clock a 1 ms answer "took"
5-10 ms in a thread under load and the runner never came back to the loop. One
exception: a slow call on the loop (by the wall clock) that used less than half of
that as CPU and was not preempted by the machine waited on something (the network, a
lock): its wall time is what it cost the loop, and it is counted so.

The price: a call run on the loop cannot be cut short by its timeout. A call that turns
out slow (over four times the budget) sends every later call back to the thread until
the mean is quick again, so one pathological input costs one stall, not a stream of
them. The first ``warmup`` calls always go to the thread (an engine loading lazily).
"""

from __future__ import annotations

import asyncio
import resource
import time
from collections.abc import Callable
from typing import TypeVar

__all__ = ["InlineRunner"]

T = TypeVar("T")
A = TypeVar("A")

SMOOTHING = 0.2
"""Weight of the newest call in the running mean (exponentially weighted)."""

SLOW = 4
"""A call over this many budgets is slow: the next ones go to the thread."""


class InlineRunner:
    """Runs ``fn(arg)`` on the loop or in a thread, by how long such calls took.

    ``budget``: seconds a call may take on average to run on the loop (default 5 ms);
    ``warmup``: calls always run in a thread first. ``inline`` says where the next call
    goes; ``mean`` is the running mean of calls' seconds."""

    def __init__(self, budget: float = 0.005, warmup: int = 3) -> None:
        self.budget = budget
        self.warmup = warmup
        self.mean = 0.0
        self.calls = 0
        self.inline = False

    async def run(self, fn: Callable[[A], T], arg: A, timeout: float | None) -> T:
        """``fn(arg)``; raises what it raises, and ``TimeoutError`` when it ran in a
        thread for longer than ``timeout`` seconds (``None``: no limit)."""
        if self.inline:
            start = _Mark()
            try:
                return fn(arg)
            finally:
                wall, cpu, preempted = start.since()
                waited = wall > SLOW * self.budget and cpu < wall / 2 and not preempted
                self._observe(wall if waited else cpu)
        took: list[float] = []

        def timed() -> T:
            start = _Mark()
            try:
                return fn(arg)
            finally:
                took.append(start.since()[1])

        try:
            return await asyncio.wait_for(asyncio.to_thread(timed), timeout)
        finally:
            # Unfinished (timed out or cancelled): at least as slow as the timeout.
            self._observe(took[0] if took else (timeout or 1.0))

    def _observe(self, seconds: float) -> None:
        self.calls += 1
        if self.calls == 1:
            self.mean = seconds
        else:
            self.mean = (1 - SMOOTHING) * self.mean + SMOOTHING * seconds
        self.inline = (
            self.calls > self.warmup and self.mean <= self.budget and seconds <= SLOW * self.budget
        )


class _Mark:
    """The calling thread's clocks now; :meth:`since` gives what passed on them."""

    def __init__(self) -> None:
        self.wall = time.perf_counter()
        self.cpu = time.thread_time()
        self.preemptions = _preemptions()

    def since(self) -> tuple[float, float, bool]:
        """Wall seconds, this thread's CPU seconds, and whether the machine took its core
        away meanwhile (an involuntary context switch; False where not counted)."""
        wall = time.perf_counter() - self.wall
        cpu = time.thread_time() - self.cpu
        return wall, cpu, _preemptions() > self.preemptions


_RUSAGE_THREAD = getattr(resource, "RUSAGE_THREAD", None)


def _preemptions() -> int:
    """Involuntary context switches of the calling thread so far (Linux; else 0)."""
    return 0 if _RUSAGE_THREAD is None else resource.getrusage(_RUSAGE_THREAD).ru_nivcsw
