"""The PostgreSQL connection pool, migrations and row conversions shared by the
:class:`~handoff_server.storage.postgres.PostgresStore` mixins.

Driver: psycopg 3 (``psycopg[binary]`` and ``psycopg-pool``). Why it and not asyncpg:
the store contract (:class:`~handoff_server.store.Store`) is synchronous, because the
CLI commands (``token create``, ``policy``, ``report``, ``webhooks``) call it without an
event loop and the server calls it through :class:`~handoff_server.store.AsyncStore`;
psycopg 3 serves that contract directly with a thread-safe pool, while asyncpg offers
only coroutines, and psycopg's async API is the same one, should the server later call
the database from its event loop.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC
from typing import Any

import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb
from psycopg_pool import ConnectionPool

from handoff_server.storage.pg_schema import PG_MIGRATIONS, PG_SCHEMA_VERSION
from handoff_server.store import StoreVersionError

__all__ = ["MIGRATION_LOCK", "PgBase", "jsonb"]

MIGRATION_LOCK = 0x68616E64
"""Advisory lock key ('hand') held while migrating, so nodes starting together migrate
once."""


def jsonb(value: Any) -> Jsonb | None:
    """A JSON-able value as a ``jsonb`` parameter (``None`` stays SQL NULL)."""
    return Jsonb(value) if value is not None else None


def _configure(conn: psycopg.Connection[Any]) -> None:
    conn.execute("SET TIME ZONE 'UTC'")
    conn.commit()


class PgBase:
    """A pool of connections to ``url`` (``postgresql://...``; libpq's ``options`` may
    set ``search_path`` to keep the tables in a schema of their own), ``size``
    connections at most.

    Raises ``psycopg.OperationalError`` when the database cannot be reached within
    ``timeout`` seconds, :class:`~handoff_server.store.StoreVersionError` for a database
    written by a newer release."""

    parallel_calls: int
    """How many calls :class:`~handoff_server.store.AsyncStore` may run at once."""

    def __init__(self, url: str, *, size: int = 8, timeout: float = 10.0) -> None:
        self.url = url
        self.parallel_calls = size
        # One direct connection first: an unreachable database fails at once with
        # libpq's reason, not after the pool's retries.
        psycopg.connect(url, connect_timeout=max(1, int(timeout))).close()
        self._pool: ConnectionPool[psycopg.Connection[dict[str, Any]]] = ConnectionPool(
            url,
            min_size=1,
            max_size=size,
            timeout=timeout,
            configure=_configure,
            kwargs={"row_factory": dict_row, "connect_timeout": max(1, int(timeout))},
            open=False,
        )
        self._pool.open(wait=True, timeout=timeout)
        try:
            self.migrate()
        except BaseException:
            self._pool.close()
            raise

    @contextmanager
    def _tx(self) -> Iterator[psycopg.Cursor[dict[str, Any]]]:
        """One transaction on a pooled connection: committed at the end of the block,
        rolled back on any error."""
        with self._pool.connection() as conn, conn.transaction(), conn.cursor() as cur:
            yield cur

    def _rows(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        with self._tx() as cur:
            cur.execute(sql.encode(), params)  # type: ignore[arg-type]
            return cur.fetchall()

    def _exec(self, sql: str, params: Sequence[Any] = ()) -> int:
        """Run one statement in its own transaction; returns the rows it changed."""
        with self._tx() as cur:
            cur.execute(sql.encode(), params)  # type: ignore[arg-type]
            return cur.rowcount

    def migrate(self) -> int:
        """Apply the :data:`PG_MIGRATIONS` newer than the stored version, each with its
        version bump in one transaction, under an advisory lock (nodes starting at once
        migrate once); returns the version now stored."""
        with self._tx() as cur:
            cur.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK,))
            cur.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT)")
            cur.execute("SELECT value FROM meta WHERE key = 'schema_version'")
            row = cur.fetchone()
            found = int(row["value"]) if row else 0
            if found > PG_SCHEMA_VERSION:
                raise StoreVersionError(found, PG_SCHEMA_VERSION)
            for version, script in PG_MIGRATIONS:
                if version <= found:
                    continue
                cur.execute(script.encode())
                cur.execute(
                    "INSERT INTO meta (key, value) VALUES ('schema_version', %s)"
                    " ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value",
                    (str(version),),
                )
                found = version
        return found

    def schema_version(self) -> int:
        """The schema version of the open database (an int)."""
        rows = self._rows("SELECT value FROM meta WHERE key = 'schema_version'")
        return int(rows[0]["value"]) if rows else 0

    def ping(self) -> None:
        """One round trip to the database; raises ``psycopg.Error`` when it fails."""
        self._rows("SELECT 1")

    def close(self) -> None:
        """Close every pooled connection."""
        self._pool.close()


def utc_row(row: dict[str, Any], *columns: str) -> dict[str, Any]:
    """``row`` with its ``columns`` (timestamps) in UTC."""
    for c in columns:
        if row.get(c) is not None:
            row[c] = row[c].astimezone(UTC)
    return row


def loads(value: Any) -> Any:
    """A ``jsonb`` column as read (psycopg parses it already; text is parsed here)."""
    return json.loads(value) if isinstance(value, str | bytes) else value
