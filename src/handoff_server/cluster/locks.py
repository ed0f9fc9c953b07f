"""One writer per conversation: the lock the conversation service holds while it
loads, decides and stores a change (an AI turn included).

:class:`LocalLocks` is one process's (an ``asyncio.Lock`` per conversation).
:class:`PgLocks` adds a PostgreSQL advisory lock so that nodes sharing one database
take turns too: session-level ``pg_advisory_lock(hashtextextended(id, 0))`` on a
connection held for the change. The lease expires with the session: a node that dies
(SIGKILL, crash) has its socket closed by the kernel and PostgreSQL releases its locks
at once; a node cut off by the network is dropped by TCP keepalives (set on both ends,
about 5 + 3 × 2 = 11 seconds), after which another node may take the conversation.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any, Protocol

__all__ = ["ConversationLocks", "LocalLocks", "PgLocks"]

KEEPALIVE = {"keepalives": 1, "keepalives_idle": 5, "keepalives_interval": 2, "keepalives_count": 3}
"""libpq keepalive settings of the lock connections (seconds)."""


class ConversationLocks(Protocol):
    """Who may change a conversation now."""

    across_nodes: bool
    """Whether other processes (nodes) take the same locks and write the same store (a
    holder must then check what it remembers of the conversation against the store)."""

    def hold(self, conversation_id: str) -> AbstractAsyncContextManager[None]:
        """Wait for, then hold, the conversation's lock for the ``async with`` block."""
        ...

    def try_hold(self, conversation_id: str) -> AbstractAsyncContextManager[bool]:
        """Hold the lock for the block if it is free now; the block gets whether it was
        taken (``False``: someone holds it, nothing is held)."""
        ...

    def local(self, conversation_id: str) -> asyncio.Lock:
        """This process's part of the lock (fan-out holds it to serialise with attaches)."""
        ...

    async def close(self) -> None:
        """Release the backend."""
        ...


class LocalLocks:
    """One process's locks: enough when one node writes the store."""

    across_nodes = False

    def __init__(self) -> None:
        self._locks: weakref.WeakValueDictionary[str, asyncio.Lock] = weakref.WeakValueDictionary()

    def local(self, conversation_id: str) -> asyncio.Lock:
        """The conversation's ``asyncio.Lock`` (kept while anyone refers to it)."""
        lock = self._locks.get(conversation_id)
        if lock is None:
            lock = asyncio.Lock()
            self._locks[conversation_id] = lock
        return lock

    def hold(self, conversation_id: str) -> AbstractAsyncContextManager[None]:
        """Hold the conversation's lock for the block."""
        return _held(self.local(conversation_id))

    @asynccontextmanager
    async def try_hold(self, conversation_id: str) -> AsyncIterator[bool]:
        """Hold the lock for the block if free now; yields whether it was taken."""
        lock = self.local(conversation_id)
        if lock.locked():
            yield False
            return
        async with lock:
            yield True

    async def close(self) -> None:
        """Nothing to release."""


@asynccontextmanager
async def _held(lock: asyncio.Lock) -> AsyncIterator[None]:
    async with lock:
        yield


class PgLocks(LocalLocks):
    """Locks across nodes: this process's lock, then PostgreSQL's advisory lock on a
    connection of a pool of ``size`` (one per conversation being changed at once) to
    ``url``. Raises ``psycopg.OperationalError`` when the database is unreachable."""

    across_nodes = True

    def __init__(self, url: str, size: int = 32) -> None:
        super().__init__()
        from psycopg_pool import AsyncConnectionPool

        self._pool: AsyncConnectionPool[Any] = AsyncConnectionPool(
            url,
            min_size=1,
            max_size=size,
            kwargs={"autocommit": True, **KEEPALIVE},
            configure=_server_keepalive,
            open=False,
        )

    async def open(self) -> None:
        """Open the pool (waits for its first connection)."""
        await self._pool.open(wait=True, timeout=10)

    @asynccontextmanager
    async def hold(self, conversation_id: str) -> AsyncIterator[None]:  # type: ignore[override]
        """Hold the conversation's lock across nodes for the block."""
        async with self.local(conversation_id), self._pool.connection() as conn:
            await conn.execute(
                "SELECT pg_advisory_lock(hashtextextended(%s, 0))", (conversation_id,)
            )
            try:
                yield
            finally:
                await conn.execute(
                    "SELECT pg_advisory_unlock(hashtextextended(%s, 0))", (conversation_id,)
                )

    @asynccontextmanager
    async def try_hold(self, conversation_id: str) -> AsyncIterator[bool]:
        """Hold the lock across nodes for the block if no node holds it now."""
        lock = self.local(conversation_id)
        if lock.locked():
            yield False
            return
        async with lock, self._pool.connection() as conn:
            cur = await conn.execute(
                "SELECT pg_try_advisory_lock(hashtextextended(%s, 0))", (conversation_id,)
            )
            row = await cur.fetchone()
            if not (row and row[0]):
                yield False
                return
            try:
                yield True
            finally:
                await conn.execute(
                    "SELECT pg_advisory_unlock(hashtextextended(%s, 0))", (conversation_id,)
                )

    async def close(self) -> None:
        """Close the pool (a held lock is released with its session)."""
        await self._pool.close()


async def _server_keepalive(conn: Any) -> None:
    """The server side of the keepalives, so PostgreSQL drops a vanished node's session
    (and its locks) too."""
    for name in ("tcp_keepalives_idle", "tcp_keepalives_interval", "tcp_keepalives_count"):
        key = name.removeprefix("tcp_")
        await conn.execute(f"SET {name} = {int(KEEPALIVE[key])}".encode())
