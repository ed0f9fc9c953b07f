"""Recent conversations kept in memory, so a turn does not re-read its history.

:class:`ConversationMemory` is a bounded LRU of conversations: for each, the record as
stored, every stored event, the last one's wire form, and the index of client message
ids by sender (how a retried frame is recognised). A visitor turn then costs one store
call (its append) instead of five reads and an append, and turn 500 reads no more than
turn 1.

The events are kept as compact rows of atomic values (their data as JSON), which
CPython's cyclic GC does not track: the memory's size does not lengthen the full
collections that stall the event loop (an AI answer parsed into its wire form is ~50
tracked objects; ``tests/server/test_stalls.py``). They are parsed when a resume or a
packet asks for them; a conversation whose packet was built keeps its parsed form. The
last event is no exception: what a turn needs of it (whether the AI offered a person)
is kept as a flag. Kept parsed, 500 conversations' last answers were ~30,000 objects
that each turn replaced: too old for the young collections to free, each of those then
walked tens of thousands of objects, 10–70 ms on the loop (the 500-visitor p99).

Correctness rests on one rule: **every change to a conversation goes through
:meth:`ConversationMemory.append` under the conversation's lock** (the service's
``_append``; ``create_conversation`` through :meth:`ConversationMemory.created`). So
an entry is filled only under that lock (:meth:`held`), updated after each append
returns, and dropped when an append fails or is cancelled (its outcome is then unknown:
the next turn reads the store again). Readers outside the lock (:meth:`peek`,
:meth:`events`) use an entry when there is one and read the store otherwise, never
filling the memory. Anything that writes a conversation's rows another way (a
command-line erasure while the server runs, say) must call :meth:`forget` or
:meth:`clear`.

**Several nodes on one store** (PostgreSQL, ``docs/scaling.md``): another node changes a
conversation under the same cross-node lock, so this node's entry may be behind. With
``shared=True`` the caller that has just taken a conversation's lock calls
:meth:`refresh`: one read of the stored conversation; when its ``last_seq`` differs from
the entry's, the events stored since are read and added (or the entry dropped when they
do not follow on). :meth:`peek` then reads the store, never an entry.

Bounds: at most ``max_conversations`` entries and ``max_events`` stored events in all;
least recently used entries go first, and a conversation longer than ``max_events``
alone is never kept (it is read from the store each time, as before).
"""

from __future__ import annotations

import json
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from handoff_server.conversations.projections import to_event
from handoff_server.conversations.turn import fold_history, offers_person
from handoff_server.errors import NotFound
from handoff_server.escalation import PriorTurn
from handoff_server.protocol import Event
from handoff_server.store import (
    AiTurnRow,
    AsyncStore,
    ConversationRecord,
    ConversationUpdate,
    NewEvent,
    OutboxRow,
    Store,
    StoredEvent,
    dump_json,
)

__all__ = ["ConversationMemory", "Remembered"]


_Row = tuple[int, str, datetime, str, str | None, str | None, bool]
"""A remembered event, compactly: ``(seq, kind, at, data as JSON, client_msg_id,
sender, visible_to_visitor)``. Only atomic values, so CPython's cyclic GC untracks the
tuple: a long-lived conversation costs the collector one list, not the dozens of dicts,
sets and pydantic models of its parsed events (an AI answer's decision alone is ~70)."""


def _row(se: StoredEvent) -> _Row:
    data = dump_json(se.data)
    return (se.seq, se.kind, se.at, data, se.client_msg_id, se.sender, se.visible_to_visitor)


def _stored(conversation_id: str, row: _Row) -> StoredEvent:
    n, kind, at, data, msg_id, sender, visible = row
    return StoredEvent.model_construct(
        conversation_id=conversation_id,
        seq=n,
        kind=kind,
        at=at,
        data=json.loads(data),
        client_msg_id=msg_id,
        sender=sender,
        visible_to_visitor=visible,
    )


