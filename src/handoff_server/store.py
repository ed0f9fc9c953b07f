"""Persistence behind a small interface; SQLite (WAL) is the embedded default.

Everything the server persists goes through :class:`Store`: the contract a second
backend (PostgreSQL) implements, method by method. The SQLite implementation is
synchronous and must be used from one thread at a time (the server confines it to a
single worker thread, see :class:`AsyncStore`). :func:`open_store` is the one place a
store is opened, for the server and for the CLI commands that read or write it.

Durability: every ``append_events`` is one transaction; it returns only after commit, so
an event that was acknowledged or broadcast survives a crash (``PRAGMA synchronous=FULL``
by default also survives power loss).
"""

from __future__ import annotations

import asyncio
import hashlib
import importlib
import json
import sqlite3
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol, TypedDict, TypeVar

import pydantic_core
from pydantic import BaseModel, Field

from handoff_server.datadir import (
    diagnose_data_dir,
    explain_os_error,
    private_db_file,
    private_dir,
)
from handoff_server.errors import DataDirError
from handoff_server.protocol import AgentRole, ConversationStatus, matching_emails
from handoff_server.store_thread import StoreThread
from handoff_server.storehealth import StoreHealth

if TYPE_CHECKING:
    from handoff_server.config import StoreSettings

__all__ = [
    "MIGRATIONS",
    "AgentRecord",
    "AiTurnRow",
    "EvalRun",
    "AsyncStore",
    "AtCapacity",
    "ConversationRecord",
    "ConversationUpdate",
    "NewEvent",
    "OutboxRow",
    "PolicyMeta",
    "PolicyRecord",
    "SQLiteStore",
    "StoreVersionError",
    "Store",
    "StoredEvent",
    "hash_token",
    "open_store",
    "outbox_conversation",
    "store_exists",
    "utcnow",
]

SCHEMA_VERSION = 7
"""The schema version :data:`_SCHEMA` creates; later versions are reached by
:data:`MIGRATIONS`, so :data:`SCHEMA_VERSION` is the newest of the two."""
POSTGRES_BACKEND = "handoff_server.storage"
"""The module whose ``open_postgres(url, pool_size)`` opens a ``postgresql://`` store."""
DB_NAME = "handoff.sqlite3"
"""The database file inside a data dir."""
T = TypeVar("T")


def hash_token(token: str) -> str:
    """SHA-256 hex digest of a token (tokens are 32 random bytes, so no salt is needed)."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def utcnow() -> datetime:
    """Current time, timezone-aware UTC."""
    return datetime.now(UTC)


def dump_json(value: Any) -> str:
    """``value`` (JSON data: dicts with string keys, lists, strings, numbers, booleans,
    ``None``) as compact JSON text, by pydantic-core's encoder: ~3.5× quicker than
    :func:`json.dumps` on an AI answer's event data, which the store and the
    conversation memory each encode (~3 KB: 18 µs against 63,
    ``benchmarks/bench_event_json.py``). What no UTF-8 can hold (a lone surrogate) is
    written as a ``\\u`` escape by :func:`json.dumps` instead. Raises ``TypeError`` for
    what neither encoder takes."""
    try:
        return pydantic_core.to_json(value).decode()
    except pydantic_core.PydanticSerializationError:
        return json.dumps(value, separators=(",", ":"))


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
    status: ConversationStatus
    resume_token_hash: str
    created_at: datetime
    updated_at: datetime
    visitor: dict[str, Any] = Field(default_factory=dict)
    page_url: str | None = None
    last_seq: int = 0
    assigned_agent_id: str | None = None
    assigned_agent_name: str | None = None
    assigned_agent_role: AgentRole | None = None
    team: str | None = None
    priority: int = 0
    trigger: dict[str, Any] | None = None
    last_confidence: float | None = None
    first_question: str | None = None
    queued_at: datetime | None = None
    wait_estimate: dict[str, Any] | None = None
    """The last wait estimate told the visitor (a ``WaitInfo`` as JSON)."""
    fallback: dict[str, Any] | None = None
    """Fallbacks offered and chosen (a ``FallbackState`` as JSON)."""


class AgentRecord(BaseModel):
    """A person who can sign in: ``role`` is agent or operator; only the token hash is kept.

    ``teams``: the teams they serve (none: every team). ``capacity``: the most
    conversations they hold at once (``None``: the configured default,
    ``assignment.default_capacity``)."""

    id: str
    name: str
    role: AgentRole
    token_hash: str
    created_at: datetime
    teams: list[str] = Field(default_factory=list)
    capacity: int | None = None
    expires_at: datetime | None = None
    """When the token stops working (UTC); ``None``: never."""
    revoked_at: datetime | None = None
    """When the token was revoked (``handoff token revoke``); ``None``: it was not."""


class OutboxRow(BaseModel):
    """One webhook delivery: one event for one endpoint.

    ``id`` is the event's stable webhook id (the same on every retry), ``endpoint`` the
    URL, ``payload`` the JSON body ``{id, type, timestamp, data}``. ``status`` is
    ``pending`` (due at ``next_attempt_at``), ``delivered`` or ``failed`` (the retry
    schedule ran out, or the endpoint was refused); ``last_error`` says why the last
    attempt failed."""

    id: str
    endpoint: str
    event_type: str
    payload: dict[str, Any]
    created_at: datetime
    next_attempt_at: datetime
    attempts: int = 0
    status: Literal["pending", "delivered", "failed"] = "pending"
    last_error: str | None = None


def outbox_conversation(payload: dict[str, Any]) -> str | None:
    """The conversation a webhook payload is about: ``data.conversation_id``, or the
    handoff packet's (``None`` for a test event). One conversation's deliveries to one
    endpoint are claimed and posted in order (:meth:`Store.claim_outbox`)."""
    data = payload.get("data")
    if not isinstance(data, dict):
        return None
    packet = data.get("packet")
    cid = data.get("conversation_id") or (
        packet.get("conversation_id") if isinstance(packet, dict) else None
    )
    return cid if isinstance(cid, str) else None


class PolicyRecord(BaseModel):
    """One version of the escalation policy: who changed it, when (UTC), and its body;
    the ``comment`` they gave, and for a rollback the version it restored
    (``rolled_back_to``)."""

    version: int
    author: str
    created_at: datetime
    body: dict[str, Any]
    comment: str | None = None
    rolled_back_to: int | None = None


@dataclass(slots=True)
class AiTurnRow:
    """One decided AI turn, kept so that a policy can be replayed over history (what-if)
    and failed questions found (knowledge gaps), without running the AI again.

    The turn: ``seq`` is the visitor message's; ``at`` the decision's time (UTC);
    ``text`` the visitor's message; ``policy_version``, ``action`` (``continue``,
    ``offer_handoff``, ``escalate``), ``trigger``, ``threshold`` (0–1) are the deciding
    policy's; ``confidence`` (0–1, ``None`` when the answerer failed) and ``entry_id`` the
    answer's; ``question`` as on ``ai_message``; ``exchange`` the visitor turns with the
    AI so far, this one included (1: the first since the start or a handoff).

    The decision's inputs (their meaning: :class:`~handoff_server.escalation.signals.TurnSignals`;
    ``layout`` numbers this set of columns): ``ai_error``, ``pressed`` (the visitor pressed
    "talk to a person"), ``said_yes`` (the message is a plain yes), ``courtesy``,
    ``entry_escalate``, ``topic_negated``, ``answer_team``, ``repeat``, ``human_fired``,
    ``human_about``, ``sentiment`` (−1…1), and as JSON text ``history``, ``keywords``,
    ``intent``.

    ``visitor_json`` (the stored visitor, JSON text, parsed only by a reader that needs
    it: :attr:`visitor`) and ``page_url`` are the conversation's, filled in when read."""

    conversation_id: str
    seq: int
    at: datetime
    text: str
    policy_version: int | None
    action: str
    trigger: str | None
    confidence: float | None
    threshold: float
    question: bool
    entry_id: str | None
    exchange: int
    layout: int
    ai_error: bool
    pressed: bool
    said_yes: bool
    courtesy: bool
    entry_escalate: bool
    topic_negated: bool
    answer_team: str | None
    repeat: bool
    human_fired: bool
    human_about: bool
    sentiment: float
    history: str
    keywords: str
    intent: str | None
    visitor_json: str = "{}"
    page_url: str | None = None

    @property
    def visitor(self) -> dict[str, Any]:
        """The conversation's stored visitor (``name``, ``email``, ``fields``, ...)."""
        value: dict[str, Any] = json.loads(self.visitor_json)
        return value


