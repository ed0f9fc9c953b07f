"""``--store`` and ``handoff db upgrade``: the commands that open the store reach the
same PostgreSQL store, and a store that cannot be used is a clear error."""

from __future__ import annotations

from pathlib import Path

from tests.helpers import run_handoff


async def test_db_upgrade_creates_a_sqlite_store_at_the_newest_version(tmp_path: Path):
    from handoff_server.store import SCHEMA_VERSION

    done = await run_handoff("db", "upgrade", "--data-dir", str(tmp_path))
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"store at schema version {SCHEMA_VERSION}"
    assert (tmp_path / "handoff.sqlite3").exists()


async def test_a_store_url_that_is_not_postgresql_is_refused(tmp_path: Path):
    done = await run_handoff("db", "upgrade", "--store", "mysql://root@localhost/x")
    assert done.returncode == 2
    assert "error[bad_config]" in done.stderr and "postgresql://" in done.stderr


async def test_an_unreachable_database_fails_at_once_with_store_failed(tmp_path: Path):
    done = await run_handoff(
        "token", "create", "--name", "Sam", "--store", "postgresql://nobody:secret@127.0.0.1:1/x",
        timeout=30,
    )  # fmt: skip
    assert done.returncode == 2
    assert done.stderr.startswith("error[store_failed]: cannot open the PostgreSQL store")
    assert "secret" not in done.stderr


async def test_commands_share_one_postgresql_store(pg_schema_url: str, tmp_path: Path):
    made = await run_handoff("token", "create", "--name", "Sam", "--store", pg_schema_url)
    assert made.returncode == 0, made.stderr
    listed = await run_handoff("agents", "list", "--json", "--store", pg_schema_url)
    assert listed.returncode == 0, listed.stderr
    assert '"Sam"' in listed.stdout
    upgraded = await run_handoff("db", "upgrade", "--store", pg_schema_url)
    from handoff_server.store import SCHEMA_VERSION

    assert upgraded.stdout.strip() == f"store at schema version {SCHEMA_VERSION}"
    # issue 14's token list / revoke and erase reach the same store
    revoked = await run_handoff("token", "revoke", "Sam", "--store", pg_schema_url)
    assert revoked.returncode == 0, revoked.stderr
    tokens = await run_handoff("token", "list", "--json", "--store", pg_schema_url)
    assert tokens.returncode == 0, tokens.stderr
    assert '"state": "revoked"' in tokens.stdout
    erased = await run_handoff(
        "erase", "--email", "ada@example.com", "--json", "--store", pg_schema_url
    )
    assert erased.returncode == 0, erased.stderr
    assert '"conversations": []' in erased.stdout
    # the SQLite data dir was not touched
    assert not (tmp_path / "handoff.sqlite3").exists()