@dataclass(slots=True)
class Remembered:
    """One conversation as stored: its ``record``, every event in seq order (kept as
    compact rows; :attr:`stored`, :attr:`wire` and :attr:`last` parse them when asked),
    and ``by_client_msg``: ``(sender, client_msg_id)`` → the ``seq`` of the event it
    caused."""

    record: ConversationRecord
    rows: list[_Row] = field(default_factory=list)
    offered: bool = False
    """Whether the last event is the AI's answer offering a person
    (:func:`~.turn.offers_person`): a "yes" next accepts it."""
    by_client_msg: dict[tuple[str, str], int] = field(default_factory=dict)
    turns: list[PriorTurn] = field(default_factory=list)
    """The visitor turns since the last handoff, the latest included
    (:func:`~.turn.fold_history`): a turn's history is all but the last."""
    parsed: list[Event] | None = None
    """Every event's wire form, once :attr:`wire` was asked for (an agent opened the
    conversation: its packets then cost no parsing); ``None`` until then."""

    def add(self, stored: Sequence[StoredEvent], wire: Sequence[Event]) -> None:
        """Append events just stored (and their wire form)."""
        self.rows.extend(_row(se) for se in stored)
        if self.parsed is not None:
            self.parsed.extend(wire)
        for se in stored:
            if se.client_msg_id is not None and se.sender is not None:
                self.by_client_msg.setdefault((se.sender, se.client_msg_id), se.seq)
        for ev in wire:
            fold_history(self.turns, ev)
        if wire:
            self.offered = offers_person(wire[-1])

    @property
    def last(self) -> Event | None:
        """The last event's wire form (parsed now; ``None`` before the first event)."""
        if self.parsed:
            return self.parsed[-1]
        return to_event(_stored(self.record.id, self.rows[-1])) if self.rows else None

    def stored_after(self, seq: int = 0) -> list[StoredEvent]:
        """The events after ``seq``, in seq order, as stored (parsed from the rows)."""
        return [_stored(self.record.id, row) for row in self.rows if row[0] > seq]

    @property
    def stored(self) -> list[StoredEvent]:
        """Every event as stored, in seq order (parsed now: O(events))."""
        return self.stored_after(0)

    @property
    def wire(self) -> list[Event]:
        """Every event's wire form, in seq order (a copy; parsed from the rows the first
        time, O(events), and kept from then on: see :attr:`parsed`)."""
        if self.parsed is None:
            self.parsed = [to_event(se) for se in self.stored_after(0)]
        return list(self.parsed)


def _load(db: Store, conversation_id: str) -> tuple[ConversationRecord | None, list[StoredEvent]]:
    """Store thread: a conversation and all its events, read together."""
    record = db.get_conversation(conversation_id)
    return record, db.events_after(conversation_id, 0) if record is not None else []


def _since(
    db: Store, conversation_id: str, after_seq: int
) -> tuple[ConversationRecord | None, list[StoredEvent]]:
    """Store thread: the conversation, and its events after ``after_seq`` when its
    ``last_seq`` is another (one read when nothing changed)."""
    record = db.get_conversation(conversation_id)
    if record is None or record.last_seq == after_seq:
        return record, []
    return record, db.events_after(conversation_id, after_seq)


