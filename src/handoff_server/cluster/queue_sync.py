"""Who holds what and what waits, re-read from the shared store: a node's catch-up for
the queue notices it missed.

Another node's queue change reaches this node's routing desk (who holds which
conversation, what to offer, the roster's loads) and its queue watchers through a queue
notice (:mod:`.fanout`). A notice can be lost (NATS down or unset, a slow consumer, a
reconnect). :class:`QueueRows` remembers the routing-relevant part of every queue row
this node has seen (:data:`RowKey`: status, holder, team, priority), and
:meth:`QueueRows.catch_up` re-reads the conversations queued or assigned in the store and
hands on each row that differs from what was seen, as a notice would have; a
conversation that left the queue and assignment unseen is read by id. So a lost notice
delays a node by at most one ``catch_up_seconds``; a row seen twice is harmless (routing
and watchers take rows as states, not as events), and a row read before a newer one
reached this node (a notice overtaking the re-read) is not handed on: rows are ordered
by their ``updated_at``.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from handoff_server.conversations.projections import queue_item
from handoff_server.protocol import ConversationStatus, QueueItem
from handoff_server.store import AsyncStore

__all__ = ["QueueRows", "RowKey"]

WATCHED: tuple[ConversationStatus, ...] = ("queued", "assigned")
"""The statuses whose rows routing keeps (the queue and who holds what)."""

RowKey = tuple[ConversationStatus, str | None, str | None, int]
"""(status, holder's agent id, team, priority): what of a row routing acts on."""

Deliver = Callable[[QueueItem, ConversationStatus], None]


def row_key(item: QueueItem) -> RowKey:
    """The part of ``item`` routing acts on."""
    holder = item.assigned_agent.id if item.assigned_agent is not None else None
    return (item.status, holder, item.team, item.priority)


class QueueRows:
    """The queue rows this node has seen, and their catch-up from ``store``. ``deliver``
    gets each row a notice would have brought, with the status it had before (as seen
    here; for a row never seen, the status it is in)."""

    def __init__(self, store: AsyncStore, deliver: Deliver) -> None:
        self.store = store
        self.deliver = deliver
        self.seen: dict[str, tuple[RowKey, datetime]] = {}
        """Conversation id → the key and ``updated_at`` of its newest row seen, while
        queued or assigned."""

    def saw(self, item: QueueItem) -> None:
        """``item`` reached routing here (this node's change, or a notice)."""
        if item.status in WATCHED:
            self.seen[item.conversation_id] = (row_key(item), item.updated_at)
        else:
            self.seen.pop(item.conversation_id, None)

    async def seed(self) -> None:
        """Remember the rows in the store now, handing nothing on (call before routing
        reads the queue at start, so what changes after is caught up)."""
        for item in await self._read():
            self.saw(item)

    async def catch_up(self) -> int:
        """Hand on every row that changed since it was seen here; returns how many.
        Raises the store's errors."""
        rows = {item.conversation_id: item for item in await self._read()}
        changed = list(rows.values())
        db = self.store.store
        for cid in [c for c in self.seen if c not in rows]:
            conv = await self.store.call(db.get_conversation, cid)
            if conv is None:
                self.seen.pop(cid, None)  # erased
            else:
                changed.append(queue_item(conv))
        handed = 0
        for item in changed:
            before = self.seen.get(item.conversation_id)
            if before is not None and (before[0] == row_key(item) or before[1] > item.updated_at):
                continue  # seen, or older than what was seen
            if before is None and item.status not in WATCHED:
                continue
            self.saw(item)
            self.deliver(item, before[0][0] if before is not None else item.status)
            handed += 1
        return handed

    async def _read(self) -> list[QueueItem]:
        db = self.store.store
        convs = await self.store.call(db.list_conversations, list(WATCHED))
        return [queue_item(conv) for conv in convs]