_TURN_FIELDS = (
    "conversation_id", "seq", "at", "text", "policy_version", "action", "trigger",
    "confidence", "threshold", "question", "entry_id", "exchange", "layout", "ai_error",
    "pressed", "said_yes", "courtesy", "entry_escalate", "topic_negated", "answer_team",
    "repeat", "human_fired", "human_about", "sentiment", "history", "keywords", "intent",
)  # fmt: skip
"""The stored columns of :class:`AiTurnRow`, in its field order."""
_TURN_FLAGS = tuple(
    i for i, name in enumerate(_TURN_FIELDS) if AiTurnRow.__annotations__[name] == "bool"
)
"""Positions of the boolean columns (SQLite gives them back as 0 and 1)."""


class EvalRun(BaseModel):
    """Saved results of ``handoff eval``: when, on which ``kb`` and ``engine``, and per
    question its confidence (0–1) and whether the top answer was right
    (``samples``: ``[confidence, right]`` pairs; out-of-scope questions are never right)."""

    created_at: datetime
    engine: str
    kb: str
    samples: list[tuple[float, bool]]


@dataclass(frozen=True)
class PolicyMeta:
    """What is stored with a policy version besides its body: the ``comment``, the version
    a rollback restores (``rolled_back_to``), and the operator's id and client message id
    of the ``policy_apply`` frame (a retried frame finds its version again)."""

    comment: str | None = None
    rolled_back_to: int | None = None
    author_id: str | None = None
    client_msg_id: str | None = None


class ConversationUpdate(TypedDict, total=False):
    """Columns of a conversation that :meth:`Store.append_events` may change (see
    :class:`ConversationRecord` for their meaning); a key left out is kept."""

    status: ConversationStatus
    updated_at: datetime
    visitor: dict[str, Any]
    page_url: str | None
    last_seq: int
    assigned_agent_id: str | None
    assigned_agent_name: str | None
    assigned_agent_role: AgentRole | None
    team: str | None
    priority: int
    trigger: dict[str, Any] | None
    last_confidence: float | None
    first_question: str | None
    queued_at: datetime | None
    wait_estimate: dict[str, Any] | None
    fallback: dict[str, Any] | None


_CONV_FIELDS = frozenset(ConversationUpdate.__annotations__)
_JSON_FIELDS = {"visitor", "trigger", "wait_estimate", "fallback"}


