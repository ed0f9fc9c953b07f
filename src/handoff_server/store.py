"""Persistence behind a small interface; SQLite (WAL) is the embedded default.

Everything the server persists goes through :class:`Store`. The SQLite implementation is
synchronous and must be used from one thread at a time (the server confines it to a
single worker thread, see :class:`handoff_server.conversations.AsyncStore`); a networked
database can replace it by implementing the same methods.

Durability: every ``append_events`` is one transaction; it returns only after commit, so
an event that was acknowledged or broadcast survives a crash (``PRAGMA synchronous=FULL``
by default also survives power loss).
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from pydantic import BaseModel, Field

__all__ = [
    "AgentRecord",
    "ConversationRecord",
    "NewEvent",
    "PolicyRecord",
    "SQLiteStore",
    "Store",
    "StoredEvent",
    "hash_token",
    "utcnow",
]

SCHEMA_VERSION = 1


def hash_token(token: str) -> str:
    """SHA-256 hex digest of a token (tokens are 32 random bytes, so no salt is needed)."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def utcnow() -> datetime:
    """Current time, timezone-aware UTC."""
    return datetime.now(UTC)


class NewEvent(BaseModel):
    """An event to append: ``kind``, its JSON-able ``data``, the client message id and its
    ``sender`` (``visitor`` or the agent's id) if the event answers a client frame, and
    whether visitors may see it. A client message id is unique per sender in a
    conversation."""

    kind: str
    data: dict[str, Any] = Field(default_factory=dict)
    client_msg_id: str | None = None
    sender: str | None = None
    visible_to_visitor: bool = True
    at: datetime = Field(default_factory=utcnow)


class StoredEvent(BaseModel):
    """An event as stored: per-conversation ``seq`` starts at 1 and has no gaps."""

    conversation_id: str
    seq: int
    kind: str
    at: datetime
    data: dict[str, Any]
    client_msg_id: str | None = None
    sender: str | None = None
    visible_to_visitor: bool = True


class ConversationRecord(BaseModel):
    """A conversation's current state (derived from its events, kept for queries).

    ``status``: ai | queued | assigned | resolved. Times are UTC.
    """

    id: str
    status: str
    resume_token_hash: str
    created_at: datetime
    updated_at: datetime
    visitor: dict[str, Any] = Field(default_factory=dict)
    page_url: str | None = None
    last_seq: int = 0
    assigned_agent_id: str | None = None
    assigned_agent_name: str | None = None
    assigned_agent_role: str | None = None
    team: str | None = None
    priority: int = 0
    trigger: dict[str, Any] | None = None
    last_confidence: float | None = None
    first_question: str | None = None
    queued_at: datetime | None = None


class AgentRecord(BaseModel):
    """A person who can sign in: ``role`` is agent or operator; only the token hash is kept."""

    id: str
    name: str
    role: str
    token_hash: str
    created_at: datetime


class PolicyRecord(BaseModel):
    """One version of the escalation policy: who changed it, when (UTC), and its body."""

    version: int
    author: str
    created_at: datetime
    body: dict[str, Any]


_CONV_FIELDS = (
    "status",
    "updated_at",
    "visitor",
    "page_url",
    "last_seq",
    "assigned_agent_id",
    "assigned_agent_name",
    "assigned_agent_role",
    "team",
    "priority",
    "trigger",
    "last_confidence",
    "first_question",
    "queued_at",
)
_JSON_FIELDS = {"visitor", "trigger"}


class Store(Protocol):
    """What the server needs from persistence. All times UTC; all methods may raise
    ``sqlite3.Error`` (or the backend's equivalent) on I/O failure, with nothing written."""

    def create_conversation(
        self, record: ConversationRecord, events: Sequence[NewEvent]
    ) -> list[StoredEvent]: ...

    def append_events(
        self, conversation_id: str, events: Sequence[NewEvent], updates: dict[str, Any]
    ) -> list[StoredEvent]: ...

    def get_conversation(self, conversation_id: str) -> ConversationRecord | None: ...

    def list_conversations(self, statuses: Iterable[str]) -> list[ConversationRecord]: ...

    def events_after(
        self, conversation_id: str, after_seq: int, *, visitor_only: bool = False
    ) -> list[StoredEvent]: ...

    def event_for_client_msg(
        self, conversation_id: str, sender: str, client_msg_id: str
    ) -> StoredEvent | None: ...

    def create_agent(self, record: AgentRecord) -> None: ...

    def agent_by_token_hash(self, token_hash: str) -> AgentRecord | None: ...

    def save_policy(self, body: dict[str, Any], author: str) -> int: ...

    def latest_policy(self) -> PolicyRecord | None: ...

    def policy_history(self) -> list[PolicyRecord]: ...

    def close(self) -> None: ...


