"""Finishing the AI turns of a node that died mid-turn.

A visitor's message and the AI's answer are one change under the conversation's lock
(:mod:`.locks`). A node that dies between the two leaves the message stored with no
answer, and its lock is released with its database session. Every node of a shared
store looks every ``every`` seconds for such conversations (with the AI, or queued with
the AI going on; unchanged for ``every`` seconds); it takes the lock only if it is free now and, holding it, checks
again that the turn is unanswered before running it
(:meth:`~handoff_server.conversations.ConversationService.finish_interrupted_turn`), so
the turn is finished by one node, once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import datetime, timedelta

from handoff_server.conversations import ConversationService
from handoff_server.store import Store, utcnow

__all__ = ["TurnRecovery"]

log = logging.getLogger(__name__)


class TurnRecovery:
    """The periodic search for interrupted AI turns (see the module docstring)."""

    def __init__(self, service: ConversationService, every: float = 2.0) -> None:
        self.service = service
        self.every = every
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Start looking, in a background task."""
        self._task = asyncio.create_task(self._loop())

    async def close(self) -> None:
        """Stop looking (a turn being finished is cancelled with the task)."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def sweep(self) -> int:
        """One look: finish every interrupted turn whose lock is free; returns how many
        this node finished."""
        svc = self.service
        db = svc._store.store
        quiet_since = utcnow() - timedelta(seconds=self.every)
        finished = 0
        for conversation_id in await svc._store.call(_candidates, db, quiet_since):
            async with svc.locks.try_hold(conversation_id) as taken:
                if taken and await svc.finish_interrupted_turn(conversation_id):
                    finished += 1
        return finished

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self.every)
            try:
                await self.sweep()
            except Exception:
                log.exception("looking for interrupted AI turns failed")


def _candidates(db: Store, quiet_since: datetime) -> list[str]:
    """Conversations that may hold an interrupted turn: the store's own query when it
    has one (PostgreSQL's ``unanswered_conversations``), else every quiet AI one."""
    query = getattr(db, "unanswered_conversations", None)
    if query is not None:
        found: list[str] = query(quiet_since)
        return found
    return [c.id for c in db.list_conversations(["ai", "queued"]) if c.updated_at <= quiet_since]
