"""Store backends for the contract suite: SQLite always, PostgreSQL when
``HANDOFF_TEST_POSTGRES_URL`` names a database (each test gets a schema of its own,
dropped after it)."""

from __future__ import annotations

import os
import sqlite3
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from handoff_server.store import SQLiteStore, Store

POSTGRES_ENV = "HANDOFF_TEST_POSTGRES_URL"
NO_POSTGRES = f"{POSTGRES_ENV} is not set (.ci/run sets it once PostgreSQL answers)"


def postgres_url() -> str | None:
    """The test database's URL, read before the autouse fixture clears HANDOFF_*."""
    return os.environ.get(POSTGRES_ENV)


_PG_URL = postgres_url()


def schema_url(base: str, schema: str) -> str:
    """``base`` with libpq's ``options`` setting ``search_path`` to ``schema``."""
    sep = "&" if "?" in base else "?"
    return f"{base}{sep}options=-csearch_path%3D{schema}"


@pytest.fixture
def pg_schema_url() -> Iterator[str]:
    """A fresh schema in the test database (its URL); dropped afterwards."""
    if _PG_URL is None:
        pytest.skip(NO_POSTGRES)
    import psycopg

    schema = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(_PG_URL, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}".encode())
    try:
        yield schema_url(_PG_URL, schema)
    finally:
        with psycopg.connect(_PG_URL, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA {schema} CASCADE".encode())


@pytest.fixture(params=["sqlite", "postgres"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, Any]]:
    """``(name, opener)``: the backend's name and a function opening (again) one store."""
    if request.param == "sqlite":
        yield "sqlite", lambda: SQLiteStore(tmp_path)
        return
    url = request.getfixturevalue("pg_schema_url")
    from handoff_server.storage.postgres import PostgresStore

    yield "postgres", lambda: PostgresStore(url, size=4)


@pytest.fixture
def store(backend: tuple[str, Any]) -> Iterator[Store]:
    """An empty store of each backend."""
    s = backend[1]()
    yield s
    s.close()


def integrity_errors() -> tuple[type[Exception], ...]:
    """The integrity errors of every backend."""
    errors: list[type[Exception]] = [sqlite3.IntegrityError]
    try:
        import psycopg

        errors.append(psycopg.IntegrityError)
    except ImportError:
        pass
    return tuple(errors)
