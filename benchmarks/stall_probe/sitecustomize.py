"""Where does ``handoff serve``'s event loop stall, and where does a turn wait? A probe
loaded into the server's process through ``PYTHONPATH`` (Python imports
``sitecustomize`` at start-up), active only in a process whose command line has
``serve`` and with ``STALL_PROBE`` set to a file prefix (the output goes to
``PREFIX.PID``)::

    STALL_PROBE=/tmp/probe PYTHONPATH=src:benchmarks:benchmarks/stall_probe \\
        .venv/bin/python benchmarks/bench_turn.py --only 2

It writes one line per

- ``GC``: cyclic GC collection of generation 2 (or any over 5 ms): wall and CPU ms of
  the loop's thread, objects collected, objects the GC tracks, objects frozen;
- ``LAG``: a 5 ms ``asyncio.sleep`` on the loop that woke 15 ms or more late, with the
  loop thread's CPU ms meanwhile (near the lag: the loop was busy; far below it: the
  process waited for a CPU or the GIL);
- ``STALL``: the loop's stack when it has not come back for 60 ms (sampled from a
  thread; a GC holding the GIL shows as the frame it interrupted);
- ``COMMIT``: a group commit of the store over 5 ms (its ``COMMIT``, the ``fsync``);
- ``TURN``, ``DECIDE``, ``APPEND``, ``STORE``: every 400 calls, the percentiles (ms) of
  a visitor turn in the service (from its frame to its answer published, the lock
  held), of its AI decision (the batch it joined included), of its append (the store
  call and the memory), and of any store call (the queue to the store thread included).

The lag probe and its watcher start when the server settles its heap once ready
(``handoff_server.heap.settle``, on the loop's thread), so they run on any event loop:
uvloop, the default, has no ``asyncio.BaseEventLoop.run_forever`` to hook.
"""

from __future__ import annotations

import asyncio
import gc
import os
import sys
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TextIO

_PREFIX = os.environ.get("STALL_PROBE")
T0 = time.perf_counter()


def _now() -> float:
    return time.perf_counter() - T0


def _on_gc(out: TextIO) -> Callable[[str, dict[str, Any]], None]:
    started = [0.0, 0.0]

    def on_gc(phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            started[:] = [time.perf_counter(), time.thread_time()]
            return
        wall = time.perf_counter() - started[0]
        cpu = time.thread_time() - started[1]
        if info["generation"] == 2 or wall > 0.005:
            tracked = len(gc.get_objects()) if info["generation"] == 2 else -1
            out.write(
                f"GC t={_now():.3f} gen={info['generation']}"
                f" ms={wall * 1000:.1f} cpu_ms={cpu * 1000:.1f} collected={info['collected']}"
                f" tracked={tracked} frozen={gc.get_freeze_count()}\n"
            )

    return on_gc


def _start_lag_probe(out: TextIO) -> None:
    """On the loop's thread: the lag probe task and the stall watcher thread."""
    beat: dict[str, Any] = {"t": time.perf_counter(), "thread": threading.get_ident()}

    async def probe() -> None:
        while True:
            t, c = time.perf_counter(), time.thread_time()
            beat["t"] = t
            await asyncio.sleep(0.005)
            lag = time.perf_counter() - t - 0.005
            if lag > 0.015:
                cpu = (time.thread_time() - c) * 1000
                out.write(f"LAG t={_now():.3f} ms={lag * 1000:.1f} loop_cpu_ms={cpu:.1f}\n")

    def watch() -> None:
        reported = 0.0
        while True:
            time.sleep(0.01)
            age = time.perf_counter() - beat["t"]
            if age < 0.06 or beat["t"] == reported:
                continue
            reported = beat["t"]
            frame = sys._current_frames().get(beat["thread"])
            stack = "".join(traceback.format_stack(frame)[-14:]) if frame else "?\n"
            out.write(f"STALL t={_now():.3f} age_ms={age * 1000:.1f}\n{stack}\n")

    task = asyncio.get_running_loop().create_task(probe())
    _TASKS.append(task)
    threading.Thread(target=watch, daemon=True).start()
    out.write(f"PROBE t={_now():.3f} started\n")


_TASKS: list[asyncio.Task[None]] = []


def _percentiles(out: TextIO, tag: str) -> Callable[[float], None]:
    """A recorder of durations (seconds) that writes their percentiles every 400."""
    kept: list[float] = []

    def record(seconds: float) -> None:
        kept.append(seconds * 1000)
        if len(kept) >= 400:
            d = sorted(kept)
            kept.clear()
            p = {q: d[int(len(d) * q)] for q in (0.5, 0.9, 0.99)}
            out.write(
                f"{tag} t={_now():.2f} p50={p[0.5]:.1f} p90={p[0.9]:.1f}"
                f" p99={p[0.99]:.1f} max={d[-1]:.1f}\n"
            )

    return record


def _time_coroutine(cls: Any, name: str, record: Callable[[float], None]) -> None:
    original = getattr(cls, name)

    async def timed(self: Any, *args: Any, **kwargs: Any) -> Any:
        t = time.perf_counter()
        try:
            return await original(self, *args, **kwargs)
        finally:
            record(time.perf_counter() - t)

    setattr(cls, name, timed)


def _time_commits(out: TextIO) -> None:
    from handoff_server import store

    original = store._SQLiteTables.group

    @contextmanager
    def group(self: Any) -> Iterator[None]:
        with original(self):
            yield
            t = time.perf_counter()
        ms = (time.perf_counter() - t) * 1000
        if ms > 5:
            out.write(f"COMMIT t={t - T0:.3f} ms={ms:.1f}\n")

    store._SQLiteTables.group = group  # type: ignore[method-assign]


def _install(prefix: str) -> None:
    from handoff_server import heap, store
    from handoff_server.conversations import ai_turns, memory, service

    out = open(f"{prefix}.{os.getpid()}", "w", buffering=1)  # noqa: SIM115 (process-long)
    gc.callbacks.append(_on_gc(out))
    _time_commits(out)
    _time_coroutine(service.ConversationService, "_visitor_turn", _percentiles(out, "TURN"))
    _time_coroutine(ai_turns.AiTurns, "_decide", _percentiles(out, "DECIDE"))
    _time_coroutine(memory.ConversationMemory, "append", _percentiles(out, "APPEND"))
    _time_coroutine(store.AsyncStore, "call", _percentiles(out, "STORE"))
    settle = heap.settle

    def settled() -> int:
        frozen = settle()
        _start_lag_probe(out)
        return frozen

    heap.settle = settled  # type: ignore[assignment]


if _PREFIX and "serve" in getattr(sys, "orig_argv", []):
    _install(_PREFIX)
