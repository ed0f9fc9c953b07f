"""Where does ``handoff serve``'s event loop stall? A probe loaded into the server's
process through ``PYTHONPATH`` (Python imports ``sitecustomize`` at start-up), active
only in a process whose command line has ``serve`` and with ``STALL_PROBE`` set to a
file prefix (the output goes to ``PREFIX.PID``)::

    STALL_PROBE=/tmp/probe PYTHONPATH=src:benchmarks/stall_probe \\
        .venv/bin/python benchmarks/bench_turn.py --only 2

It writes one line per

- ``GC``: cyclic GC collection of generation 2 (or any over 5 ms): wall and CPU ms of
  the loop's thread, objects collected, objects the GC tracks, objects frozen;
- ``LAG``: a 5 ms ``asyncio.sleep`` on the loop that woke 30 ms or more late, with the
  loop thread's CPU ms meanwhile (near the lag: the loop was busy; far below it: the
  process waited for a CPU or the GIL);
- ``STALL``: the loop's stack when it has not come back for 60 ms (sampled from a
  thread; a GC holding the GIL shows as the frame it interrupted).
"""

from __future__ import annotations

import asyncio
import gc
import os
import sys
import threading
import time
import traceback
from typing import Any

_PREFIX = os.environ.get("STALL_PROBE")
T0 = time.perf_counter()


def _install(prefix: str) -> None:
    out = open(f"{prefix}.{os.getpid()}", "w", buffering=1)  # noqa: SIM115 (process-long)
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
                f"GC t={time.perf_counter() - T0:.3f} gen={info['generation']}"
                f" ms={wall * 1000:.1f} cpu_ms={cpu * 1000:.1f} collected={info['collected']}"
                f" tracked={tracked} frozen={gc.get_freeze_count()}\n"
            )

    beat: dict[str, Any] = {"t": time.perf_counter(), "thread": None}

    async def probe() -> None:
        beat["thread"] = threading.get_ident()
        while True:
            t, c = time.perf_counter(), time.thread_time()
            beat["t"] = t
            await asyncio.sleep(0.005)
            lag = time.perf_counter() - t - 0.005
            if lag > 0.03:
                cpu = (time.thread_time() - c) * 1000
                out.write(
                    f"LAG t={time.perf_counter() - T0:.3f} ms={lag * 1000:.1f} loop_cpu_ms={cpu:.1f}\n"
                )

    def watch() -> None:
        reported = 0.0
        while True:
            time.sleep(0.01)
            age = time.perf_counter() - beat["t"]
            if beat["thread"] is None or age < 0.06 or beat["t"] == reported:
                continue
            reported = beat["t"]
            frame = sys._current_frames().get(beat["thread"])
            stack = "".join(traceback.format_stack(frame)[-14:]) if frame else "?\n"
            out.write(f"STALL t={time.perf_counter() - T0:.3f} age_ms={age * 1000:.1f}\n{stack}\n")

    gc.callbacks.append(on_gc)
    original = asyncio.base_events.BaseEventLoop.run_forever

    def run_forever(self: asyncio.AbstractEventLoop) -> None:
        if not getattr(self, "_stall_probe", False):
            self._stall_probe = True  # type: ignore[attr-defined]
            self.create_task(probe())
            threading.Thread(target=watch, daemon=True).start()
        original(self)  # type: ignore[arg-type]

    asyncio.base_events.BaseEventLoop.run_forever = run_forever  # type: ignore[method-assign]


if _PREFIX and "serve" in getattr(sys, "orig_argv", []):
    _install(_PREFIX)
