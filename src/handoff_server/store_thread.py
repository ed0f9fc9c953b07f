"""The store's thread: runs store calls one batch at a time, with group commit.

The event loop never touches the database: :meth:`StoreThread.submit` queues a call and
returns a future. The thread takes every call waiting (up to :data:`MAX_BATCH`) and runs
them in order. With a store that has ``group()`` (``SQLiteStore.group``) a batch of two
or more calls is one transaction: the writes of many conversations share one commit, one
``fsync`` under ``synchronous=FULL`` (group commit, as in Gray & Reuter, *Transaction
Processing*, 1993, §9.4.7). A call's result is handed to the event loop only after that
commit returned, so an acknowledgement still means "stored durably"; while one batch
commits, the next one gathers. A store without ``group()`` (another backend) runs each
call on its own, as before.

One wake-up of the event loop per batch (``call_soon_threadsafe``), not one per call.

A commit is the dearest part of a write (~0.1–0.15 ms of CPU for the WAL frames and the
``fsync``, against ~0.04 ms for an append's statements; ``docs/benchmarks.md``, fourth
pass), so under load the thread gathers a little longer: when the batch before had
:data:`GATHER_AFTER` calls or more (several conversations writing at once), it waits up
to ``gather`` seconds (:data:`GATHER_SECONDS`) from a batch's first call for more calls
before running it, as PostgreSQL's ``commit_delay`` does when ``commit_siblings``
transactions are active. A lone writer (one visitor's turn: its message with the policy
read, then the answer) never waits.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import queue
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

__all__ = ["GATHER_AFTER", "GATHER_SECONDS", "MAX_BATCH", "StoreThread"]

log = logging.getLogger(__name__)

MAX_BATCH = 256
"""Most calls in one batch (one transaction): bounds how long one commit holds others."""

GATHER_SECONDS = 0.001
"""Default of ``StoreThread(gather=...)``: how long (seconds) a batch waits for more
calls, from its first, when the batch before had :data:`GATHER_AFTER` calls or more."""

GATHER_AFTER = 3
"""Calls in a batch that make the next one gather (one conversation's visitor turn is at
most two calls at once: its message and the policy read)."""


@dataclass(slots=True)
class _Call:
    fn: Callable[..., Any]
    args: tuple[Any, ...]
    kwargs: dict[str, Any]
    future: asyncio.Future[Any]
    loop: asyncio.AbstractEventLoop
    ok: bool = False
    value: Any = None


class StoreThread:
    """One thread running calls on ``store`` (any object; ``group()`` used if it has it).

    :meth:`submit` from the event loop; :meth:`stop` (blocking) finishes what is queued
    and ends the thread. ``gather``: seconds a batch waits for more calls after a batch
    of :data:`GATHER_AFTER` or more (0: never waits)."""

    def __init__(self, store: Any, *, name: str = "store", gather: float = GATHER_SECONDS) -> None:
        self._group: Callable[[], contextlib.AbstractContextManager[None]] | None = getattr(
            store, "group", None
        )
        self.gather = gather
        self._crowded = False
        self._queue: queue.SimpleQueue[_Call | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def submit(
        self, fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> asyncio.Future[Any]:
        """Queue ``fn(*args, **kwargs)``; the future gets its result or exception once
        the batch it ran in is committed. Call from a running event loop."""
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        if not self._thread.is_alive():
            future.set_exception(RuntimeError("the store is closed"))
            return future
        self._queue.put(_Call(fn, args, kwargs, future, loop))
        return future

    def stop(self) -> None:
        """Run the calls already queued, then end the thread (blocks until it has)."""
        self._queue.put(None)
        self._thread.join()

    # ------------------------------------------------------------------ the thread

    def _run(self) -> None:
        while True:
            batch, stopping = self._take()
            if batch:
                self._execute(batch)
            if stopping:
                return

    def _take(self) -> tuple[list[_Call], bool]:
        """The next batch: one call waited for, then every call already queued, and
        (after a crowded batch) those coming in the next ``gather`` seconds."""
        first = self._queue.get()
        if first is None:
            return [], True
        batch = [first]
        until = time.monotonic() + self.gather if self._crowded and self._group else 0.0
        while len(batch) < MAX_BATCH:
            try:
                left = until - time.monotonic() if until else 0.0
                item = self._queue.get(timeout=left) if left > 0 else self._queue.get_nowait()
            except queue.Empty:
                break
            if item is None:
                return batch, True
            batch.append(item)
        self._crowded = len(batch) >= GATHER_AFTER
        return batch, False

    def _execute(self, batch: list[_Call]) -> None:
        if self._group is None or len(batch) == 1:
            for call in batch:
                _run_one(call)
                _deliver_soon([call])
            return
        try:
            with self._group():
                for call in batch:
                    _run_one(call)
        except BaseException as exc:  # the commit failed: nothing of the batch is stored
            log.error("store batch of %d calls failed to commit: %s", len(batch), exc)
            for call in batch:
                if call.ok:
                    call.ok, call.value = False, exc
        _deliver_soon(batch)


def _run_one(call: _Call) -> None:
    try:
        call.value = call.fn(*call.args, **call.kwargs)
        call.ok = True
    except BaseException as exc:  # handed to the caller, as run_in_executor would
        call.value = exc


def _deliver_soon(batch: list[_Call]) -> None:
    """Hand results to their loops: one wake-up per loop for the whole batch."""
    by_loop: dict[asyncio.AbstractEventLoop, list[_Call]] = {}
    for call in batch:
        by_loop.setdefault(call.loop, []).append(call)
    for loop, calls in by_loop.items():
        with contextlib.suppress(RuntimeError):  # the loop is closed: nobody waits
            loop.call_soon_threadsafe(_deliver, calls)


def _deliver(calls: list[_Call]) -> None:
    for call in _pending(calls):
        if call.ok:
            call.future.set_result(call.value)
        else:
            call.future.set_exception(call.value)


def _pending(calls: list[_Call]) -> Iterator[_Call]:
    return (c for c in calls if not c.future.done())