class Store(Protocol):
    """What the server needs from persistence: the contract every backend implements.

    All times are UTC. Every method may raise ``sqlite3.Error`` (or the backend's
    equivalent) on an I/O failure, with nothing written. Each write is one transaction:
    when it returns, it is durable.
    """

    def create_conversation(
        self, record: ConversationRecord, events: Sequence[NewEvent]
    ) -> list[StoredEvent]:
        """Insert a new conversation and its first events (seq 1..n) in one transaction;
        returns them as stored. Raises an integrity error if the id exists."""
        ...

    def append_events(
        self,
        conversation_id: str,
        events: Sequence[NewEvent],
        updates: ConversationUpdate,
        outbox: Sequence[OutboxRow] = (),
        turns: Sequence[AiTurnRow] = (),
        seat: tuple[str, int] | None = None,
    ) -> list[StoredEvent]:
        """Append ``events`` after the conversation's last seq (no gap) and apply
        ``updates`` in one transaction, with the webhook deliveries ``outbox`` announcing
        them and the AI ``turns`` they decide; ``last_seq`` and ``updated_at`` follow the last event. Returns the stored
        events. ``seat`` = ``(agent id, capacity)`` for a change assigning the
        conversation to that agent: in the same transaction, serialised with every other
        seated change of that agent, their other assigned conversations are counted and
        :class:`AtCapacity` is raised when they are ``capacity`` or more. Raises
        ``KeyError`` for an unknown conversation, ``ValueError`` for an unknown column,
        an integrity error when a sender's client message id repeats (nothing is written
        then)."""
        ...

    def due_outbox(self, now: datetime, limit: int) -> list[OutboxRow]:
        """Up to ``limit`` pending deliveries due at ``now``, oldest due first (claimed
        or not: a look, not a claim)."""
        ...

    def claim_outbox(self, now: datetime, limit: int, until: datetime) -> list[OutboxRow]:
        """Claim, until ``until``, the deliveries due at ``now`` of up to ``limit``
        (endpoint, conversation) pairs none of whose deliveries another claim holds (a
        claim holds until its ``until``, or until the delivery is marked delivered,
        retried or failed); returns them oldest first (``created_at``, then ``id``).
        Atomic across every process sharing the store: a due delivery goes to one
        claimant, and one conversation's deliveries to one endpoint to one claimant at a
        time, so they are posted in order. A claimant that dies leaves its claims to
        lapse at ``until``."""
        ...

    def release_outbox(self, keys: Sequence[tuple[str, str]]) -> None:
        """End the claims on the deliveries ``keys`` (``(id, endpoint)`` pairs) not yet
        posted (a deliverer stopping); they are due again at once."""
        ...

    def outbox_delivered(self, row_id: str, endpoint: str, attempts: int) -> None:
        """Mark a delivery done after ``attempts`` tries (its claim ends)."""
        ...

    def outbox_retry(
        self, row_id: str, endpoint: str, attempts: int, at: datetime, error: str
    ) -> None:
        """Record a failed try (``error``) and when to try again (``at``); its claim
        ends."""
        ...

    def outbox_failed(self, row_id: str, endpoint: str, attempts: int, error: str) -> None:
        """Mark a delivery failed for good (listed, redelivered only by an operator)."""
        ...

    def list_outbox(self, *, failed_only: bool = False) -> list[OutboxRow]:
        """Every delivery (or only the failed ones), oldest first."""
        ...

    def requeue_outbox(self, row_id: str, now: datetime, *, delivered: bool = False) -> int:
        """Make the deliveries of event ``row_id`` not delivered (failed, or pending) due
        ``now`` and pending, with their attempts reset; with ``delivered`` every
        delivery, delivered ones too. Returns how many rows changed (0: no such event,
        or nothing to send again)."""
        ...

    def get_conversation(self, conversation_id: str) -> ConversationRecord | None:
        """The conversation, or ``None``."""
        ...

    def list_conversations(
        self, statuses: Iterable[ConversationStatus]
    ) -> list[ConversationRecord]:
        """The conversations whose status is in ``statuses``, oldest first."""
        ...

    def events_after(
        self, conversation_id: str, after_seq: int, *, visitor_only: bool = False
    ) -> list[StoredEvent]:
        """The conversation's events with ``seq > after_seq``, in seq order;
        ``visitor_only`` leaves out those visitors never see (notes)."""
        ...

    def event_for_client_msg(
        self, conversation_id: str, sender: str, client_msg_id: str
    ) -> StoredEvent | None:
        """The event stored for ``sender``'s (``visitor`` or an agent id) client message
        id, if that frame was handled: how a retried frame is recognised."""
        ...

    def handling_times(self, limit: int) -> list[tuple[str | None, float]]:
        """The ``limit`` most recent handling times, newest first: ``(team, seconds)``
        from each ``claimed`` event to the next ``resolved``, ``released`` or
        ``handed_back`` of its conversation (claims still open are left out)."""
        ...

    def create_agent(self, record: AgentRecord) -> None:
        """Insert an agent or operator. Raises an integrity error on a duplicate id or
        token hash."""
        ...

    def agent_by_token_hash(self, token_hash: str) -> AgentRecord | None:
        """The agent whose token hashes (:func:`hash_token`) to ``token_hash``, or ``None``."""
        ...

    def list_agents(self) -> list[AgentRecord]:
        """Every agent and operator, oldest first."""
        ...

    def update_agent(self, agent_id: str, teams: list[str], capacity: int | None) -> AgentRecord:
        """Set an agent's ``teams`` and ``capacity`` (``None``: the configured default);
        returns the record as stored. Raises ``KeyError`` for an unknown agent."""
        ...

    def revoke_agent(self, agent_id: str, at: datetime) -> AgentRecord:
        """Revoke the agent's token from ``at`` (kept if already revoked); returns the
        record as stored. Raises ``KeyError`` for an unknown agent. A running server
        notices within ``server.token_check_seconds`` (:mod:`handoff_server.tokens`)."""
        ...

    def delete_agent(self, agent_id: str) -> bool:
        """Delete an agent or operator whose token was never handed out (``handoff
        token create`` could not write it); True when there was one. An agent who
        signed in is revoked instead (their events name them)."""
        ...

    def save_policy(self, body: dict[str, Any], author: str) -> int:
        """Store ``body`` (validated by the caller) as the next policy version; returns
        its number, 1 for the first."""
        ...

    def latest_policy(self) -> PolicyRecord | None:
        """The newest policy version, or ``None`` before the first is saved."""
        ...

    def latest_policy_version(self) -> int:
        """The newest policy version number, 0 if none. Called on every AI turn: must be
        cheap."""
        ...

    def policy_history(self) -> list[PolicyRecord]:
        """Every policy version, oldest first."""
        ...

    def apply_policy(
        self, body: dict[str, Any], author: str, base_version: int, meta: PolicyMeta
    ) -> PolicyRecord | None:
        """Store ``body`` (validated) as the next version if the newest is still
        ``base_version``, in one transaction; ``None`` (nothing written) if another came
        first."""
        ...

    def policy_for_client_msg(self, author_id: str, client_msg_id: str) -> PolicyRecord | None:
        """The version stored for an operator's client message id (a retried apply)."""
        ...

    def turns_of_conversations(
        self, since: datetime | None, until: datetime | None
    ) -> list[AiTurnRow]:
        """Every AI turn of the conversations started in [since, until), by conversation,
        then seq."""
        ...

    def turns_between(self, since: datetime | None, until: datetime | None) -> list[AiTurnRow]:
        """The AI turns decided in [since, until), oldest first."""
        ...

    def conversations_between(
        self, since: datetime | None, until: datetime | None
    ) -> list[ConversationRecord]:
        """The conversations started in [since, until), oldest first."""
        ...

    def events_of_kinds(
        self, kinds: Sequence[str], since: datetime | None, until: datetime | None
    ) -> list[StoredEvent]:
        """The events of ``kinds`` of the conversations started in [since, until), by
        conversation, then seq."""
        ...

    def save_eval_run(self, run: EvalRun) -> None:
        """Keep the results of one ``handoff eval``."""
        ...

    def latest_eval_run(self) -> EvalRun | None:
        """The newest saved ``handoff eval`` results, or ``None``."""
        ...

    def conversations_of_email(self, email: str) -> list[str]:
        """Ids of the conversations holding visitor data of ``email`` (compared without
        case): the visitor's own email, or one given in a callback request or offline
        message. Oldest first."""
        ...

    def resolved_before(self, cutoff: datetime, limit: int) -> list[str]:
        """Ids of up to ``limit`` resolved conversations last changed before ``cutoff``
        (retention, ``[store] retain_days``), oldest first."""
        ...

    def conversations_present(self, conversation_ids: Sequence[str]) -> set[str]:
        """Those of ``conversation_ids`` still stored (the others were erased, perhaps
        by ``handoff erase`` beside a running server)."""
        ...

    def erase_conversations(self, conversation_ids: Sequence[str]) -> dict[str, int]:
        """Delete the conversations and everything stored of them in one transaction:
        their events, AI turns, webhook deliveries and the conversation rows (with
        their visitor, fallbacks and tasks). Returns the rows deleted per table
        (``events``, ``ai_turns``, ``webhook_outbox``, ``conversations``)."""
        ...

    def erasure_counts(self, conversation_ids: Sequence[str]) -> dict[str, int]:
        """What :meth:`erase_conversations` would delete now, deleting nothing: the rows
        per table, the same tables and conditions (``handoff erase --dry-run``)."""
        ...

    def probe_write(self) -> None:
        """Write about 8 KiB and delete it again in one committed transaction (nothing
        stays): raises the backend's error when the store cannot write now (disk full,
        read-only), see :mod:`handoff_server.storehealth`."""
        ...

    def close(self) -> None:
        """Release the backend (for SQLite: checkpoint the WAL and close the file)."""
        ...


def open_store(settings: StoreSettings) -> Store:
    """Open (and create or migrate, if needed) the store the settings name: the one
    place a store is opened. Raises :class:`~handoff_server.errors.DataDirError` (code
    ``bad_data_dir``, naming the folder) when the folder cannot be created or the database
    cannot be opened."""
    if settings.url is not None:
        # Named, not imported: the backend is built on this module's models, so an import
        # here would make a cycle (a plugin by name, as SQLAlchemy's dialects are).
        backend = importlib.import_module(POSTGRES_BACKEND)
        opened: Store = backend.open_postgres(settings.url, settings.pool_size)
        return opened
    try:
        return SQLiteStore(settings.data_dir, synchronous=settings.synchronous)
    except (OSError, sqlite3.Error) as exc:
        cause = diagnose_data_dir(settings.data_dir) or explain_os_error(exc)
        raise DataDirError(f"cannot open the store in {settings.data_dir}: {cause}") from None


def store_exists(settings: StoreSettings) -> bool:
    """Whether the data dir already holds a store (reading commands that must not
    create one check this first); a PostgreSQL store always counts as there."""
    return settings.url is not None or (settings.data_dir / DB_NAME).exists()


@contextmanager
def opened_store(settings: StoreSettings) -> Iterator[Store]:
    """:func:`open_store` for the length of a ``with`` block, closed after it."""
    store = open_store(settings)
    try:
        yield store
    finally:
        store.close()


class AsyncStore:
    """Runs a synchronous :class:`Store` off the event loop, so the loop never blocks on
    disk or the network.

    With a store that has ``group()`` (SQLite) the calls run on one thread
    (:class:`~handoff_server.store_thread.StoreThread`): calls waiting together are one
    batch and one transaction, so writes of many conversations share one commit (group
    commit); each call's result is handed back only once that commit is durable. A store
    without ``group()`` that says it is thread-safe with an int attribute
    ``parallel_calls`` (PostgreSQL: its pool size) runs that many calls at once on a pool
    of threads, each call its own transaction; otherwise one call at a time."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.health = StoreHealth()
        """Whether the store can write (``/readyz``), fed by every failing call."""
        workers = int(getattr(store, "parallel_calls", 1))
        self._thread: StoreThread | None = None
        self._executor: ThreadPoolExecutor | None = None
        if getattr(store, "group", None) is not None or workers <= 1:
            self._thread = StoreThread(store)
        else:
            self._executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="store")

    async def call(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run ``fn(*args, **kwargs)`` (a bound store method) on the store thread; its
        result (or exception) once the batch it ran in is committed. A storage error
        (disk full, read-only, at the call or at the batch's commit) is noted in
        :attr:`health`, then raised."""
        try:
            if self._thread is not None:
                return await self._thread.submit(fn, args, kwargs)
            assert self._executor is not None
            loop = asyncio.get_running_loop()
            return await loop.run_in_executor(self._executor, lambda: fn(*args, **kwargs))
        except Exception as exc:
            self.health.failed(exc)
            raise

    async def close(self) -> None:
        """Finish the calls queued, stop the thread(s), then close the store."""
        if self._thread is not None:
            await asyncio.to_thread(self._thread.stop)
        if self._executor is not None:
            await asyncio.to_thread(self._executor.shutdown, wait=True)
            await asyncio.to_thread(self.store.close)  # a pool's close joins its threads
            return
        self.store.close()


