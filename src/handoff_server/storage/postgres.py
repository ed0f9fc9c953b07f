"""PostgreSQL implementation of :class:`~handoff_server.store.Store`, for several
``handoff serve`` nodes on one database (``docs/scaling.md``).

- Sequence numbers: :meth:`PostgresStore.append_events` reads the conversation's
  ``last_seq`` with ``SELECT ... FOR UPDATE`` in the transaction that inserts the events
  and raises ``last_seq``. A row lock and not an advisory lock: the transaction updates
  that row anyway, so the lock costs nothing more, it is released by commit or rollback
  whatever happens to the node, and no writer can skip it (an advisory lock only binds
  code that remembers to take it). Two nodes appending to one conversation queue on the
  row; seqs stay gapless and unique (the primary key ``(conversation_id, seq)`` is the
  last line of defence).
- A client message id repeated by its sender hits the unique index
  ``events_client_msg`` and the whole transaction (events, outbox, turns) rolls back.
- The webhook outbox rows and AI turn rows go in the same transaction as their events.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

import psycopg

from handoff_server.protocol import ConversationStatus
from handoff_server.storage.pg_base import jsonb
from handoff_server.storage.pg_datacare import PgDataCare, agent_record
from handoff_server.storage.pg_presence import PgPresence
from handoff_server.storage.pg_tables import PgOperatorTables, PgOutbox, conversation, event
from handoff_server.store import (
    _CONV_FIELDS,
    _JSON_FIELDS,
    AgentRecord,
    AiTurnRow,
    AtCapacity,
    ConversationRecord,
    ConversationUpdate,
    NewEvent,
    OutboxRow,
    StoredEvent,
)

__all__ = ["PostgresStore"]

_END_KINDS = ["resolved", "released", "handed_back", "callback_done", "offline_reply"]


class PostgresStore(PgOutbox, PgOperatorTables, PgDataCare, PgPresence):
    """The :class:`~handoff_server.store.Store` contract on PostgreSQL (see the module
    docstring for how seqs, dedupe and the outbox are kept). Thread-safe: each call takes
    a pooled connection (``size`` at most, see :class:`~.pg_base.PgBase`).

    Errors: ``psycopg.errors.UniqueViolation`` (an ``IntegrityError``) where the contract
    says integrity error; ``psycopg.OperationalError`` when the database is gone."""

    def create_conversation(
        self, record: ConversationRecord, events: Sequence[NewEvent]
    ) -> list[StoredEvent]:
        """Insert a new conversation and its first events (seq 1..n) in one transaction.
        Raises ``psycopg.errors.UniqueViolation`` if the id exists."""
        with self._tx() as cur:
            cur.execute(
                "INSERT INTO conversations (id, status, resume_token_hash, created_at,"
                " updated_at, visitor, page_url, last_seq, priority)"
                " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)",
                (
                    record.id,
                    record.status,
                    record.resume_token_hash,
                    record.created_at,
                    record.updated_at,
                    jsonb(record.visitor),
                    record.page_url,
                    len(events),
                    record.priority,
                ),
            )
            return self._insert_events(cur, record.id, 0, events)

    def append_events(
        self,
        conversation_id: str,
        events: Sequence[NewEvent],
        updates: ConversationUpdate,
        outbox: Sequence[OutboxRow] = (),
        turns: Sequence[AiTurnRow] = (),
        seat: tuple[str, int] | None = None,
    ) -> list[StoredEvent]:
        """Append ``events`` after the conversation's last seq (taken under the row's
        lock) and apply ``updates``, with the ``outbox`` and ``turns`` rows, in one
        transaction. ``seat`` = ``(agent id, capacity)``: the agent's row is locked
        (``FOR UPDATE``: seated changes of one agent take turns, whichever node makes
        them), then their other assigned conversations are counted. Raises ``KeyError``
        (unknown conversation), ``ValueError`` (unknown column),
        ``psycopg.errors.UniqueViolation`` (a repeated client message id),
        :class:`~handoff_server.store.AtCapacity` (the agent is at ``capacity``)."""
        bad = set(updates) - _CONV_FIELDS
        if bad:
            raise ValueError(f"unknown conversation fields: {sorted(bad)}")
        with self._tx() as cur:
            cur.execute(
                "SELECT last_seq FROM conversations WHERE id = %s FOR UPDATE", (conversation_id,)
            )
            row = cur.fetchone()
            if row is None:
                raise KeyError(conversation_id)
            if seat is not None:
                _check_seat(cur, conversation_id, *seat)
            stored = self._insert_events(cur, conversation_id, row["last_seq"], events)
            self._insert_outbox(cur, outbox)
            self._insert_turns(cur, turns)
            cols: dict[str, Any] = dict(updates)
            if stored:
                cols["last_seq"] = stored[-1].seq
                cols.setdefault("updated_at", stored[-1].at)
            if cols:
                # Column names come from ConversationUpdate (checked above), never from input.
                assignments = ", ".join(f"{k} = %s" for k in cols)
                values = [jsonb(v) if k in _JSON_FIELDS else v for k, v in cols.items()]
                cur.execute(
                    f"UPDATE conversations SET {assignments} WHERE id = %s".encode(),
                    (*values, conversation_id),
                )
        return stored

    def _insert_events(
        self,
        cur: psycopg.Cursor[Any],
        conversation_id: str,
        last_seq: int,
        events: Sequence[NewEvent],
    ) -> list[StoredEvent]:
        stored = [
            StoredEvent(conversation_id=conversation_id, seq=last_seq + i, **ev.model_dump())
            for i, ev in enumerate(events, start=1)
        ]
        if stored:
            cur.executemany(
                "INSERT INTO events (conversation_id, seq, kind, at, data, client_msg_id,"
                " sender, visible_to_visitor) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
                [
                    (
                        se.conversation_id,
                        se.seq,
                        se.kind,
                        se.at,
                        jsonb(se.data),
                        se.client_msg_id,
                        se.sender,
                        se.visible_to_visitor,
                    )
                    for se in stored
                ],
            )
        return stored

    def get_conversation(self, conversation_id: str) -> ConversationRecord | None:
        """The conversation, or ``None``."""
        rows = self._rows("SELECT * FROM conversations WHERE id = %s", (conversation_id,))
        return conversation(rows[0]) if rows else None

    def list_conversations(
        self, statuses: Iterable[ConversationStatus]
    ) -> list[ConversationRecord]:
        """Conversations whose status is in ``statuses``, oldest first."""
        rows = self._rows(
            "SELECT * FROM conversations WHERE status = ANY(%s) ORDER BY created_at, id",
            (list(statuses),),
        )
        return [conversation(r) for r in rows]

    def unanswered_conversations(self, quiet_since: datetime | None) -> list[str]:
        """Ids of the conversations the AI answers (with the AI, or queued with the AI
        going on, ``ai_continues``) whose last event is a visitor message and that have
        not changed since ``quiet_since`` (``None``: any time): AI turns a dead node may
        have left (an index lookup per candidate, not a scan of every AI conversation's
        events; see :mod:`~handoff_server.conversations.interrupted`)."""
        quiet = " AND c.updated_at < %s" if quiet_since is not None else ""
        rows = self._rows(
            "SELECT c.id FROM conversations c JOIN events e ON e.conversation_id = c.id"
            " AND e.seq = c.last_seq WHERE (c.status = 'ai' OR (c.status = 'queued'"
            " AND c.fallback->>'chosen' = 'ai_continues'))" + quiet + " AND e.kind ="
            " 'visitor_message' ORDER BY c.updated_at",
            (quiet_since,) if quiet_since is not None else (),
        )
        return [r["id"] for r in rows]

    def events_after(
        self, conversation_id: str, after_seq: int, *, visitor_only: bool = False
    ) -> list[StoredEvent]:
        """Events with ``seq > after_seq`` in order; ``visitor_only`` skips internal ones."""
        sql = "SELECT * FROM events WHERE conversation_id = %s AND seq > %s"
        if visitor_only:
            sql += " AND visible_to_visitor"
        rows = self._rows(sql + " ORDER BY seq", (conversation_id, after_seq))
        return [event(r) for r in rows]

    def event_for_client_msg(
        self, conversation_id: str, sender: str, client_msg_id: str
    ) -> StoredEvent | None:
        """The event stored for ``sender``'s client message id, if that frame was handled."""
        rows = self._rows(
            "SELECT * FROM events WHERE conversation_id = %s AND sender = %s"
            " AND client_msg_id = %s",
            (conversation_id, sender, client_msg_id),
        )
        return event(rows[0]) if rows else None

    def handling_times(self, limit: int) -> list[tuple[str | None, float]]:
        """The ``limit`` most recent handling times, newest first: ``(team, seconds)``."""
        rows = self._rows(
            "SELECT c.team AS team, EXTRACT(EPOCH FROM (stop.at - e.at)) AS seconds"
            " FROM events e JOIN conversations c ON c.id = e.conversation_id"
            " JOIN LATERAL (SELECT x.at FROM events x WHERE x.conversation_id ="
            " e.conversation_id AND x.seq > e.seq AND x.kind = ANY(%s)"
            " ORDER BY x.seq LIMIT 1) stop ON TRUE"
            " WHERE e.kind = 'claimed' ORDER BY e.at DESC LIMIT %s",
            (_END_KINDS, limit),
        )
        return [(r["team"], float(r["seconds"])) for r in rows]

    # -- agents --------------------------------------------------------------------

    def create_agent(self, record: AgentRecord) -> None:
        """Insert an agent or operator. Raises ``psycopg.errors.UniqueViolation`` on a
        duplicate id or token hash."""
        self._exec(
            "INSERT INTO agents (id, name, role, token_hash, created_at, teams, capacity,"
            " expires_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
            (
                record.id,
                record.name,
                record.role,
                record.token_hash,
                record.created_at,
                jsonb(record.teams),
                record.capacity,
                record.expires_at,
            ),
        )

    def agent_by_token_hash(self, token_hash: str) -> AgentRecord | None:
        """The agent whose token hashes to ``token_hash``, or ``None``."""
        rows = self._rows("SELECT * FROM agents WHERE token_hash = %s", (token_hash,))
        return agent_record(rows[0]) if rows else None

    def list_agents(self) -> list[AgentRecord]:
        """Every agent and operator, oldest first."""
        return [agent_record(r) for r in self._rows("SELECT * FROM agents ORDER BY created_at, id")]

    def update_agent(self, agent_id: str, teams: list[str], capacity: int | None) -> AgentRecord:
        """Set an agent's teams and capacity; returns the stored record. Raises
        ``KeyError`` for an unknown agent."""
        rows = self._rows(
            "UPDATE agents SET teams = %s, capacity = %s WHERE id = %s RETURNING *",
            (jsonb(teams), capacity, agent_id),
        )
        if not rows:
            raise KeyError(agent_id)
        return agent_record(rows[0])


def _check_seat(
    cur: psycopg.Cursor[Any], conversation_id: str, agent_id: str, capacity: int
) -> None:
    """Raise :class:`~handoff_server.store.AtCapacity` when ``agent_id`` holds
    ``capacity`` assigned conversations other than this one. The agent's row lock makes
    two nodes' claims for one agent take turns; under READ COMMITTED the count, a new
    statement, then sees what the first committed. (An agent without a row, deleted
    while holding conversations, is counted without the lock: they cannot sign in to
    claim.)"""
    cur.execute("SELECT 1 FROM agents WHERE id = %s FOR UPDATE", (agent_id,))
    cur.execute(
        "SELECT count(*) AS held FROM conversations WHERE status = 'assigned'"
        " AND assigned_agent_id = %s AND id <> %s",
        (agent_id, conversation_id),
    )
    row = cur.fetchone()
    held = int(row["held"]) if row else 0
    if held >= capacity:
        raise AtCapacity(agent_id, held, capacity)
