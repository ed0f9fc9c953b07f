"""Schema migrations: an existing store is brought to the newest schema on open, once,
and a store from a newer release is refused rather than misread."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from handoff_server import store as store_module
from handoff_server.store import SQLiteStore, StoreVersionError


def test_a_fresh_store_is_at_the_current_schema_version(tmp_path: Path) -> None:
    s = SQLiteStore(tmp_path / "h.sqlite3")
    assert s.schema_version() == store_module.SCHEMA_VERSION


def test_an_old_store_gets_the_new_migration_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "h.sqlite3"
    SQLiteStore(path)  # written by "the previous release"
    newest = store_module.SCHEMA_VERSION + 1
    migration = (newest, "ALTER TABLE agents ADD COLUMN nickname TEXT;\n")
    monkeypatch.setattr(store_module, "MIGRATIONS", [*store_module.MIGRATIONS, migration])
    monkeypatch.setattr(store_module, "SCHEMA_VERSION", newest)
    upgraded = SQLiteStore(path)
    assert upgraded.schema_version() == newest
    cols = [r[1] for r in sqlite3.connect(path).execute("PRAGMA table_info(agents)")]
    assert cols.count("nickname") == 1
    again = SQLiteStore(path)  # opening again applies nothing twice (ALTER would fail)
    assert again.schema_version() == newest


def test_a_store_from_a_newer_release_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "h.sqlite3"
    SQLiteStore(path)
    con = sqlite3.connect(path)
    con.execute("UPDATE meta SET value = '99' WHERE key = 'schema_version'")
    con.commit()
    con.close()
    with pytest.raises(StoreVersionError, match="schema version 99"):
        SQLiteStore(path)


def test_a_version_1_store_gets_agent_teams_and_capacity(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Version 2 (routing): agents signed up before it serve every team at the default
    capacity, and keep their tokens."""
    path = tmp_path / "h.sqlite3"
    with monkeypatch.context() as m:
        m.setattr(store_module, "MIGRATIONS", [])
        m.setattr(store_module, "SCHEMA_VERSION", 1)
        old = SQLiteStore(path)
        assert old.schema_version() == 1
        old._db.execute(
            "INSERT INTO agents (id, name, role, token_hash, created_at)"
            " VALUES ('agt_1', 'Sam', 'agent', 'h1', '2026-01-01T00:00:00+00:00')"
        )
        old.close()
    upgraded = SQLiteStore(path)
    assert upgraded.schema_version() >= 2
    sam = upgraded.agent_by_token_hash("h1")
    assert sam is not None and (sam.teams, sam.capacity) == ([], None)
    changed = upgraded.update_agent("agt_1", ["billing", "security"], 4)
    assert (changed.teams, changed.capacity) == (["billing", "security"], 4)
    assert [a.teams for a in upgraded.list_agents()] == [["billing", "security"]]
    with pytest.raises(KeyError):
        upgraded.update_agent("agt_nobody", [], None)


def test_a_version_5_stores_pending_webhooks_are_claimed_per_conversation(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Version 6 (webhooks claimed across nodes): rows written before it learn their
    conversation from the payload (``data.conversation_id`` or the handoff packet's), so
    one conversation's are claimed together, in order."""
    path = tmp_path / "h.sqlite3"
    with monkeypatch.context() as m:
        m.setattr(store_module, "MIGRATIONS", [x for x in store_module.MIGRATIONS if x[0] <= 5])
        m.setattr(store_module, "SCHEMA_VERSION", 5)
        old = SQLiteStore(path)
        rows = [
            ("w1", '{"data": {"packet": {"conversation_id": "c1"}}}', "00"),
            ("w2", '{"data": {"conversation_id": "c1"}}', "01"),
            ("w3", '{"data": {"message": "test"}}', "02"),
        ]
        for row_id, payload, second in rows:
            at = f"2026-01-01T00:00:{second}.000000+00:00"
            old._db.execute(
                "INSERT INTO webhook_outbox (id, endpoint, event_type, payload, created_at,"
                " next_attempt_at) VALUES (?, 'https://h.example/x', 't', ?, ?, ?)",
                (row_id, payload, at, at),
            )
        old.close()
    upgraded = SQLiteStore(path)
    assert upgraded.schema_version() >= 6  # the newest: 7 adds the capacity index
    got = upgraded._rows("SELECT id, conversation_id FROM webhook_outbox ORDER BY id")
    assert [tuple(r) for r in got] == [("w1", "c1"), ("w2", "c1"), ("w3", None)]
    now = datetime(2026, 1, 1, 0, 1, tzinfo=UTC)
    first = upgraded.claim_outbox(now, 1, now + timedelta(minutes=1))
    assert [r.id for r in first] == ["w1", "w2"]
    assert [r.id for r in upgraded.claim_outbox(now, 5, now + timedelta(minutes=1))] == ["w3"]
