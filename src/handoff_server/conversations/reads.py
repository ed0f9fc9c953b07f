"""What agents read of conversations: the handoff packet and the queue.

:class:`ConversationReads` is a base class of
:class:`~handoff_server.conversations.service.ConversationService` (kept apart so each
class stays readable); it changes nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager
from typing import TYPE_CHECKING

from handoff_server.conversations import lifecycle
from handoff_server.conversations.projections import assigned_agent, build_packet, queue_item
from handoff_server.conversations.sink import Attach
from handoff_server.protocol import (
    DEFAULT_QUEUE_STATUSES,
    AgentInfo,
    ConversationStatus,
    HandoffPacket,
    QueueItem,
)
from handoff_server.store import AsyncStore, ConversationRecord, Store

if TYPE_CHECKING:
    from handoff_server.conversations.memory import ConversationMemory

__all__ = ["ConversationReads"]


class ConversationReads:
    """The service's read side: :meth:`packet`, :meth:`queue` and :meth:`check_may_reply`."""

    if TYPE_CHECKING:
        # Provided by the service.
        _store: AsyncStore
        _db: Store
        memory: ConversationMemory

        def _lock(self, conversation_id: str) -> AbstractAsyncContextManager[None]: ...
        async def _get(self, conversation_id: str) -> ConversationRecord: ...
        def _attached(self, conversation_id: str, seq: int) -> None: ...

    async def packet(
        self, conversation_id: str, after_seq: int = 0, attach: Attach | None = None
    ) -> HandoffPacket:
        """The handoff packet, with the transcript after ``after_seq``; with ``attach``,
        also subscribe the caller to live events (atomically: nothing missed, nothing
        doubled)."""
        async with self._lock(conversation_id):
            entry = await self.memory.held(conversation_id)
            conv, wire = entry.record, list(entry.wire)
            if attach is not None:
                attach(conversation_id)
                self._attached(conversation_id, conv.last_seq)
        return build_packet(conv, wire, after_seq)

    async def check_may_reply(self, agent: AgentInfo, conversation_id: str) -> None:
        """Whether ``agent`` may reply in the conversation now (the right typing needs
        too): returns if so, else raises what a ``reply`` would,
        :class:`~handoff_server.errors.NotFound`,
        :class:`~handoff_server.errors.InvalidState` or
        :class:`~handoff_server.errors.Conflict`. Reads the store (or the memory of a
        store this process alone writes), changes nothing, takes no lock."""
        conv = await self.memory.peek(conversation_id)
        lifecycle.agent_transition("reply", conv.status, assigned_agent(conv), agent)

    async def queue(
        self, statuses: Sequence[ConversationStatus] = DEFAULT_QUEUE_STATUSES
    ) -> list[QueueItem]:
        """The conversations whose status is in ``statuses`` (default: queued and
        assigned), highest priority first, then longest waiting."""
        convs = await self._store.call(self._db.list_conversations, list(statuses))
        items = [queue_item(c) for c in convs]
        items.sort(key=lambda i: (-i.priority, i.queued_at or i.updated_at))
        return items
