"""How :class:`~handoff_server.store.AsyncStore` runs a store: SQLite (a store with
``group()``) on its one store thread with group commit; a thread-safe store without
``group()`` (PostgreSQL, ``parallel_calls``) on that many threads at once; both feed the
store's health."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Iterator

import pytest

from handoff_server.store import AsyncStore


class ThreadSafe:
    """A store that says it may run 4 calls at once; ``meet`` returns only once 4 calls
    are in it together."""

    parallel_calls = 4

    def __init__(self, timeout: float = 5.0) -> None:
        self.barrier = threading.Barrier(4, timeout=timeout)

    def meet(self) -> str:
        self.barrier.wait()
        return threading.current_thread().name

    def close(self) -> None:
        pass


class Grouped(ThreadSafe):
    """The same, but with SQLite's ``group()``: its calls run on the one store thread."""

    @contextlib.contextmanager
    def group(self) -> Iterator[None]:
        yield


class DiskFull(Exception):
    """psycopg's shape of PostgreSQL's ``53100 disk_full``."""

    sqlstate = "53100"


async def test_a_thread_safe_store_without_group_runs_its_calls_at_once() -> None:
    store = AsyncStore(ThreadSafe())  # type: ignore[arg-type]
    try:
        names = await asyncio.gather(*(store.call(store.store.meet) for _ in range(4)))  # type: ignore[attr-defined]
        assert len(set(names)) == 4
    finally:
        await store.close()


async def test_a_store_with_group_keeps_its_one_thread() -> None:
    store = AsyncStore(Grouped(timeout=0.3))  # type: ignore[arg-type]
    try:
        outcomes = await asyncio.gather(
            *(store.call(store.store.meet) for _ in range(4)),  # type: ignore[attr-defined]
            return_exceptions=True,
        )
        assert all(isinstance(o, threading.BrokenBarrierError) for o in outcomes), outcomes
    finally:
        await store.close()


async def test_a_postgresql_storage_error_marks_the_store_failing() -> None:
    def full() -> None:
        raise DiskFull("could not extend file: No space left on device")

    def gone() -> None:
        raise ConnectionError("server closed the connection")

    store = AsyncStore(ThreadSafe())  # type: ignore[arg-type]
    try:
        with pytest.raises(ConnectionError):
            await store.call(gone)
        assert store.health.failure is None  # a lost connection is /readyz's "database: down"
        with pytest.raises(DiskFull):
            await store.call(full)
        assert store.health.failure is not None and "No space left" in store.health.failure
    finally:
        await store.close()
