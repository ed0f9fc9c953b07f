"""Changes routing decides and the conversation service stores.

:class:`RoutedChanges` is a base class of
:class:`~handoff_server.conversations.service.ConversationService` (kept apart so each
class stays readable): :meth:`~RoutedChanges.apply` stores a change routing decided (a
transfer, a return to the queue) the same way as every other change (lock, retried
frames acknowledged again, one transaction, publish), and :meth:`~RoutedChanges.seat`
checks an agent's capacity while a change assigning them a conversation is stored.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager, AbstractContextManager, nullcontext
from typing import TYPE_CHECKING

from handoff_server.conversations.changes import Change
from handoff_server.conversations.memory import ConversationMemory
from handoff_server.conversations.sink import Ack, Decided, Seats
from handoff_server.protocol import AgentInfo, ConversationStatus, Event, SAck
from handoff_server.store import AsyncStore, ConversationRecord

__all__ = ["RoutedChanges", "ack_duplicate"]


class RoutedChanges:
    """Routing's hooks into the conversation service."""

    seats: Seats | None = None
    """Agents' capacity (routing's presence), checked when a change assigns a
    conversation to an agent; ``None``: no limit."""

    if TYPE_CHECKING:
        # Provided by the service.
        _store: AsyncStore
        memory: ConversationMemory

        def _lock(self, conversation_id: str) -> AbstractAsyncContextManager[None]: ...
        async def _get(self, conversation_id: str) -> ConversationRecord: ...
        async def _append(
            self, conv: ConversationRecord, change: Change
        ) -> tuple[ConversationRecord, list[Event]]: ...

    def seat(
        self, agent: AgentInfo, to: ConversationStatus | None = "assigned"
    ) -> AbstractContextManager[int | None]:
        """A slot of ``agent``'s capacity for a ``with`` block storing a change that moves
        a conversation to ``to`` (nothing to hold unless it is ``assigned``); the block
        gets their capacity (``None``: no limit), for the store's check in the change's
        transaction (:attr:`~.changes.Change.seat`). Raises a ``WireError``
        (``at_capacity``) when the agent has no free slot."""
        if to != "assigned" or self.seats is None:
            return nullcontext()
        return self.seats.seat(agent)

    async def apply(
        self,
        conversation_id: str,
        decide: Callable[[ConversationRecord], Decided | None],
        *,
        sender: str | None = None,
        client_msg_id: str | None = None,
        ack: Ack | None = None,
        seat: tuple[str, int] | None = None,
    ) -> ConversationRecord | None:
        """Store a change decided by routing: under the conversation's lock ``decide``
        gets the conversation as stored and returns the events and columns to store,
        ``None`` for nothing, or raises a ``WireError`` (nothing is stored then). A
        repeated ``client_msg_id`` of ``sender`` is acknowledged again and changes
        nothing. ``seat``: ``(agent id, capacity)`` of an agent the change assigns the
        conversation to (``at_capacity`` when the store counts them full). Raises
        ``NotFound`` for an unknown conversation. Returns the conversation as stored,
        ``None`` when nothing was."""
        async with self._lock(conversation_id):
            if client_msg_id is not None and sender is not None:
                if await ack_duplicate(self.memory, conversation_id, sender, client_msg_id, ack):
                    return None
            conv = await self._get(conversation_id)
            decided = decide(conv)
            if decided is None:
                return None
            change = Change(*decided)
            if seat is not None and change.updates.get("status") == "assigned":
                change.seat = seat
            conv, wire = await self._append(conv, change)
            if ack is not None and client_msg_id is not None and wire:
                ack(SAck(client_msg_id=client_msg_id, conversation_id=conv.id, seq=wire[-1].seq))
        return conv


async def ack_duplicate(
    memory: ConversationMemory,
    conversation_id: str,
    sender: str,
    client_msg_id: str,
    ack: Ack | None,
) -> bool:
    """If ``sender`` already sent this client message id, ack it again and return True.
    The caller holds the conversation's lock. Raises ``NotFound``."""
    entry = await memory.held(conversation_id)
    prior = entry.by_client_msg.get((sender, client_msg_id))
    if prior is None:
        return False
    if ack is not None:
        ack(
            SAck(
                client_msg_id=client_msg_id,
                conversation_id=conversation_id,
                seq=prior,
                duplicate=True,
            )
        )
    return True