def _ts(dt: datetime | None) -> str | None:
    return dt.astimezone(UTC).isoformat() if dt is not None else None


def _dt(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value is not None else None


class SQLiteStore:
    """SQLite implementation of :class:`Store`.

    ``path``: the database file, or a folder (then ``handoff.sqlite3`` inside it); parent
    folders are created. ``synchronous``: ``FULL`` or ``NORMAL``.

    Not thread-safe: use from one thread at a time (a lock guards against accidents).
    """

    def __init__(self, path: Path | str, *, synchronous: str = "FULL") -> None:
        p = Path(path)
        if p.suffix not in (".sqlite3", ".db", ".sqlite"):
            p = p / "handoff.sqlite3"
        p.parent.mkdir(parents=True, exist_ok=True)
        self.path = p
        self._lock = threading.Lock()
        self._db = sqlite3.connect(p, isolation_level=None, check_same_thread=False)
        self._db.row_factory = sqlite3.Row
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute(f"PRAGMA synchronous={'FULL' if synchronous == 'FULL' else 'NORMAL'}")
        self._db.execute("PRAGMA foreign_keys=ON")
        self._db.execute("PRAGMA busy_timeout=5000")
        self._migrate()

    def _migrate(self) -> None:
        with self._lock:
            self._db.executescript(
                """
                CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
                CREATE TABLE IF NOT EXISTS conversations (
                    id TEXT PRIMARY KEY,
                    status TEXT NOT NULL,
                    resume_token_hash TEXT NOT NULL,
                    created_at TEXT NOT NULL,
                    updated_at TEXT NOT NULL,
                    visitor TEXT NOT NULL,
                    page_url TEXT,
                    last_seq INTEGER NOT NULL DEFAULT 0,
                    assigned_agent_id TEXT,
                    assigned_agent_name TEXT,
                    assigned_agent_role TEXT,
                    team TEXT,
                    priority INTEGER NOT NULL DEFAULT 0,
                    trigger TEXT,
                    last_confidence REAL,
                    first_question TEXT,
                    queued_at TEXT
                );
                CREATE INDEX IF NOT EXISTS conversations_status ON conversations(status);
                CREATE TABLE IF NOT EXISTS events (
                    conversation_id TEXT NOT NULL REFERENCES conversations(id),
                    seq INTEGER NOT NULL,
                    kind TEXT NOT NULL,
                    at TEXT NOT NULL,
                    data TEXT NOT NULL,
                    client_msg_id TEXT,
                    sender TEXT,
                    visible_to_visitor INTEGER NOT NULL,
                    PRIMARY KEY (conversation_id, seq)
                );
                CREATE UNIQUE INDEX IF NOT EXISTS events_client_msg
                    ON events(conversation_id, sender, client_msg_id) WHERE client_msg_id IS NOT NULL;
                CREATE TABLE IF NOT EXISTS agents (
                    id TEXT PRIMARY KEY,
                    name TEXT NOT NULL,
                    role TEXT NOT NULL,
                    token_hash TEXT NOT NULL UNIQUE,
                    created_at TEXT NOT NULL
                );
                CREATE TABLE IF NOT EXISTS policies (
                    version INTEGER PRIMARY KEY,
                    author TEXT NOT NULL,
                    created_at TEXT NOT NULL,
                    body TEXT NOT NULL
                );
                """
            )
            self._db.execute(
                "INSERT OR IGNORE INTO meta(key, value) VALUES ('schema_version', ?)",
                (str(SCHEMA_VERSION),),
            )

    # -- conversations -------------------------------------------------------------

    def create_conversation(
        self, record: ConversationRecord, events: Sequence[NewEvent]
    ) -> list[StoredEvent]:
        """Insert a new conversation and its first events in one transaction.

        Returns the stored events (seq 1..n). Raises ``sqlite3.IntegrityError`` if the id
        exists.
        """
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                self._db.execute(
                    "INSERT INTO conversations (id, status, resume_token_hash, created_at,"
                    " updated_at, visitor, page_url, last_seq, priority)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, 0, ?)",
                    (
                        record.id,
                        record.status,
                        record.resume_token_hash,
                        _ts(record.created_at),
                        _ts(record.updated_at),
                        json.dumps(record.visitor),
                        record.page_url,
                        record.priority,
                    ),
                )
                stored = self._insert_events(record.id, 0, events)
                self._db.execute(
                    "UPDATE conversations SET last_seq = ? WHERE id = ?",
                    (stored[-1].seq if stored else 0, record.id),
                )
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
        return stored

    def append_events(
        self, conversation_id: str, events: Sequence[NewEvent], updates: dict[str, Any]
    ) -> list[StoredEvent]:
        """Append ``events`` after the conversation's last seq and apply ``updates`` (column →
        value, see :class:`ConversationRecord`) in one transaction.

        Raises ``KeyError`` if the conversation does not exist, ``ValueError`` for an
        unknown update column, ``sqlite3.IntegrityError`` if a client message id repeats.
        """
        bad = set(updates) - set(_CONV_FIELDS)
        if bad:
            raise ValueError(f"unknown conversation fields: {sorted(bad)}")
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                row = self._db.execute(
                    "SELECT last_seq FROM conversations WHERE id = ?", (conversation_id,)
                ).fetchone()
                if row is None:
                    raise KeyError(conversation_id)
                stored = self._insert_events(conversation_id, row["last_seq"], events)
                cols = dict(updates)
                if stored:
                    cols["last_seq"] = stored[-1].seq
                    cols.setdefault("updated_at", stored[-1].at)
                if cols:
                    assignments = ", ".join(f"{k} = ?" for k in cols)
                    values = [self._encode(k, v) for k, v in cols.items()]
                    self._db.execute(
                        f"UPDATE conversations SET {assignments} WHERE id = ?",
                        (*values, conversation_id),
                    )
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
        return stored

    @staticmethod
    def _encode(column: str, value: Any) -> Any:
        if column in _JSON_FIELDS:
            return json.dumps(value) if value is not None else None
        if isinstance(value, datetime):
            return _ts(value)
        return value

    def _insert_events(
        self, conversation_id: str, last_seq: int, events: Sequence[NewEvent]
    ) -> list[StoredEvent]:
        stored = []
        for offset, ev in enumerate(events, start=1):
            se = StoredEvent(
                conversation_id=conversation_id,
                seq=last_seq + offset,
                kind=ev.kind,
                at=ev.at,
                data=ev.data,
                client_msg_id=ev.client_msg_id,
                sender=ev.sender,
                visible_to_visitor=ev.visible_to_visitor,
            )
            self._db.execute(
                "INSERT INTO events (conversation_id, seq, kind, at, data, client_msg_id,"
                " sender, visible_to_visitor) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    conversation_id,
                    se.seq,
                    se.kind,
                    _ts(se.at),
                    json.dumps(se.data),
                    se.client_msg_id,
                    se.sender,
                    int(se.visible_to_visitor),
                ),
            )
            stored.append(se)
        return stored

    def _conv(self, row: sqlite3.Row) -> ConversationRecord:
        d = dict(row)
        d["visitor"] = json.loads(d["visitor"])
        d["trigger"] = json.loads(d["trigger"]) if d["trigger"] else None
        for k in ("created_at", "updated_at", "queued_at"):
            d[k] = _dt(d[k])
        return ConversationRecord.model_validate(d)

    def get_conversation(self, conversation_id: str) -> ConversationRecord | None:
        """The conversation, or ``None``."""
        with self._lock:
            row = self._db.execute(
                "SELECT * FROM conversations WHERE id = ?", (conversation_id,)
            ).fetchone()
        return self._conv(row) if row else None

    def list_conversations(self, statuses: Iterable[str]) -> list[ConversationRecord]:
        """Conversations whose status is in ``statuses``, oldest first."""
        sts = list(statuses)
        marks = ",".join("?" * len(sts))
        with self._lock:
            rows = self._db.execute(
                f"SELECT * FROM conversations WHERE status IN ({marks}) ORDER BY created_at",
                sts,
            ).fetchall()
        return [self._conv(r) for r in rows]

    def _event(self, row: sqlite3.Row) -> StoredEvent:
        return StoredEvent(
            conversation_id=row["conversation_id"],
            seq=row["seq"],
            kind=row["kind"],
            at=datetime.fromisoformat(row["at"]),
            data=json.loads(row["data"]),
            client_msg_id=row["client_msg_id"],
            sender=row["sender"],
            visible_to_visitor=bool(row["visible_to_visitor"]),
        )

    def events_after(
        self, conversation_id: str, after_seq: int, *, visitor_only: bool = False
    ) -> list[StoredEvent]:
        """Events with ``seq > after_seq`` in order; ``visitor_only`` skips internal ones."""
        sql = "SELECT * FROM events WHERE conversation_id = ? AND seq > ?"
        if visitor_only:
            sql += " AND visible_to_visitor = 1"
        with self._lock:
            rows = self._db.execute(sql + " ORDER BY seq", (conversation_id, after_seq)).fetchall()
        return [self._event(r) for r in rows]

    def event_for_client_msg(
        self, conversation_id: str, sender: str, client_msg_id: str
    ) -> StoredEvent | None:
        """The event stored for ``sender``'s client message id, if that frame was handled."""
        with self._lock:
            row = self._db.execute(
                "SELECT * FROM events WHERE conversation_id = ? AND sender = ? AND client_msg_id = ?",
                (conversation_id, sender, client_msg_id),
            ).fetchone()
        return self._event(row) if row else None

    # -- agents --------------------------------------------------------------------

    def create_agent(self, record: AgentRecord) -> None:
        """Insert an agent or operator. Raises ``sqlite3.IntegrityError`` on a duplicate id."""
        with self._lock:
            self._db.execute(
                "INSERT INTO agents (id, name, role, token_hash, created_at) VALUES (?,?,?,?,?)",
                (record.id, record.name, record.role, record.token_hash, _ts(record.created_at)),
            )

    def agent_by_token_hash(self, token_hash: str) -> AgentRecord | None:
        """The agent whose token hashes to ``token_hash``, or ``None``."""
        with self._lock:
            row = self._db.execute(
                "SELECT * FROM agents WHERE token_hash = ?", (token_hash,)
            ).fetchone()
        if row is None:
            return None
        d = dict(row)
        d["created_at"] = _dt(d["created_at"])
        return AgentRecord.model_validate(d)

    # -- policy --------------------------------------------------------------------

    def save_policy(self, body: dict[str, Any], author: str) -> int:
        """Store a new policy version (the caller validated ``body``); returns its number,
        1 for the first."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                row = self._db.execute("SELECT COALESCE(MAX(version), 0) FROM policies").fetchone()
                version = row[0] + 1
                self._db.execute(
                    "INSERT INTO policies (version, author, created_at, body) VALUES (?,?,?,?)",
                    (version, author, _ts(utcnow()), json.dumps(body)),
                )
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
        return version

    def _policy(self, row: sqlite3.Row) -> PolicyRecord:
        return PolicyRecord(
            version=row["version"],
            author=row["author"],
            created_at=datetime.fromisoformat(row["created_at"]),
            body=json.loads(row["body"]),
        )

    def latest_policy(self) -> PolicyRecord | None:
        """The newest policy version, or ``None`` before the first is saved."""
        with self._lock:
            row = self._db.execute(
                "SELECT * FROM policies ORDER BY version DESC LIMIT 1"
            ).fetchone()
        return self._policy(row) if row else None

    def latest_policy_version(self) -> int:
        """The newest policy version number, 0 if none (cheap: for per-turn checks)."""
        with self._lock:
            row = self._db.execute("SELECT COALESCE(MAX(version), 0) FROM policies").fetchone()
        return int(row[0])

    def policy_history(self) -> list[PolicyRecord]:
        """Every policy version, oldest first."""
        with self._lock:
            rows = self._db.execute("SELECT * FROM policies ORDER BY version").fetchall()
        return [self._policy(r) for r in rows]

    def close(self) -> None:
        """Close the database (checkpointing the WAL)."""
        with self._lock:
            self._db.close()
