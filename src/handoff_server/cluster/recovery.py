"""Finishing the AI turns of a node that died mid-turn.

A visitor's message and the AI's answer are one change under the conversation's lock
(:mod:`.locks`). A node that dies between the two leaves the message stored with no
answer, and its lock is released with its database session. Every node of a shared
store looks every ``every`` seconds for such conversations (with the AI, or queued with
the AI going on; unchanged for ``every`` seconds); it takes the lock only if it is free now and, holding it, checks
again that the turn is unanswered before running it
(:meth:`~handoff_server.conversations.ConversationService.finish_interrupted_turns`, the
same the service runs on start), so the turn is finished by one node, once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import timedelta

from handoff_server.conversations import ConversationService
from handoff_server.store import utcnow

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
        """One look: finish every interrupted turn unchanged for ``every`` seconds whose
        lock is free; returns how many this node finished."""
        quiet_since = utcnow() - timedelta(seconds=self.every)
        return await self.service.finish_interrupted_turns(quiet_since)

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self.every)
            try:
                await self.sweep()
            except Exception:
                log.exception("looking for interrupted AI turns failed")
