"""Everything the running server holds of a conversation, and forgetting all of it.

A conversation erased from the store while the server runs (``handoff erase`` beside
it, noticed by :class:`~handoff_server.retention.ErasureWatch`; the retention sweep)
must leave every in-memory structure keyed by its id, not only the memory of recent
conversations: an agent holding it kept its slot (a capacity-1 agent was refused every
claim as ``at_capacity`` until they disconnected), wait estimates counted it, an open
offer of it kept the offered agent's slot. :class:`ServerMemory` names them all:

- the conversation service's memory of recent conversations
  (:class:`~handoff_server.conversations.memory.ConversationMemory`) and the waiting
  room's claim times (:class:`~handoff_server.routing.waiting.WaitingRoom`, which then
  re-estimates the lines the conversation stood in);
- routing (:class:`~handoff_server.routing.desk.Desk`): who holds it (the holder's load
  on the roster and their free slots: the waiting conversations are offered to them
  again, ``waiting_work`` sent), the waiting conversations of push teams, an open offer
  (ended as ``taken``) and its retry;
- the hub: the connections subscribed to its events, typing timers in it; after an
  erasure (:meth:`ServerMemory.erased`) every queue watcher and every agent who opened
  it is sent a ``queue_item`` with ``erased`` first, so the row leaves their views and
  the agent UI closes the conversation (nothing of the visitor stays on screen);
- on a node of several: the last seq delivered here and the queue row last seen.
"""

from __future__ import annotations

from handoff_server.cluster.fanout import ClusterSink
from handoff_server.conversations.service import ConversationService
from handoff_server.hub import Hub
from handoff_server.routing.desk import Desk
from handoff_server.store import utcnow

__all__ = ["ServerMemory"]


class ServerMemory:
    """What the server holds of conversations: ``service``, ``desk`` (routing),
    ``hub`` (subscriptions) and, on a node of several, the cluster sink's
    ``delivered`` seqs and seen ``rows`` (``cluster``: the node's sink, ``None`` on one
    node)."""

    def __init__(
        self,
        service: ConversationService,
        desk: Desk,
        hub: Hub,
        cluster: ClusterSink | None = None,
    ) -> None:
        self.service = service
        self.desk = desk
        self.hub = hub
        self.cluster = cluster

    def held_ids(self) -> list[str]:
        """Every conversation id held in memory anywhere in the server, in no order
        worth relying on (the erasure watch asks the store which are still stored)."""
        ids = set(self.service.memory.held_ids())
        ids |= self.desk.held_ids()
        ids |= self.service.waiting.held_ids()
        ids |= set(self.hub.conversations)
        return sorted(ids)

    def erased(self, conversation_id: str) -> None:
        """The conversation was erased beside the running server (``handoff erase``):
        tell the connected agents (the hub's ``queue_item`` with ``erased``: their views
        drop its row and close it if open), then :meth:`forget` it."""
        self.hub.publish_erased(conversation_id, utcnow())
        self.forget(conversation_id)

    def forget(self, conversation_id: str) -> None:
        """The conversation is no longer stored: drop it everywhere (see the module)."""
        self.service.memory.forget(conversation_id)
        self.service.waiting.forget(conversation_id)
        self.desk.forget(conversation_id)
        self.hub.forget(conversation_id)
        if self.cluster is not None:
            self.cluster.delivered.pop(conversation_id, None)
            self.cluster.rows.seen.pop(conversation_id, None)
