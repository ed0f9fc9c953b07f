"""Finding AI turns a crash interrupted: a visitor message stored with no AI answer yet.

A visitor's message and the AI's answer are one change under the conversation's lock.
When they are stored in two commits (a slow or streamed engine, a reopened or queued
conversation: :mod:`.ai_turns`), a process (node) that dies between the two leaves the
message stored and unanswered. The
service finishes such turns on start, and a node of a shared store also every few
seconds for the turns a dead node left (:mod:`handoff_server.cluster.recovery`); both
go through :meth:`~handoff_server.conversations.ConversationService.finish_interrupted_turns`,
which takes each candidate's lock and checks again under it.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import TYPE_CHECKING

from handoff_server.conversations.turn import says_yes
from handoff_server.errors import NotFound
from handoff_server.protocol import VisitorMessage
from handoff_server.routing import fallbacks
from handoff_server.store import AsyncStore, ConversationRecord, Store

if TYPE_CHECKING:
    from handoff_server.cluster.locks import ConversationLocks
    from handoff_server.conversations.memory import ConversationMemory
    from handoff_server.escalation import Policy

__all__ = ["InterruptedTurns", "unanswered"]

log = logging.getLogger(__name__)


def unanswered(db: Store, quiet_since: datetime | None) -> list[str]:
    """Store thread: ids of the conversations the AI answers (with the AI, or queued with
    the AI going on, ``ai_continues``) whose last event is a visitor message, unchanged
    since ``quiet_since`` (``None``: any time). The store's own query when it has one
    (PostgreSQL's ``unanswered_conversations``), else a look at each one's last event."""
    query = getattr(db, "unanswered_conversations", None)
    if query is not None:
        found: list[str] = query(quiet_since)
        return found
    ids: list[str] = []
    for conv in db.list_conversations(["ai", "queued"]):
        if conv.status == "queued" and not fallbacks.ai_continues(conv):
            continue
        if quiet_since is not None and conv.updated_at > quiet_since:
            continue
        last = db.events_after(conv.id, max(0, conv.last_seq - 1))
        if last and last[-1].kind == "visitor_message":
            ids.append(conv.id)
    return ids


class InterruptedTurns:
    """The service's recovery of interrupted AI turns (mixed into
    :class:`~handoff_server.conversations.ConversationService`)."""

    if TYPE_CHECKING:
        # Provided by the service.
        _store: AsyncStore
        _db: Store
        locks: ConversationLocks
        memory: ConversationMemory

        async def _ai_turn(
            self,
            conv: ConversationRecord,
            text: str,
            *,
            explicit_human: bool,
            pressed: bool = False,
            policy: Policy | None = None,
        ) -> None: ...

    async def finish_interrupted_turns(self, quiet_since: datetime | None = None) -> int:
        """Finish every interrupted AI turn (:func:`~.interrupted.unanswered`: unchanged
        since ``quiet_since``, ``None``: any) whose lock is free now (a busy one is being
        changed by a live process); returns how many this process finished. Called on
        start, and periodically by a node of a shared store
        (:mod:`handoff_server.cluster.recovery`)."""
        finished = 0
        for conversation_id in await self._store.call(unanswered, self._db, quiet_since):
            async with self.locks.try_hold(conversation_id) as taken:
                try:
                    if taken and await self.finish_interrupted_turn(conversation_id):
                        finished += 1
                except NotFound:  # erased meanwhile (retention, handoff erase)
                    continue
        return finished

    async def finish_interrupted_turn(self, conversation_id: str) -> bool:
        """If the conversation's last event is a visitor message the AI never answered
        (its process died mid-turn), in a conversation with the AI or one the AI goes on
        with while its visitor waits for a person, run that turn now; returns whether it
        did. The caller holds the conversation lock, so the check and the turn are one
        step: a turn is finished once."""
        await self.memory.refresh(conversation_id)
        entry = await self.memory.held(conversation_id)
        conv = entry.record
        if conv.status != "ai" and not fallbacks.ai_continues(conv):
            return False
        message = entry.last
        if not isinstance(message, VisitorMessage):
            return False
        log.info("finishing interrupted AI turn in %s", conv.id)
        text = message.data.text
        await self._ai_turn(
            conv,
            text,
            explicit_human=message.data.request_human,
            pressed=message.data.request_human and not says_yes(text),
        )
        return True
