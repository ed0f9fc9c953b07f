"""Run quick work on the event loop, slow work in a thread: :class:`InlineRunner`.

Handing a call to a worker thread (``asyncio.to_thread``) costs a queue, two thread
switches and a wake-up of the loop, and under load the work then fights the loop for
the GIL: for an answerer that takes ~1 ms that overhead was larger than the work. The
runner times each call and runs the next one on the loop itself while the calls stay
quick (a running mean under ``budget`` seconds and the last call under four times it),
in a thread with the timeout otherwise.

What is timed, on the loop: the wall clock, while the machine left the loop's thread
its core (no involuntary context switch: then the wall time is what the call cost the
loop, its work and any wait); when the machine took the core away meanwhile, the
thread's CPU time as the kernel accounts it (``getrusage(RUSAGE_THREAD)``, to a
scheduler tick), the work's own cost: on a busy machine an inline 2 ms answer took up
to 45 ms of wall time, waiting for a core. Both come from clocks that cost nothing
extra (the wall clock is read in user space; the one ``getrusage`` per mark also gives
the context switches). Not :func:`time.thread_time` on the loop: on Linux reading the
thread's CPU clock brings its scheduler accounting up to date, and on a busy machine
the kernel then takes the core away at that moment whenever the thread's slice is
used up, more often than the timer tick would (a loop of ~75 us calls sharing its core
with a busy process: 174 involuntary context switches instead of 97); the server used
3% less CPU per turn without it, on average over four A/B runs on a busy machine
(from -8% to +1%: docs/benchmarks.md, "Per-turn CPU, third pass"). In a thread: its CPU time (:func:`time.thread_time`), as a call there waits
for the GIL whenever the loop runs: by the wall clock a 1 ms answer "took" 5-10 ms in
a thread under load and the runner never came back to the loop (calls go there only
during the warm-up and after a slow one, so the clock's cost does not matter there).
Where the context switches are not counted (no ``RUSAGE_THREAD``: not Linux), a call
on the loop is timed by :func:`time.thread_time`, unless it was slow by the wall clock
and used under half of that as CPU: it waited on something, and counts by its wall
time.

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
            return self.call_inline(fn, arg)
        took: list[float] = []

        def timed() -> T:
            start = time.thread_time()
            try:
                return fn(arg)
            finally:
                took.append(time.thread_time() - start)

        try:
            return await asyncio.wait_for(asyncio.to_thread(timed), timeout)
        finally:
            # Unfinished (timed out or cancelled): at least as slow as the timeout.
            self._observe(took[0] if took else (timeout or 1.0))

    def call_inline(self, fn: Callable[[A], T], arg: A, count: int = 1) -> T:
        """``fn(arg)`` on the calling thread (the event loop), timed as ``count`` calls
        of equal cost (a batch of ``count`` questions: each counts its share, so the
        running mean stays a cost per question); raises what ``fn`` raises."""
        start = _Mark()
        try:
            return fn(arg)
        finally:
            self._observe(start.cost(self.budget * count) / count)

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
    """The calling thread's clocks now (the wall clock; the thread's CPU time and
    involuntary context switches, from one ``getrusage``); :meth:`cost` gives what a
    call on the loop since cost it. Never :func:`time.thread_time` where the context
    switches are counted (see the module's doc)."""

    def __init__(self) -> None:
        self.wall = time.perf_counter()
        self.cpu, self.preemptions = _usage()

    def cost(self, budget: float) -> float:
        """Seconds the call since the mark cost the loop: its wall time unless the
        machine took the thread's core away meanwhile, then its CPU time (at most the
        wall time). Where context switches are not counted: its CPU time, or its wall
        time when it was slow (over ``SLOW`` × ``budget``) and used under half of it
        as CPU (it waited)."""
        wall = time.perf_counter() - self.wall
        cpu, preemptions = _usage()
        cpu -= self.cpu
        if preemptions < 0:  # not counted here
            waited = wall > SLOW * budget and cpu < wall / 2
            return wall if waited else cpu
        return wall if preemptions == self.preemptions else min(wall, cpu)


_RUSAGE_THREAD = getattr(resource, "RUSAGE_THREAD", None)


def _usage() -> tuple[float, int]:
    """The calling thread's CPU seconds (user + system, as the kernel accounts them:
    up to a scheduler tick behind) and its involuntary context switches so far (Linux);
    elsewhere its CPU seconds from :func:`time.thread_time` and -1."""
    if _RUSAGE_THREAD is None:
        return time.thread_time(), -1
    usage = resource.getrusage(_RUSAGE_THREAD)
    return usage.ru_utime + usage.ru_stime, usage.ru_nivcsw
