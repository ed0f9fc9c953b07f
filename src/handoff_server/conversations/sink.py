"""How the conversation service tells the world: the interfaces it publishes through.

The service never holds connections. It publishes stored events and queue rows to an
:class:`EventSink` (the gateway's :class:`~handoff_server.hub.Hub`; a webhook sender
or a second process later), acknowledges a client's frame through an :data:`Ack`
callback, and subscribes the calling connection through an :data:`Attach` callback,
called under the conversation's lock so no event is missed or doubled.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from typing import Protocol

from pydantic import BaseModel

from handoff_server.protocol import AgentInfo, ConversationStatus, Event, QueueItem, SAck
from handoff_server.store import ConversationUpdate, NewEvent

__all__ = ["Ack", "Attach", "Decided", "EventSink", "Seats"]

Ack = Callable[[SAck], None]
"""Sends an acknowledgement to the client whose frame was handled."""

Attach = Callable[[str], None]
"""Subscribes the calling client to the live events of the conversation (its id)."""


Decided = tuple[list[NewEvent], ConversationUpdate]
"""A change decided outside the service (routing): the events to append and the
conversation columns to update, stored in one transaction."""


class Seats(Protocol):
    """Agents' capacity, as the service asks for it: a change that assigns a conversation
    to an agent is stored inside :meth:`seat`."""

    def seat(self, agent: AgentInfo) -> AbstractContextManager[int]:
        """Hold one of ``agent``'s free slots for the ``with`` block, which gets their
        capacity (the store checks it again in the change's transaction, where every
        node's claims count). Raises :class:`~handoff_server.errors.WireError`
        (``at_capacity``) when they have none."""
        ...


class EventSink(Protocol):
    """Where stored changes go once they are durable."""

    def publish(self, events: Sequence[Event], conversation_id: str) -> None:
        """Deliver a conversation's new events (in ``seq`` order) to its subscribers;
        visitors get :func:`~handoff_server.conversations.projections.visitor_view`."""
        ...

    def publish_queue(self, item: QueueItem, previous: ConversationStatus) -> None:
        """Deliver a conversation's new queue row to the queue watchers it concerns: those
        watching its status now, and those watching ``previous``, its status before."""
        ...

    def publish_visitor(self, conversation_id: str, frame: BaseModel) -> None:
        """Send a frame written for the visitor (``wait_estimate``, ``fallback_offer``)
        to the conversation's visitor connections."""
        ...

    def publish_live(self, conversation_id: str, frame: BaseModel) -> None:
        """Send a transient frame meant for everyone in the conversation alike
        (``ai_partial``) to all its subscribers, visitors and agents; not stored."""
        ...

    @property
    def agents_online(self) -> int:
        """Connected, signed-in agents and operators now."""
        ...
