"""The PostgreSQL store's webhook outbox and operator tables (policy versions, AI turns,
saved eval runs, period queries), mixed into
:class:`~handoff_server.storage.postgres.PostgresStore`."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import psycopg

from handoff_server.storage.pg_base import PgBase, jsonb, loads, utc_row
from handoff_server.store import (
    _TURN_FIELDS,
    AiTurnRow,
    ConversationRecord,
    EvalRun,
    OutboxRow,
    PolicyMeta,
    PolicyRecord,
    StoredEvent,
    outbox_conversation,
    utcnow,
)

__all__ = ["PgOperatorTables", "PgOutbox", "conversation", "event", "period"]


def period(column: str, since: datetime | None, until: datetime | None) -> tuple[str, list[Any]]:
    """SQL ``AND`` clauses (and their parameters) keeping ``column`` in [since, until)."""
    sql, params = "", []
    if since is not None:
        sql += f" AND {column} >= %s"
        params.append(since)
    if until is not None:
        sql += f" AND {column} < %s"
        params.append(until)
    return sql, params


def conversation(row: dict[str, Any]) -> ConversationRecord:
    """A ``conversations`` row as a record."""
    d = utc_row(dict(row), "created_at", "updated_at", "queued_at")
    for k in ("visitor", "trigger", "wait_estimate", "fallback"):
        d[k] = loads(d.get(k))
    return ConversationRecord.model_validate(d)


def event(row: dict[str, Any]) -> StoredEvent:
    """An ``events`` row as a stored event."""
    return StoredEvent.model_validate(utc_row(dict(row), "at"))


_CLAIM_SQL = """
WITH heads AS (
    SELECT o.endpoint AS endpoint, COALESCE(o.conversation_id, o.id) AS grp
    FROM webhook_outbox o
    WHERE o.status = 'pending' AND o.next_attempt_at <= %(now)s
      AND (o.claimed_until IS NULL OR o.claimed_until <= %(now)s)
      AND NOT EXISTS (
          SELECT 1 FROM webhook_outbox e
          WHERE e.endpoint = o.endpoint AND e.status = 'pending'
            AND COALESCE(e.conversation_id, e.id) = COALESCE(o.conversation_id, o.id)
            AND (e.claimed_until > %(now)s
                 OR (e.next_attempt_at <= %(now)s AND (e.created_at, e.id) < (o.created_at, o.id))))
    ORDER BY o.next_attempt_at, o.created_at, o.id
    LIMIT %(limit)s
    FOR UPDATE OF o SKIP LOCKED
)
UPDATE webhook_outbox w SET claimed_until = %(until)s
FROM heads h
WHERE w.endpoint = h.endpoint AND COALESCE(w.conversation_id, w.id) = h.grp
  AND w.status = 'pending' AND w.next_attempt_at <= %(now)s
  AND (w.claimed_until IS NULL OR w.claimed_until <= %(now)s)