class ConversationMemory:
    """The LRU of :class:`Remembered` conversations over ``store`` (an
    :class:`~handoff_server.store.AsyncStore`); see the module docstring for the rule
    that keeps it right. ``max_conversations`` ≥ 1, ``max_events`` ≥ 1. ``shared``:
    other nodes write the same store (:meth:`refresh` after taking a lock)."""

    def __init__(
        self,
        store: AsyncStore,
        *,
        max_conversations: int = 2000,
        max_events: int = 200_000,
        shared: bool = False,
    ) -> None:
        self._store = store
        self._db = store.store
        self.shared = shared
        self.max_conversations = max_conversations
        self.max_events = max_events
        self._entries: OrderedDict[str, Remembered] = OrderedDict()
        self._events = 0

    def __len__(self) -> int:
        return len(self._entries)

    def held_ids(self) -> list[str]:
        """The ids of the conversations held now, least recently used first."""
        return list(self._entries)

    def __contains__(self, conversation_id: object) -> bool:
        return conversation_id in self._entries

    @property
    def events_kept(self) -> int:
        """Stored events held in memory, all entries together."""
        return self._events

    # ------------------------------------------------------------------ reading

    async def held(self, conversation_id: str) -> Remembered:
        """The conversation, for a caller holding its lock: from memory, else read from
        the store and kept. Raises ``NotFound``."""
        entry = self._entries.get(conversation_id)
        if entry is not None:
            self._entries.move_to_end(conversation_id)
            return entry
        record, stored = await self._store.call(_load, self._db, conversation_id)
        if record is None:
            raise NotFound(f"no conversation {conversation_id!r}")
        entry = Remembered(record)
        entry.add(stored, [to_event(se) for se in stored])
        self._keep(conversation_id, entry)
        return entry

    async def refresh(self, conversation_id: str) -> None:
        """With a ``shared`` store, for a caller that has just taken the conversation's
        lock: bring its entry (if any) up to what is stored, which another node may have
        changed since (one read of the conversation; its new events only when its
        ``last_seq`` moved). The entry is dropped when the stored conversation is gone or
        its events do not follow on the entry's. Does nothing without ``shared``."""
        entry = self._entries.get(conversation_id)
        if not self.shared or entry is None:
            return
        known = entry.record.last_seq
        record, newer = await self._store.call(_since, self._db, conversation_id, known)
        if self._entries.get(conversation_id) is not entry:
            return  # forgotten meanwhile (an erasure): the next read loads it
        follows = [se.seq for se in newer] == list(range(known + 1, known + 1 + len(newer)))
        if record is None or record.last_seq != known + len(newer) or not follows:
            self.forget(conversation_id)
            return
        entry.record = record
        if newer:
            entry.add(newer, [to_event(se) for se in newer])
            self._events += len(newer)
            self._trim()

    async def peek(self, conversation_id: str) -> ConversationRecord:
        """The conversation's record without its lock (never fills the memory; with a
        ``shared`` store, always read from it). Raises ``NotFound``."""
        entry = self._entries.get(conversation_id)
        if entry is not None and not self.shared:
            return entry.record
        record = await self._store.call(self._db.get_conversation, conversation_id)
        if record is None:
            raise NotFound(f"no conversation {conversation_id!r}")
        return record

    async def events(self, conversation_id: str) -> list[StoredEvent]:
        """Every stored event of the conversation, in seq order (a copy)."""
        entry = self._entries.get(conversation_id)
        if entry is not None:
            return entry.stored
        return await self._store.call(self._db.events_after, conversation_id, 0)

    # ------------------------------------------------------------------ writing

    async def created(
        self, record: ConversationRecord, events: Sequence[NewEvent]
    ) -> tuple[ConversationRecord, list[StoredEvent], list[Event]]:
        """Store a new conversation (``Store.create_conversation``) and keep it; returns
        the record with its ``last_seq``, the stored events and their wire form."""
        stored = await self._store.call(self._db.create_conversation, record, list(events))
        record = record.model_copy(update={"last_seq": stored[-1].seq if stored else 0})
        wire = [to_event(se) for se in stored]
        entry = Remembered(record)
        entry.add(stored, wire)
        self._keep(record.id, entry)
        return record, stored, wire

    async def append(
        self,
        conv: ConversationRecord,
        events: Sequence[NewEvent],
        updates: ConversationUpdate,
        outbox: Sequence[OutboxRow] = (),
        turns: Sequence[AiTurnRow] = (),
        seat: tuple[str, int] | None = None,
    ) -> tuple[ConversationRecord, list[StoredEvent], list[Event]]:
        """Store a change (``Store.append_events``, with its capacity ``seat``; the
        caller holds the lock) and update the entry; returns the conversation as now
        stored, the stored events and their wire form. On any failure (or cancellation)
        the entry is dropped."""
        try:
            stored = await self._store.call(
                self._db.append_events, conv.id, list(events), updates, outbox, turns, seat
            )
        except KeyError:
            # Erased from the store meanwhile (handoff erase beside the server).
            self.forget(conv.id)
            raise NotFound(f"no conversation {conv.id!r}") from None
        except BaseException:
            self.forget(conv.id)
            raise
        wire = [to_event(se) for se in stored]
        extra: dict[str, Any] = dict(updates)
        if stored:
            extra["last_seq"] = stored[-1].seq
            extra["updated_at"] = updates.get("updated_at", stored[-1].at)
        conv = conv.model_copy(update=extra)
        entry = self._entries.get(conv.id)
        if entry is not None:
            entry.record = conv
            entry.add(stored, wire)
            self._events += len(stored)
            self._entries.move_to_end(conv.id)
            self._trim()
        return conv, stored, wire

    def forget(self, conversation_id: str) -> None:
        """Drop a conversation's entry (its rows changed another way, or an append's
        outcome is unknown)."""
        entry = self._entries.pop(conversation_id, None)
        if entry is not None:
            self._events -= len(entry.rows)

    def clear(self) -> None:
        """Drop every entry."""
        self._entries.clear()
        self._events = 0

    def _keep(self, conversation_id: str, entry: Remembered) -> None:
        self.forget(conversation_id)
        if len(entry.rows) > self.max_events:
            return
        self._entries[conversation_id] = entry
        self._events += len(entry.rows)
        self._trim()

    def _trim(self) -> None:
        while self._entries and (
            len(self._entries) > self.max_conversations or self._events > self.max_events
        ):
            _, old = self._entries.popitem(last=False)
            self._events -= len(old.rows)
