"""The PostgreSQL store's care of data (issue 14): tokens' revocation, the write probe,
and visitor data's retention and erasure, mixed into
:class:`~handoff_server.storage.postgres.PostgresStore` (the twins of SQLite's
``_SQLiteDataCare``)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from handoff_server.protocol import matching_emails
from handoff_server.storage.pg_base import PgBase, loads, utc_row
from handoff_server.store import AgentRecord

__all__ = ["PgDataCare", "agent_record"]

_TASK_KINDS = ["callback_requested", "offline_message", "offline_reply"]
"""Events whose data may hold a visitor's email (``conversations_of_email``)."""

_ERASE = (
    ("events", "conversation_id = ANY(%s)"),
    ("ai_turns", "conversation_id = ANY(%s)"),
    ("webhook_outbox", "payload->'data'->>'conversation_id' = ANY(%s)"),
    ("conversations", "id = ANY(%s)"),
)
"""What an erasure deletes, children before the conversation rows they reference."""


def agent_record(row: dict[str, Any]) -> AgentRecord:
    """An ``agents`` row as an :class:`~handoff_server.store.AgentRecord`."""
    d = utc_row(dict(row), "created_at", "expires_at", "revoked_at")
    d["teams"] = loads(d["teams"])
    return AgentRecord.model_validate(d)


class PgDataCare(PgBase):
    """Tokens' revocation, the write probe, retention and erasure on PostgreSQL."""

    def revoke_agent(self, agent_id: str, at: datetime) -> AgentRecord:
        """Revoke the agent's token from ``at`` (an earlier revocation is kept); returns
        the stored record. Raises ``KeyError`` for an unknown agent."""
        rows = self._rows(
            "UPDATE agents SET revoked_at = COALESCE(revoked_at, %s) WHERE id = %s RETURNING *",
            (at, agent_id),
        )
        if not rows:
            raise KeyError(agent_id)
        return agent_record(rows[0])

    def delete_agent(self, agent_id: str) -> bool:
        """Delete the agent (a token never handed out); True when there was one."""
        return self._exec("DELETE FROM agents WHERE id = %s", (agent_id,)) > 0

    def conversations_of_email(self, email: str) -> list[str]:
        """Ids of the conversations holding ``email`` (the visitor's own, or one given in
        a callback request or offline message), compared by
        :func:`~handoff_server.protocol.email_key` as on SQLite, oldest first. The
        stored addresses are read and folded in Python, then matched exactly:
        PostgreSQL's ``lower()`` follows the database's locale."""
        stored = self._rows(
            "SELECT c.visitor->>'email' AS email FROM conversations c"
            " UNION SELECT e.data->>'email' FROM events e WHERE e.kind = ANY(%s)",
            (_TASK_KINDS,),
        )
        wanted = matching_emails((r["email"] for r in stored), email)
        if not wanted:
            return []
        rows = self._rows(
            "SELECT c.id FROM conversations c WHERE c.visitor->>'email' = ANY(%s)"
            " OR EXISTS (SELECT 1 FROM events e WHERE e.conversation_id = c.id"
            " AND e.kind = ANY(%s) AND e.data->>'email' = ANY(%s))"
            " ORDER BY c.created_at, c.id",
            (wanted, _TASK_KINDS, wanted),
        )
        return [r["id"] for r in rows]

    def resolved_before(self, cutoff: datetime, limit: int) -> list[str]:
        """Ids of up to ``limit`` resolved conversations last changed before ``cutoff``,
        oldest first."""
        rows = self._rows(
            "SELECT id FROM conversations WHERE status = 'resolved' AND updated_at < %s"
            " ORDER BY updated_at, id LIMIT %s",
            (cutoff, limit),
        )
        return [r["id"] for r in rows]

    def conversations_present(self, conversation_ids: Sequence[str]) -> set[str]:
        """Those of ``conversation_ids`` still stored."""
        ids = list(conversation_ids)
        if not ids:
            return set()
        rows = self._rows("SELECT id FROM conversations WHERE id = ANY(%s)", (ids,))
        return {r["id"] for r in rows}

    def erase_conversations(self, conversation_ids: Sequence[str]) -> dict[str, int]:
        """Delete the conversations and all stored of them in one transaction; returns
        the rows deleted per table. PostgreSQL keeps a deleted row's bytes until
        (auto)vacuum reclaims its page; nothing reads them meanwhile."""
        return self._erasure(conversation_ids, delete=True)

    def erasure_counts(self, conversation_ids: Sequence[str]) -> dict[str, int]:
        """The rows per table :meth:`erase_conversations` would delete, read in one
        transaction; nothing is changed."""
        return self._erasure(conversation_ids, delete=False)

    def _erasure(self, conversation_ids: Sequence[str], *, delete: bool) -> dict[str, int]:
        """Per table of :data:`_ERASE`, in one transaction: delete the conversations'
        rows (``delete``) or count them; returns the rows per table."""
        ids = list(conversation_ids)
        counts = {table: 0 for table, _ in _ERASE}
        if not ids:
            return counts
        verb = "DELETE" if delete else "SELECT COUNT(*) AS n"
        with self._tx() as cur:
            for table, condition in _ERASE:
                # Table names and conditions are the literals above, never input.
                cur.execute(f"{verb} FROM {table} WHERE {condition}".encode(), (ids,))
                if delete:
                    counts[table] = cur.rowcount
                else:
                    row = cur.fetchone()
                    counts[table] = int(row["n"]) if row is not None else 0
        return counts

    def probe_write(self) -> None:
        """Write 8 KiB to ``meta`` and delete it in one committed transaction (it needs
        WAL and table space as a real write does). Raises ``psycopg.Error``."""
        with self._tx() as cur:
            cur.execute(
                "INSERT INTO meta (key, value) VALUES ('write_probe', %s)"
                " ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value",
                ("x" * 8192,),
            )
            cur.execute("DELETE FROM meta WHERE key = 'write_probe'")