RETURNING w.*
"""
"""The claim (see :meth:`PgOutbox.claim_outbox`)."""


def _outbox(row: dict[str, Any]) -> OutboxRow:
    return OutboxRow.model_validate(utc_row(dict(row), "created_at", "next_attempt_at"))


def _policy(row: dict[str, Any]) -> PolicyRecord:
    return PolicyRecord(
        version=row["version"],
        author=row["author"],
        created_at=utc_row(dict(row), "created_at")["created_at"],
        body=loads(row["body"]),
        comment=row["comment"],
        rolled_back_to=row["rolled_back_to"],
    )


class PgOutbox(PgBase):
    """The webhook outbox (see :class:`~handoff_server.store.Store`)."""

    def _insert_outbox(self, cur: psycopg.Cursor[Any], rows: Sequence[OutboxRow]) -> None:
        for r in rows:
            cur.execute(
                "INSERT INTO webhook_outbox (id, endpoint, event_type, payload, created_at,"
                " next_attempt_at, conversation_id) VALUES (%s, %s, %s, %s, %s, %s, %s)",
                (
                    r.id,
                    r.endpoint,
                    r.event_type,
                    jsonb(r.payload),
                    r.created_at,
                    r.next_attempt_at,
                    outbox_conversation(r.payload),
                ),
            )

    def claim_outbox(self, now: datetime, limit: int, until: datetime) -> list[OutboxRow]:
        """Claim the due deliveries of up to ``limit`` (endpoint, conversation) pairs
        until ``until`` (see :class:`~handoff_server.store.Store`), in one statement.

        Each pair's head (its oldest due delivery) is locked ``FOR UPDATE SKIP LOCKED``:
        two nodes claiming at once never wait for each other, and never both take a
        pair, since a claimant must lock its head first. One that locks a head another
        has just claimed re-reads the row (READ COMMITTED) and finds the claim, so skips
        it; a pair's later rows wait while any of its rows is claimed."""
        rows = self._rows(_CLAIM_SQL, {"now": now, "limit": limit, "until": until})  # type: ignore[arg-type]
        return sorted((_outbox(r) for r in rows), key=lambda r: (r.created_at, r.id))

    def release_outbox(self, keys: Sequence[tuple[str, str]]) -> None:
        """End the claims on the deliveries ``keys`` (``(id, endpoint)``)."""
        with self._tx() as cur:
            cur.executemany(
                "UPDATE webhook_outbox SET claimed_until = NULL WHERE id = %s AND endpoint = %s",
                list(keys),
            )

    def due_outbox(self, now: datetime, limit: int) -> list[OutboxRow]:
        """Up to ``limit`` pending deliveries due at ``now``, oldest due first."""
        rows = self._rows(
            "SELECT * FROM webhook_outbox WHERE status = 'pending' AND next_attempt_at <= %s"
            " ORDER BY next_attempt_at, created_at LIMIT %s",
            (now, limit),
        )
        return [_outbox(r) for r in rows]

    def _set_outbox(self, row_id: str, endpoint: str, **cols: Any) -> None:
        # Column names come from the methods below, never from input.
        assignments = ", ".join(f"{k} = %s" for k in cols)
        self._exec(
            f"UPDATE webhook_outbox SET {assignments} WHERE id = %s AND endpoint = %s",
            (*cols.values(), row_id, endpoint),
        )

    def outbox_delivered(self, row_id: str, endpoint: str, attempts: int) -> None:
        """Mark a delivery done after ``attempts`` tries."""
        self._set_outbox(
            row_id,
            endpoint,
            status="delivered",
            attempts=attempts,
            last_error=None,
            claimed_until=None,
        )

    def outbox_retry(
        self, row_id: str, endpoint: str, attempts: int, at: datetime, error: str
    ) -> None:
        """Record a failed try (``error``) and when to try again (``at``); its claim
        ends."""
        self._set_outbox(
            row_id,
            endpoint,
            attempts=attempts,
            next_attempt_at=at,
            last_error=error,
            claimed_until=None,
        )

    def outbox_failed(self, row_id: str, endpoint: str, attempts: int, error: str) -> None:
        """Mark a delivery failed for good (listed, redelivered only by an operator)."""
        self._set_outbox(
            row_id,
            endpoint,
            status="failed",
            attempts=attempts,
            last_error=error,
            claimed_until=None,
        )

    def list_outbox(self, *, failed_only: bool = False) -> list[OutboxRow]:
        """Every delivery (or only the failed ones), oldest first."""
        where = " WHERE status = 'failed'" if failed_only else ""
        rows = self._rows(f"SELECT * FROM webhook_outbox{where} ORDER BY created_at, id")
        return [_outbox(r) for r in rows]

    def requeue_outbox(self, row_id: str, now: datetime, *, delivered: bool = False) -> int:
        """Make the deliveries of event ``row_id`` not delivered (all with
        ``delivered``) pending, due ``now``, attempts reset; returns how many changed."""
        # The status filter is one of two literals, never input.
        which = "" if delivered else " AND status <> 'delivered'"
        return self._exec(
            "UPDATE webhook_outbox SET status = 'pending', attempts = 0,"
            " next_attempt_at = %s, last_error = NULL, claimed_until = NULL WHERE id = %s" + which,
            (now, row_id),
        )


_TURN_SELECT = ", ".join(f"t.{name}" for name in _TURN_FIELDS)


def _turns(rows: list[dict[str, Any]]) -> list[AiTurnRow]:
    out = []
    for r in rows:
        d = utc_row(dict(r), "at")
        visitor = loads(d.pop("visitor"))
        out.append(AiTurnRow(**d, visitor_json=_dumps(visitor)))
    return out


def _dumps(value: Any) -> str:
    return json.dumps(value)


