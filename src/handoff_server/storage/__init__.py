"""Store backends besides the embedded SQLite one (:mod:`handoff_server.store`).

:mod:`.postgres` is the PostgreSQL implementation of :class:`~handoff_server.store.Store`
for several ``handoff serve`` nodes on one database (``docs/scaling.md``); it needs the
``postgres`` extra (``pip install 'handoff[postgres]'``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from handoff_server.errors import DataDirError
from handoff_server.extras import install_hint

if TYPE_CHECKING:
    from handoff_server.store import Store

__all__ = ["open_postgres", "store_errors"]


def open_postgres(url: str, pool_size: int = 8) -> Store:
    """Connect to the PostgreSQL store at ``url`` and migrate it to this release's schema.

    Raises :class:`~handoff_server.errors.DataDirError` with code ``missing_extra`` when
    psycopg is not installed, ``store_failed`` when the database cannot be reached or
    migrated (the password in ``url`` is never shown)."""
    try:
        import psycopg

        from handoff_server.storage import postgres
    except ImportError:
        raise DataDirError(
            "a postgresql:// store needs the postgres extra: " + install_hint("postgres"),
            code="missing_extra",
        ) from None
    try:
        store: Store = postgres.PostgresStore(url, size=pool_size)
        return store
    except (psycopg.Error, OSError, TimeoutError) as exc:
        where = url.split("@")[-1]
        raise DataDirError(
            f"cannot open the PostgreSQL store at {where}: {exc}", code="store_failed"
        ) from None


def store_errors() -> tuple[type[Exception], ...]:
    """The I/O and integrity errors a store may raise, whichever backend is installed
    (``sqlite3.Error``, and ``psycopg.Error`` with the postgres extra)."""
    import sqlite3

    errors: list[type[Exception]] = [sqlite3.Error]
    try:
        import psycopg
    except ImportError:
        return tuple(errors)
    errors.append(psycopg.Error)
    return tuple(errors)
