"""What agents read of conversations: the handoff packet and the queue.

:class:`ConversationReads` is a base class of
:class:`~handoff_server.conversations.service.ConversationService` (kept apart so each
class stays readable); it changes nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager
from typing import TYPE_CHECKING

from handoff_server.conversations.projections import build_packet, queue_item, to_event
from handoff_server.conversations.sink import Attach
from handoff_server.protocol import (
    DEFAULT_QUEUE_STATUSES,
    ConversationStatus,
    HandoffPacket,
    QueueItem,
)
from handoff_server.store import AsyncStore, ConversationRecord, Store

__all__ = ["ConversationReads"]


class ConversationReads:
    """The service's read side: :meth:`packet` and :meth:`queue`."""

    if TYPE_CHECKING:
        # Provided by the service.
        _store: AsyncStore
        _db: Store

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
            conv = await self._get(conversation_id)
            stored = await self._store.call(self._db.events_after, conversation_id, 0)
            if attach is not None:
                attach(conversation_id)
                self._attached(conversation_id, stored[-1].seq if stored else 0)
        return build_packet(conv, [to_event(se) for se in stored], after_seq)

    async def queue(
        self, statuses: Sequence[ConversationStatus] = DEFAULT_QUEUE_STATUSES
    ) -> list[QueueItem]:
        """The conversations whose status is in ``statuses`` (default: queued and
        assigned), highest priority first, then longest waiting."""
        convs = await self._store.call(self._db.list_conversations, list(statuses))
        items = [queue_item(c) for c in convs]
        items.sort(key=lambda i: (-i.priority, i.queued_at or i.updated_at))
        return items