def _ts(dt: datetime | None) -> str | None:
    return dt.astimezone(UTC).isoformat() if dt is not None else None


def _dt(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value is not None else None


_SCHEMA = """
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
CREATE TABLE IF NOT EXISTS webhook_outbox (
    id TEXT NOT NULL,
    endpoint TEXT NOT NULL,
    event_type TEXT NOT NULL,
    payload TEXT NOT NULL,
    created_at TEXT NOT NULL,
    next_attempt_at TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    status TEXT NOT NULL DEFAULT 'pending',
    last_error TEXT,
    PRIMARY KEY (id, endpoint)
);
CREATE INDEX IF NOT EXISTS webhook_outbox_due ON webhook_outbox(status, next_attempt_at);
"""


_BASE_SCHEMA_VERSION = 1

MIGRATIONS: list[tuple[int, str]] = [
    (
        2,
        # Routing: the teams an agent serves (JSON list) and their capacity (NULL: default).
        "ALTER TABLE agents ADD COLUMN teams TEXT NOT NULL DEFAULT '[]';\n"
        "ALTER TABLE agents ADD COLUMN capacity INTEGER;\n",
    ),
    (
        3,
        # Operator: policy versions' comments and rollbacks; every AI turn's decision
        # inputs (for the what-if); saved eval runs (for risk-coverage).
        """
ALTER TABLE policies ADD COLUMN comment TEXT;
ALTER TABLE policies ADD COLUMN rolled_back_to INTEGER;
ALTER TABLE policies ADD COLUMN author_id TEXT;
ALTER TABLE policies ADD COLUMN client_msg_id TEXT;
CREATE UNIQUE INDEX policies_client_msg ON policies(author_id, client_msg_id)
    WHERE client_msg_id IS NOT NULL;
CREATE TABLE ai_turns (
    conversation_id TEXT NOT NULL REFERENCES conversations(id),
    seq INTEGER NOT NULL,
    at TEXT NOT NULL,
    text TEXT NOT NULL,
    policy_version INTEGER,
    action TEXT NOT NULL,
    trigger TEXT,
    confidence REAL,
    threshold REAL NOT NULL,
    question INTEGER NOT NULL,
    entry_id TEXT,
    exchange INTEGER NOT NULL,
    layout INTEGER NOT NULL,
    ai_error INTEGER NOT NULL,
    pressed INTEGER NOT NULL,
    said_yes INTEGER NOT NULL,
    courtesy INTEGER NOT NULL,
    entry_escalate INTEGER NOT NULL,
    topic_negated INTEGER NOT NULL,
    answer_team TEXT,
    repeat INTEGER NOT NULL,
    human_fired INTEGER NOT NULL,
    human_about INTEGER NOT NULL,
    sentiment REAL NOT NULL,
    history TEXT NOT NULL,
    keywords TEXT NOT NULL,
    intent TEXT,
    PRIMARY KEY (conversation_id, seq)
);
CREATE INDEX ai_turns_at ON ai_turns(at);
CREATE INDEX conversations_created ON conversations(created_at);
CREATE TABLE eval_runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    created_at TEXT NOT NULL,
    engine TEXT NOT NULL,
    kb TEXT NOT NULL,
    samples TEXT NOT NULL
);
""",
    ),
    (
        4,
        # Routing: the last wait estimate told the visitor, and the fallbacks offered
        # and chosen (issue 11), as JSON.
        """
        ALTER TABLE conversations ADD COLUMN wait_estimate TEXT;
        ALTER TABLE conversations ADD COLUMN fallback TEXT;
        """,
    ),
    (
        5,
        # Tokens (issue 14): an optional expiry, and revocation (kept, not deleted: events
        # name the agent).
        """
        ALTER TABLE agents ADD COLUMN expires_at TEXT;
        ALTER TABLE agents ADD COLUMN revoked_at TEXT;
        """,
    ),
    (
        6,
        # Webhooks claimed across nodes (issue 17): the conversation a delivery is about
        # (its rows to one endpoint are claimed together and posted in order), and until
        # when a deliverer's claim holds.
        """
        ALTER TABLE webhook_outbox ADD COLUMN conversation_id TEXT;
        ALTER TABLE webhook_outbox ADD COLUMN claimed_until TEXT;
        UPDATE webhook_outbox SET conversation_id = COALESCE(
            json_extract(payload, '$.data.conversation_id'),
            json_extract(payload, '$.data.packet.conversation_id'));
        CREATE INDEX webhook_outbox_conversation
            ON webhook_outbox(endpoint, COALESCE(conversation_id, id)) WHERE status = 'pending';
        """,
    ),
    (
        7,
        # Capacity checked in the transaction that assigns (issue 17): an agent's
        # assigned conversations, counted by append_events. (PostgreSQL's version 7 also
        # adds the shared presence and offer lease tables; one SQLite node keeps those in
        # memory.)
        """
        CREATE INDEX conversations_assigned ON conversations(assigned_agent_id)
            WHERE status = 'assigned';
        """,
    ),
]
"""Schema changes after version 1, oldest first: ``(version, SQL script)``. Add a change
by appending the next version here (``ALTER TABLE ... ADD COLUMN``, ``CREATE TABLE``) and
raising :data:`SCHEMA_VERSION` to it; never edit a released entry. New tables may also go
in :data:`_SCHEMA` as ``CREATE TABLE IF NOT EXISTS``; new columns must come from here,
since ``CREATE TABLE IF NOT EXISTS`` leaves an existing table as it is."""


def _statements(script: str) -> list[str]:
    """The statements of a migration script (split on ``;`` at a line end)."""
    return [part.strip() for part in script.split(";\n") if part.strip()]


class AtCapacity(Exception):
    """A change would assign a conversation to an agent who already holds ``held``
    assigned conversations, ``capacity`` or more (raised by ``append_events`` with a
    ``seat``; nothing is written)."""

    def __init__(self, agent_id: str, held: int, capacity: int) -> None:
        super().__init__(
            f"agent {agent_id} already holds {held} conversation{'' if held == 1 else 's'}"
            f" (capacity {capacity})"
        )
        self.agent_id = agent_id
        self.held = held
        self.capacity = capacity


class StoreVersionError(RuntimeError):
    """The store was written by a newer release (``found`` > ``supported``)."""

    def __init__(self, found: int, supported: int) -> None:
        super().__init__(
            f"this store has schema version {found}; this release reads up to {supported}:"
            " upgrade handoff"
        )
        self.found = found
        self.supported = supported


def _check_seat(db: sqlite3.Connection, conversation_id: str, agent_id: str, capacity: int) -> None:
    """Raise :class:`AtCapacity` when ``agent_id`` holds ``capacity`` assigned
    conversations other than this one (inside the write transaction)."""
    held = db.execute(
        "SELECT count(*) FROM conversations WHERE status = 'assigned'"
        " AND assigned_agent_id = ? AND id <> ?",
        (agent_id, conversation_id),
    ).fetchone()[0]
    if held >= capacity:
        raise AtCapacity(agent_id, held, capacity)


OUTBOX_CLAIM_SQL = """
WITH heads AS (
    SELECT o.endpoint AS endpoint, COALESCE(o.conversation_id, o.id) AS grp
    FROM webhook_outbox o
    WHERE o.status = 'pending' AND o.next_attempt_at <= :now
      AND (o.claimed_until IS NULL OR o.claimed_until <= :now)
      AND NOT EXISTS (
          SELECT 1 FROM webhook_outbox e
          WHERE e.endpoint = o.endpoint AND e.status = 'pending'
            AND COALESCE(e.conversation_id, e.id) = COALESCE(o.conversation_id, o.id)
            AND (e.claimed_until > :now
                 OR (e.next_attempt_at <= :now
                     AND (e.created_at < o.created_at
                          OR (e.created_at = o.created_at AND e.id < o.id)))))
    ORDER BY o.next_attempt_at, o.created_at, o.id
    LIMIT :limit
)
UPDATE webhook_outbox SET claimed_until = :until
FROM heads h
WHERE webhook_outbox.endpoint = h.endpoint
  AND COALESCE(webhook_outbox.conversation_id, webhook_outbox.id) = h.grp
  AND webhook_outbox.status = 'pending' AND webhook_outbox.next_attempt_at <= :now
  AND (webhook_outbox.claimed_until IS NULL OR webhook_outbox.claimed_until <= :now)
RETURNING *
"""
"""SQLite's :meth:`SQLiteStore.claim_outbox`: the oldest due delivery of each (endpoint,
conversation) no live claim holds (the group's head), then every due delivery of those
groups, claimed until ``:until``. (PostgreSQL's twin locks the heads ``FOR UPDATE SKIP
LOCKED``: ``storage/pg_tables.py``.)"""


def _outbox_row(row: sqlite3.Row) -> OutboxRow:
    d = dict(row)
    d["payload"] = json.loads(d["payload"])
    d["created_at"] = _dt(d["created_at"])
    d["next_attempt_at"] = _dt(d["next_attempt_at"])
    return OutboxRow.model_validate(d)


def _encode(column: str, value: Any) -> Any:
    """A conversation column's value as SQLite stores it."""
    if column in _JSON_FIELDS:
        return json.dumps(value) if value is not None else None
    if isinstance(value, datetime):
        return _ts(value)
    return value


def _conversation(row: sqlite3.Row) -> ConversationRecord:
    d = dict(row)
    d["visitor"] = json.loads(d["visitor"])
    for k in ("trigger", "wait_estimate", "fallback"):
        d[k] = json.loads(d[k]) if d.get(k) else None
    for k in ("created_at", "updated_at", "queued_at"):
        d[k] = _dt(d[k])
    return ConversationRecord.model_validate(d)


def _agent(row: sqlite3.Row) -> AgentRecord:
    d = dict(row)
    for k in ("created_at", "expires_at", "revoked_at"):
        d[k] = _dt(d[k])
    d["teams"] = json.loads(d["teams"])
    return AgentRecord.model_validate(d)


def _event(row: sqlite3.Row) -> StoredEvent:
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


def _policy(row: sqlite3.Row) -> PolicyRecord:
    return PolicyRecord(
        version=row["version"],
        author=row["author"],
        created_at=datetime.fromisoformat(row["created_at"]),
        body=json.loads(row["body"]),
        comment=row["comment"],
        rolled_back_to=row["rolled_back_to"],
    )


class _SQLiteTables:
    """The SQLite connection's helpers and the webhook outbox table, shared by
    :class:`SQLiteStore` (kept apart so each class stays readable)."""

    _db: sqlite3.Connection
    _lock: threading.Lock
    _grouped: bool = False

    @contextmanager
    def _transaction(self) -> Iterator[None]:
        """One write transaction (taken at once, so writers never deadlock), rolled back
        on any error. Inside :meth:`group` it is a savepoint of the group's transaction:
        rolled back alone on an error, committed with the group."""
        with self._lock:
            if self._grouped:
                self._db.execute("SAVEPOINT change")
                try:
                    yield
                    self._db.execute("RELEASE change")
                except BaseException:
                    self._db.execute("ROLLBACK TO change")
                    self._db.execute("RELEASE change")
                    raise
                return
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield
                self._db.execute("COMMIT")
            except BaseException:
                # SQLite rolls back by itself on some errors (SQLITE_FULL at COMMIT):
                # a second ROLLBACK would raise and hide the real error.
                if self._db.in_transaction:
                    self._db.execute("ROLLBACK")
                raise

    @contextmanager
    def group(self) -> Iterator[None]:
        """Group commit: the writes made inside are one transaction, committed (with one
        ``fsync`` under ``synchronous=FULL``) when the block ends; each write's own
        transaction becomes a savepoint, so a write that fails is undone alone. Nothing
        inside is durable before the block returns: a caller reports success only then.
        Raises the commit's ``sqlite3.Error`` (everything inside is rolled back).

        SQLite-only (not part of :class:`Store`): :class:`AsyncStore`'s thread uses it
        when the store has it."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            self._grouped = True
        try:
            yield
        except BaseException:
            with self._lock:
                self._grouped = False
                self._db.execute("ROLLBACK")
            raise
        with self._lock:
            self._grouped = False
            try:
                self._db.execute("COMMIT")
            except BaseException:
                if self._db.in_transaction:
                    self._db.execute("ROLLBACK")
                raise

    def _rows(self, sql: str, params: Sequence[Any] = ()) -> list[sqlite3.Row]:
        with self._lock:
            return self._db.execute(sql, params).fetchall()

    # -- webhook outbox --------------------------------------------------------------

    def _insert_outbox(self, rows: Sequence[OutboxRow]) -> None:
        for r in rows:
            self._db.execute(
                "INSERT INTO webhook_outbox (id, endpoint, event_type, payload, created_at,"
                " next_attempt_at, conversation_id) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    r.id,
                    r.endpoint,
                    r.event_type,
                    json.dumps(r.payload),
                    _ts(r.created_at),
                    _ts(r.next_attempt_at),
                    outbox_conversation(r.payload),
                ),
            )

    def claim_outbox(self, now: datetime, limit: int, until: datetime) -> list[OutboxRow]:
        """Claim the due deliveries of up to ``limit`` (endpoint, conversation) pairs
        until ``until`` (see :class:`Store`; one write transaction: atomic)."""
        params = {"now": _ts(now), "limit": limit, "until": _ts(until)}
        with self._transaction():
            rows = self._db.execute(OUTBOX_CLAIM_SQL, params).fetchall()
        return sorted((_outbox_row(r) for r in rows), key=lambda r: (r.created_at, r.id))

    def release_outbox(self, keys: Sequence[tuple[str, str]]) -> None:
        """End the claims on the deliveries ``keys`` (``(id, endpoint)``)."""
        with self._transaction():
            self._db.executemany(
                "UPDATE webhook_outbox SET claimed_until = NULL WHERE id = ? AND endpoint = ?",
                list(keys),
            )

    def due_outbox(self, now: datetime, limit: int) -> list[OutboxRow]:
        """Up to ``limit`` pending deliveries due at ``now``, oldest due first."""
        rows = self._rows(
            "SELECT * FROM webhook_outbox WHERE status = 'pending' AND next_attempt_at <= ?"
            " ORDER BY next_attempt_at, created_at LIMIT ?",
            (_ts(now), limit),
        )
        return [_outbox_row(r) for r in rows]

    def _set_outbox(self, row_id: str, endpoint: str, **cols: Any) -> None:
        # Column names come from the methods below, never from input.
        assignments = ", ".join(f"{k} = ?" for k in cols)
        with self._transaction():
            self._db.execute(
                f"UPDATE webhook_outbox SET {assignments} WHERE id = ? AND endpoint = ?",
                (*cols.values(), row_id, endpoint),
            )

    def outbox_delivered(self, row_id: str, endpoint: str, attempts: int) -> None:
        """Mark a delivery done after ``attempts`` tries (its claim ends)."""
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
            next_attempt_at=_ts(at),
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
        return [_outbox_row(r) for r in rows]

    def requeue_outbox(self, row_id: str, now: datetime, *, delivered: bool = False) -> int:
        """Make the deliveries of event ``row_id`` not delivered (all with
        ``delivered``) pending, due ``now``, attempts reset; returns how many changed."""
        # The status filter is one of two literals, never input.
        which = "" if delivered else " AND status <> 'delivered'"
        with self._transaction():
            cur = self._db.execute(
                "UPDATE webhook_outbox SET status = 'pending', attempts = 0,"
                " next_attempt_at = ?, last_error = NULL, claimed_until = NULL WHERE id = ?"
                + which,
                (_ts(now), row_id),
            )
        return cur.rowcount


def _period(column: str, since: datetime | None, until: datetime | None) -> tuple[str, list[str]]:
    """SQL ``AND`` clauses (and their parameters) keeping ``column`` in [since, until)."""
    sql, params = "", []
    if since is not None:
        sql += f" AND {column} >= ?"
        params.append(_ts(since) or "")
    if until is not None:
        sql += f" AND {column} < ?"
        params.append(_ts(until) or "")
    return sql, params


class _SQLiteOperatorTables:
    """The operator's tables (policy versions with their metadata, AI turns, saved eval
    results) and the period queries analytics read, shared by :class:`SQLiteStore`."""

    _db: sqlite3.Connection
    _lock: threading.Lock
    _transaction: Callable[[], Any]
    _rows: Callable[..., list[sqlite3.Row]]

    def _insert_turns(self, turns: Sequence[AiTurnRow]) -> None:
        columns = ", ".join(_TURN_FIELDS)
        marks = ", ".join("?" * len(_TURN_FIELDS))
        for t in turns:
            values = [getattr(t, name) for name in _TURN_FIELDS]
            values[2] = _ts(t.at)
            self._db.execute(f"INSERT INTO ai_turns ({columns}) VALUES ({marks})", values)

    def apply_policy(
        self, body: dict[str, Any], author: str, base_version: int, meta: PolicyMeta
    ) -> PolicyRecord | None:
        """Store ``body`` as the next version if the newest is still ``base_version``;
        ``None`` (nothing written) if another version came first."""
        with self._transaction():
            row = self._db.execute("SELECT COALESCE(MAX(version), 0) FROM policies").fetchone()
            if int(row[0]) != base_version:
                return None
            version = base_version + 1
            self._db.execute(
                "INSERT INTO policies (version, author, created_at, body, comment,"
                " rolled_back_to, author_id, client_msg_id) VALUES (?,?,?,?,?,?,?,?)",
                (
                    version,
                    author,
                    _ts(utcnow()),
                    json.dumps(body),
                    meta.comment,
                    meta.rolled_back_to,
                    meta.author_id,
                    meta.client_msg_id,
                ),
            )
            stored = self._db.execute(
                "SELECT * FROM policies WHERE version = ?", (version,)
            ).fetchone()
        return _policy(stored)

    def policy_for_client_msg(self, author_id: str, client_msg_id: str) -> PolicyRecord | None:
        """The version stored for an operator's client message id, if any."""
        rows = self._rows(
            "SELECT * FROM policies WHERE author_id = ? AND client_msg_id = ?",
            (author_id, client_msg_id),
        )
        return _policy(rows[0]) if rows else None

    def turns_of_conversations(
        self, since: datetime | None, until: datetime | None
    ) -> list[AiTurnRow]:
        """Every AI turn of the conversations started in [since, until), by conversation,
        then seq."""
        where, params = _period("c.created_at", since, until)
        rows = self._rows(
            f"SELECT {_TURN_SELECT}, c.visitor, c.page_url FROM ai_turns t"
            f" JOIN conversations c ON t.conversation_id = c.id WHERE 1 = 1{where}"
            " ORDER BY t.conversation_id, t.seq",
            params,
        )
        return _turn_rows(rows)

    def turns_between(self, since: datetime | None, until: datetime | None) -> list[AiTurnRow]:
        """The AI turns decided in [since, until), oldest first."""
        where, params = _period("t.at", since, until)
        rows = self._rows(
            f"SELECT {_TURN_SELECT}, c.visitor, c.page_url FROM ai_turns t"
            f" JOIN conversations c ON t.conversation_id = c.id WHERE 1 = 1{where}"
            " ORDER BY t.at, t.conversation_id, t.seq",
            params,
        )
        return _turn_rows(rows)

    def conversations_between(
        self, since: datetime | None, until: datetime | None
    ) -> list[ConversationRecord]:
        """The conversations started in [since, until), oldest first."""
        where, params = _period("created_at", since, until)
        rows = self._rows(
            f"SELECT * FROM conversations WHERE 1 = 1{where} ORDER BY created_at, id", params
        )
        return [_conversation(r) for r in rows]

    def events_of_kinds(
        self, kinds: Sequence[str], since: datetime | None, until: datetime | None
    ) -> list[StoredEvent]:
        """The events of ``kinds`` of the conversations started in [since, until), by
        conversation, then seq."""
        where, params = _period("c.created_at", since, until)
        marks = ",".join("?" * len(kinds))
        rows = self._rows(
            "SELECT e.* FROM events e JOIN conversations c ON e.conversation_id = c.id"
            f" WHERE e.kind IN ({marks}){where} ORDER BY c.created_at, c.id, e.seq",
            [*kinds, *params],
        )
        return [_event(r) for r in rows]

    def save_eval_run(self, run: EvalRun) -> None:
        """Keep the results of one ``handoff eval``."""
        with self._transaction():
            self._db.execute(
                "INSERT INTO eval_runs (created_at, engine, kb, samples) VALUES (?, ?, ?, ?)",
                (_ts(run.created_at), run.engine, run.kb, json.dumps(run.samples)),
            )

    def latest_eval_run(self) -> EvalRun | None:
        """The newest saved ``handoff eval`` results, or ``None``."""
        rows = self._rows("SELECT * FROM eval_runs ORDER BY id DESC LIMIT 1")
        if not rows:
            return None
        r = rows[0]
        return EvalRun(
            created_at=datetime.fromisoformat(r["created_at"]),
            engine=r["engine"],
            kb=r["kb"],
            samples=[(float(c), bool(ok)) for c, ok in json.loads(r["samples"])],
        )