class PgOperatorTables(PgBase):
    """Policy versions, AI turns, eval runs and the period queries analytics read."""

    def _insert_turns(self, cur: psycopg.Cursor[Any], turns: Sequence[AiTurnRow]) -> None:
        columns = ", ".join(_TURN_FIELDS)
        marks = ", ".join(["%s"] * len(_TURN_FIELDS))
        for t in turns:
            values = [getattr(t, name) for name in _TURN_FIELDS]
            cur.execute(f"INSERT INTO ai_turns ({columns}) VALUES ({marks})".encode(), values)

    def save_policy(self, body: dict[str, Any], author: str) -> int:
        """Store a new policy version (the caller validated ``body``); returns its number."""
        with self._tx() as cur:
            cur.execute("LOCK TABLE policies IN SHARE ROW EXCLUSIVE MODE")
            cur.execute(
                "INSERT INTO policies (version, author, created_at, body) SELECT"
                " COALESCE(MAX(version), 0) + 1, %s, %s, %s FROM policies RETURNING version",
                (author, utcnow(), jsonb(body)),
            )
            row = cur.fetchone()
        assert row is not None
        return int(row["version"])

    def latest_policy(self) -> PolicyRecord | None:
        """The newest policy version, or ``None`` before the first is saved."""
        rows = self._rows("SELECT * FROM policies ORDER BY version DESC LIMIT 1")
        return _policy(rows[0]) if rows else None

    def latest_policy_version(self) -> int:
        """The newest policy version number, 0 if none."""
        return int(self._rows("SELECT COALESCE(MAX(version), 0) AS v FROM policies")[0]["v"])

    def policy_history(self) -> list[PolicyRecord]:
        """Every policy version, oldest first."""
        return [_policy(r) for r in self._rows("SELECT * FROM policies ORDER BY version")]

    def apply_policy(
        self, body: dict[str, Any], author: str, base_version: int, meta: PolicyMeta
    ) -> PolicyRecord | None:
        """Store ``body`` as the next version if the newest is still ``base_version``;
        ``None`` (nothing written) if another version came first (the table lock makes
        the check and the insert one step across nodes)."""
        with self._tx() as cur:
            cur.execute("LOCK TABLE policies IN SHARE ROW EXCLUSIVE MODE")
            cur.execute("SELECT COALESCE(MAX(version), 0) AS v FROM policies")
            row = cur.fetchone()
            if row is None or int(row["v"]) != base_version:
                return None
            cur.execute(
                "INSERT INTO policies (version, author, created_at, body, comment,"
                " rolled_back_to, author_id, client_msg_id) VALUES (%s,%s,%s,%s,%s,%s,%s,%s)"
                " RETURNING *",
                (
                    base_version + 1,
                    author,
                    utcnow(),
                    jsonb(body),
                    meta.comment,
                    meta.rolled_back_to,
                    meta.author_id,
                    meta.client_msg_id,
                ),
            )
            stored = cur.fetchone()
        return _policy(stored) if stored else None

    def policy_for_client_msg(self, author_id: str, client_msg_id: str) -> PolicyRecord | None:
        """The version stored for an operator's client message id, if any."""
        rows = self._rows(
            "SELECT * FROM policies WHERE author_id = %s AND client_msg_id = %s",
            (author_id, client_msg_id),
        )
        return _policy(rows[0]) if rows else None

    def turns_of_conversations(
        self, since: datetime | None, until: datetime | None
    ) -> list[AiTurnRow]:
        """Every AI turn of the conversations started in [since, until), by conversation,
        then seq."""
        where, params = period("c.created_at", since, until)
        return _turns(
            self._rows(
                f"SELECT {_TURN_SELECT}, c.visitor, c.page_url FROM ai_turns t"
                f" JOIN conversations c ON t.conversation_id = c.id WHERE TRUE{where}"
                " ORDER BY t.conversation_id, t.seq",
                params,
            )
        )

    def turns_between(self, since: datetime | None, until: datetime | None) -> list[AiTurnRow]:
        """The AI turns decided in [since, until), oldest first."""
        where, params = period("t.at", since, until)
        return _turns(
            self._rows(
                f"SELECT {_TURN_SELECT}, c.visitor, c.page_url FROM ai_turns t"
                f" JOIN conversations c ON t.conversation_id = c.id WHERE TRUE{where}"
                " ORDER BY t.at, t.conversation_id, t.seq",
                params,
            )
        )

    def conversations_between(
        self, since: datetime | None, until: datetime | None
    ) -> list[ConversationRecord]:
        """The conversations started in [since, until), oldest first."""
        where, params = period("created_at", since, until)
        rows = self._rows(
            f"SELECT * FROM conversations WHERE TRUE{where} ORDER BY created_at, id", params
        )
        return [conversation(r) for r in rows]

    def events_of_kinds(
        self, kinds: Sequence[str], since: datetime | None, until: datetime | None
    ) -> list[StoredEvent]:
        """The events of ``kinds`` of the conversations started in [since, until), by
        conversation, then seq."""
        where, params = period("c.created_at", since, until)
        rows = self._rows(
            "SELECT e.* FROM events e JOIN conversations c ON e.conversation_id = c.id"
            f" WHERE e.kind = ANY(%s){where} ORDER BY c.created_at, c.id, e.seq",
            [list(kinds), *params],
        )
        return [event(r) for r in rows]

    def save_eval_run(self, run: EvalRun) -> None:
        """Keep the results of one ``handoff eval``."""
        self._exec(
            "INSERT INTO eval_runs (created_at, engine, kb, samples) VALUES (%s, %s, %s, %s)",
            (run.created_at, run.engine, run.kb, jsonb(run.samples)),
        )

    def latest_eval_run(self) -> EvalRun | None:
        """The newest saved ``handoff eval`` results, or ``None``."""
        rows = self._rows("SELECT * FROM eval_runs ORDER BY id DESC LIMIT 1")
        if not rows:
            return None
        r = rows[0]
        return EvalRun(
            created_at=utc_row(dict(r), "created_at")["created_at"],
            engine=r["engine"],
            kb=r["kb"],
            samples=[(float(c), bool(ok)) for c, ok in loads(r["samples"])],
        )