_TURN_SELECT = ", ".join(f"t.{name}" for name in _TURN_FIELDS)


def _turn_rows(rows: list[sqlite3.Row]) -> list[AiTurnRow]:
    """Rows of ``_TURN_SELECT``'s columns, then the conversation's visitor and page."""
    out = []
    for r in rows:
        values = list(r)
        values[2] = datetime.fromisoformat(values[2])
        for i in _TURN_FLAGS:
            values[i] = bool(values[i])
        out.append(AiTurnRow(*values))
    return out


_TASK_IN = "('callback_requested', 'offline_message', 'offline_reply')"
"""The event kinds whose data may hold a visitor's email (``conversations_of_email``);
an SQL literal, never input."""


class _SQLiteDataCare:
    """Tokens' revocation, the write probe, and visitor data's retention and erasure,
    shared by :class:`SQLiteStore` (kept apart so each class stays readable)."""

    _db: sqlite3.Connection
    _lock: threading.Lock

    if TYPE_CHECKING:

        def _transaction(self) -> AbstractContextManager[None]: ...

    def revoke_agent(self, agent_id: str, at: datetime) -> AgentRecord:
        """Revoke the agent's token from ``at`` (an earlier revocation is kept); returns
        the stored record. Raises ``KeyError`` for an unknown agent."""
        with self._transaction():
            cur = self._db.execute(
                "UPDATE agents SET revoked_at = COALESCE(revoked_at, ?) WHERE id = ?",
                (_ts(at), agent_id),
            )
            if cur.rowcount == 0:
                raise KeyError(agent_id)
            row = self._db.execute("SELECT * FROM agents WHERE id = ?", (agent_id,)).fetchone()
        return _agent(row)

    def delete_agent(self, agent_id: str) -> bool:
        """Delete the agent (a token never handed out); True when there was one."""
        with self._transaction():
            cur = self._db.execute("DELETE FROM agents WHERE id = ?", (agent_id,))
        return cur.rowcount > 0

    def conversations_of_email(self, email: str) -> list[str]:
        """Ids of the conversations holding ``email`` (the visitor's own, or one given in
        a callback request or offline message), compared by
        :func:`~handoff_server.protocol.email_key` (any case, Unicode too), oldest
        first. The stored addresses are read and folded in Python, then matched exactly:
        SQLite's ``lower()`` folds ASCII only."""
        with self._lock:
            stored = self._db.execute(
                "SELECT json_extract(visitor, '$.email') FROM conversations"
                f" UNION SELECT json_extract(data, '$.email') FROM events WHERE kind IN {_TASK_IN}"
            ).fetchall()
            wanted = matching_emails((r[0] for r in stored), email)
            if not wanted:
                return []
            marks = ",".join("?" * len(wanted))
            rows = self._db.execute(
                f"SELECT id FROM conversations c WHERE json_extract(c.visitor, '$.email') IN ({marks})"
                " OR EXISTS (SELECT 1 FROM events e WHERE e.conversation_id = c.id"
                f" AND e.kind IN {_TASK_IN} AND json_extract(e.data, '$.email') IN ({marks}))"
                " ORDER BY c.created_at, c.id",
                (*wanted, *wanted),
            ).fetchall()
        return [r[0] for r in rows]

    def resolved_before(self, cutoff: datetime, limit: int) -> list[str]:
        """Ids of up to ``limit`` resolved conversations last changed before ``cutoff``."""
        with self._lock:
            rows = self._db.execute(
                "SELECT id FROM conversations WHERE status = 'resolved' AND updated_at < ?"
                " ORDER BY updated_at LIMIT ?",
                (_ts(cutoff), limit),
            ).fetchall()
        return [r[0] for r in rows]

    def conversations_present(self, conversation_ids: Sequence[str]) -> set[str]:
        """Those of ``conversation_ids`` still stored, looked up 500 at a time."""
        ids = list(conversation_ids)
        present: set[str] = set()
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            marks = ",".join("?" * len(chunk))
            with self._lock:
                rows = self._db.execute(
                    f"SELECT id FROM conversations WHERE id IN ({marks})", chunk
                ).fetchall()
            present.update(r[0] for r in rows)
        return present

    def erase_conversations(self, conversation_ids: Sequence[str]) -> dict[str, int]:
        """Delete the conversations and all stored of them in one transaction, the
        deleted content overwritten (``secure_delete``) and the WAL emptied after (a
        checkpoint); returns the rows deleted per table."""
        ids = list(conversation_ids)
        where = _erasure_where(len(ids))
        counts = dict.fromkeys(where, 0)
        if not ids:
            return counts
        # Overwrite deleted content (not only unlink it), and empty the WAL after.
        self._db.execute("PRAGMA secure_delete = ON")
        with self._transaction():
            for table, condition in where.items():
                # Table names and conditions are the literals above, never input.
                counts[table] = self._db.execute(
                    f"DELETE FROM {table} WHERE {condition}", ids
                ).rowcount
        with self._lock:
            self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        return counts

    def erasure_counts(self, conversation_ids: Sequence[str]) -> dict[str, int]:
        """The rows per table :meth:`erase_conversations` would delete, read in one
        read transaction; nothing is changed."""
        ids = list(conversation_ids)
        where = _erasure_where(len(ids))
        counts = dict.fromkeys(where, 0)
        if not ids:
            return counts
        with self._lock:
            self._db.execute("BEGIN")  # deferred: a read, one snapshot for every table
            try:
                for table, condition in where.items():
                    # Table names and conditions are _erasure_where's literals, never input.
                    sql = f"SELECT COUNT(*) FROM {table} WHERE {condition}"
                    counts[table] = self._db.execute(sql, ids).fetchone()[0]
            finally:
                self._db.execute("COMMIT")
        return counts

    def probe_write(self) -> None:
        """Write 8 KiB to ``meta`` and delete it in one committed transaction: it needs
        free pages and WAL space as a real write does. Raises ``sqlite3.Error``."""
        with self._transaction():
            self._db.execute(
                "INSERT OR REPLACE INTO meta(key, value) VALUES ('write_probe', ?)", ("x" * 8192,)
            )
            self._db.execute("DELETE FROM meta WHERE key = 'write_probe'")


def _erasure_where(n: int) -> dict[str, str]:
    """What an erasure of ``n`` conversations deletes: table → condition on the ids
    (``n`` placeholders), children before the conversation rows they reference."""
    marks = ",".join("?" * n)
    return {
        "events": f"conversation_id IN ({marks})",
        "ai_turns": f"conversation_id IN ({marks})",
        "webhook_outbox": f"json_extract(payload, '$.data.conversation_id') IN ({marks})",
        "conversations": f"id IN ({marks})",
    }


class SQLiteStore(_SQLiteTables, _SQLiteOperatorTables, _SQLiteDataCare):
    """SQLite implementation of :class:`Store`.

    ``path``: the database file, or a folder (then ``handoff.sqlite3`` inside it); parent
    folders are created, the data dir mode ``0700`` and the database files ``0600``
    (:mod:`handoff_server.datadir`). ``synchronous``: ``FULL`` or ``NORMAL``.

    Not thread-safe: use from one thread at a time (a lock guards against accidents).
    """

    def __init__(self, path: Path | str, *, synchronous: str = "FULL") -> None:
        p = Path(path)
        if p.suffix not in (".sqlite3", ".db", ".sqlite"):
            p = p / DB_NAME
        private_dir(p.parent)
        private_db_file(p)
        self.path = p
        self._lock = threading.Lock()
        self._db = sqlite3.connect(p, isolation_level=None, check_same_thread=False)
        self._db.row_factory = sqlite3.Row
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute(f"PRAGMA synchronous={'FULL' if synchronous == 'FULL' else 'NORMAL'}")
        self._db.execute("PRAGMA foreign_keys=ON")
        self._db.execute("PRAGMA busy_timeout=5000")
        with self._lock:
            self._db.executescript(_SCHEMA)
            self._db.execute(
                "INSERT OR IGNORE INTO meta(key, value) VALUES ('schema_version', ?)",
                (str(_BASE_SCHEMA_VERSION),),
            )
        self._migrate()

    def _migrate(self) -> None:
        """Apply the :data:`MIGRATIONS` newer than the stored schema version, each with its
        version bump in one transaction (a crash leaves the store at a whole version).

        Raises :class:`StoreVersionError` for a store written by a newer release."""
        found = self.schema_version()
        if found > SCHEMA_VERSION:
            raise StoreVersionError(found, SCHEMA_VERSION)
        for version, script in MIGRATIONS:
            with self._transaction():
                row = self._db.execute(
                    "SELECT value FROM meta WHERE key = 'schema_version'"
                ).fetchone()
                if int(row[0]) >= version:
                    continue
                for statement in _statements(script):
                    self._db.execute(statement)
                self._db.execute(
                    "UPDATE meta SET value = ? WHERE key = 'schema_version'", (str(version),)
                )

    def schema_version(self) -> int:
        """The schema version of the open store (an int, 1 or more)."""
        row = self._rows("SELECT value FROM meta WHERE key = 'schema_version'")
        return int(row[0][0])

    # -- conversations -------------------------------------------------------------

    def create_conversation(
        self, record: ConversationRecord, events: Sequence[NewEvent]
    ) -> list[StoredEvent]:
        """Insert a new conversation and its first events in one transaction.

        Returns the stored events (seq 1..n). Raises ``sqlite3.IntegrityError`` if the id
        exists.
        """
        with self._transaction():
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
        return stored

    def append_events(
        self,
        conversation_id: str,
        events: Sequence[NewEvent],
        updates: ConversationUpdate,
        outbox: Sequence[OutboxRow] = (),
        turns: Sequence[AiTurnRow] = (),
        seat: tuple[str, int] | None = None,
    ) -> list[StoredEvent]:
        """Append ``events`` after the conversation's last seq and apply ``updates`` (column →
        value, see :class:`ConversationRecord`) in one transaction, with the ``outbox``
        rows (webhook deliveries of these events) and the AI ``turns`` they decide.
        ``seat`` = ``(agent id, capacity)``: the agent's other assigned conversations are
        counted in the transaction (one writer: nothing else can assign meanwhile).

        Raises ``KeyError`` if the conversation does not exist, ``ValueError`` for an
        unknown update column, ``sqlite3.IntegrityError`` if a client message id repeats,
        :class:`AtCapacity` when the agent of ``seat`` is at their capacity.
        """
        bad = set(updates) - _CONV_FIELDS
        if bad:
            raise ValueError(f"unknown conversation fields: {sorted(bad)}")
        with self._transaction():
            row = self._db.execute(
                "SELECT last_seq FROM conversations WHERE id = ?", (conversation_id,)
            ).fetchone()
            if row is None:
                raise KeyError(conversation_id)
            if seat is not None:
                _check_seat(self._db, conversation_id, *seat)
            stored = self._insert_events(conversation_id, row["last_seq"], events)
            self._insert_outbox(outbox)
            self._insert_turns(turns)
            cols: dict[str, Any] = dict(updates)
            if stored:
                cols["last_seq"] = stored[-1].seq
                cols.setdefault("updated_at", stored[-1].at)
            if cols:
                # Column names come from ConversationUpdate (checked above), never from input.
                assignments = ", ".join(f"{k} = ?" for k in cols)
                values = [_encode(k, v) for k, v in cols.items()]
                self._db.execute(
                    f"UPDATE conversations SET {assignments} WHERE id = ?",
                    (*values, conversation_id),
                )
        return stored

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
                    dump_json(se.data),
                    se.client_msg_id,
                    se.sender,
                    int(se.visible_to_visitor),
                ),
            )
            stored.append(se)
        return stored

    def get_conversation(self, conversation_id: str) -> ConversationRecord | None:
        """The conversation, or ``None``."""
        rows = self._rows("SELECT * FROM conversations WHERE id = ?", (conversation_id,))
        return _conversation(rows[0]) if rows else None

    def list_conversations(
        self, statuses: Iterable[ConversationStatus]
    ) -> list[ConversationRecord]:
        """Conversations whose status is in ``statuses``, oldest first."""
        sts = list(statuses)
        marks = ",".join("?" * len(sts))
        rows = self._rows(
            f"SELECT * FROM conversations WHERE status IN ({marks}) ORDER BY created_at", sts
        )
        return [_conversation(r) for r in rows]

    def events_after(
        self, conversation_id: str, after_seq: int, *, visitor_only: bool = False
    ) -> list[StoredEvent]:
        """Events with ``seq > after_seq`` in order; ``visitor_only`` skips internal ones."""
        sql = "SELECT * FROM events WHERE conversation_id = ? AND seq > ?"
        if visitor_only:
            sql += " AND visible_to_visitor = 1"
        return [_event(r) for r in self._rows(sql + " ORDER BY seq", (conversation_id, after_seq))]

    def event_for_client_msg(
        self, conversation_id: str, sender: str, client_msg_id: str
    ) -> StoredEvent | None:
        """The event stored for ``sender``'s client message id, if that frame was handled."""
        rows = self._rows(
            "SELECT * FROM events WHERE conversation_id = ? AND sender = ? AND client_msg_id = ?",
            (conversation_id, sender, client_msg_id),
        )
        return _event(rows[0]) if rows else None

    def handling_times(self, limit: int) -> list[tuple[str | None, float]]:
        """The ``limit`` most recent handling times, newest first: ``(team, seconds)``."""
        rows = self._rows(
            "SELECT c.team AS team, e.at AS start, (SELECT x.at FROM events x"
            " WHERE x.conversation_id = e.conversation_id AND x.seq > e.seq"
            " AND x.kind IN ('resolved', 'released', 'handed_back', 'callback_done',"
            " 'offline_reply') ORDER BY x.seq LIMIT 1) AS stop"
            " FROM events e JOIN conversations c ON c.id = e.conversation_id"
            " WHERE e.kind = 'claimed' ORDER BY e.at DESC LIMIT ?",
            (limit * 2,),
        )
        out = [
            (r["team"], (_dt(r["stop"]) - _dt(r["start"])).total_seconds())  # type: ignore[operator]
            for r in rows
            if r["stop"] is not None
        ]
        return out[:limit]

    # -- agents --------------------------------------------------------------------

    def create_agent(self, record: AgentRecord) -> None:
        """Insert an agent or operator. Raises ``sqlite3.IntegrityError`` on a duplicate id."""
        with self._lock:
            self._db.execute(
                "INSERT INTO agents (id, name, role, token_hash, created_at, teams, capacity,"
                " expires_at) VALUES (?,?,?,?,?,?,?,?)",
                (
                    record.id,
                    record.name,
                    record.role,
                    record.token_hash,
                    _ts(record.created_at),
                    json.dumps(record.teams),
                    record.capacity,
                    _ts(record.expires_at),
                ),
            )

    def agent_by_token_hash(self, token_hash: str) -> AgentRecord | None:
        """The agent whose token hashes to ``token_hash``, or ``None``."""
        rows = self._rows("SELECT * FROM agents WHERE token_hash = ?", (token_hash,))
        return _agent(rows[0]) if rows else None

    def list_agents(self) -> list[AgentRecord]:
        """Every agent and operator, oldest first."""
        return [_agent(r) for r in self._rows("SELECT * FROM agents ORDER BY created_at, id")]

    def update_agent(self, agent_id: str, teams: list[str], capacity: int | None) -> AgentRecord:
        """Set an agent's teams and capacity; returns the stored record. Raises
        ``KeyError`` for an unknown agent."""
        with self._transaction():
            cur = self._db.execute(
                "UPDATE agents SET teams = ?, capacity = ? WHERE id = ?",
                (json.dumps(teams), capacity, agent_id),
            )
            if cur.rowcount == 0:
                raise KeyError(agent_id)
            row = self._db.execute("SELECT * FROM agents WHERE id = ?", (agent_id,)).fetchone()
        return _agent(row)

    # -- policy --------------------------------------------------------------------

    def save_policy(self, body: dict[str, Any], author: str) -> int:
        """Store a new policy version (the caller validated ``body``); returns its number,
        1 for the first."""
        with self._transaction():
            row = self._db.execute("SELECT COALESCE(MAX(version), 0) FROM policies").fetchone()
            version = int(row[0]) + 1
            self._db.execute(
                "INSERT INTO policies (version, author, created_at, body) VALUES (?,?,?,?)",
                (version, author, _ts(utcnow()), json.dumps(body)),
            )
        return version

    def latest_policy(self) -> PolicyRecord | None:
        """The newest policy version, or ``None`` before the first is saved."""
        rows = self._rows("SELECT * FROM policies ORDER BY version DESC LIMIT 1")
        return _policy(rows[0]) if rows else None

    def latest_policy_version(self) -> int:
        """The newest policy version number, 0 if none (cheap: for per-turn checks)."""
        return int(self._rows("SELECT COALESCE(MAX(version), 0) FROM policies")[0][0])

    def policy_history(self) -> list[PolicyRecord]:
        """Every policy version, oldest first."""
        return [_policy(r) for r in self._rows("SELECT * FROM policies ORDER BY version")]

    def close(self) -> None:
        """Close the database (checkpointing the WAL)."""
        with self._lock:
            self._db.close()
