"""Frames that are not events, across nodes: typing (visitor's and agents'),
``wait_estimate`` and ``fallback_offer`` for the visitor, and the llm engine's
``ai_partial``. (``waiting_work`` for an agent is not relayed: every node learns of
the changes it answers and tells the agent's connections on it, see
:meth:`~handoff_server.routing.waiting.WaitingRoom.offer_work`.)

A node sends such a frame to its own clients at once (the :class:`~handoff_server.hub.Hub`)
and, through :class:`LiveRelay`, as a :class:`~.bus.Live` on the bus to the others; a
node receiving one parses it (only these frame types, for the conversation its subject
names) and sends it to its clients the frame's type is for, as it would its own: a
visitor's typing to the conversation's agents, an agent's typing and ``ai_partial`` to
the conversation's visitor and agents, ``wait_estimate`` and ``fallback_offer`` to its
visitor. Who follows a conversation here was checked when they attached here, so an
agent gets nothing from another node they would not get from this one.

At most once: the bus never echoes a node's frames to itself, and each node's clients
get each frame from one place, their node. A node that dies after saying someone is
typing never says they stopped: the typing it relayed ends here ``typing_expiry``
(plus :data:`EXPIRY_GRACE_SECONDS`) after the last ``active``, as on the typist's node.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Annotated

from pydantic import BaseModel, Field, TypeAdapter, ValidationError

from handoff_server.cluster.bus import Bus, Live
from handoff_server.hub import Hub
from handoff_server.protocol import (
    SAiPartial,
    SFallbackOffer,
    STyping,
    SWaitEstimate,
)

__all__ = ["EXPIRY_GRACE_SECONDS", "LiveRelay"]

log = logging.getLogger(__name__)

EXPIRY_GRACE_SECONDS = 5.0
"""How much longer than ``typing_expiry`` another node's typing holds here without a
word from that node: its own expiry (which it relays) comes first while it lives."""

ConversationFrame = Annotated[
    STyping | SWaitEstimate | SFallbackOffer | SAiPartial, Field(discriminator="type")
]
_CONVERSATION_FRAME: TypeAdapter[ConversationFrame] = TypeAdapter(ConversationFrame)

_TypistKey = tuple[str, str, str, str | None]
"""(conversation id, node, role, name): one typist of another node."""


class LiveRelay:
    """Sends this node's transient frames to the other nodes over ``bus`` and delivers
    theirs to ``hub``'s subscribers (module docstring). Call from the event loop."""

    def __init__(self, hub: Hub, bus: Bus) -> None:
        self.hub = hub
        self.bus = bus
        self._typists: dict[_TypistKey, asyncio.TimerHandle] = {}
        hub.on_typing = self.conversation_frame

    def conversation_frame(self, conversation_id: str, frame: BaseModel) -> None:
        """Send ``frame``, made here for the conversation's clients, to the other nodes."""
        data = frame.model_dump(mode="json")
        self.bus.shout(Live(data, self.bus.node, conversation_id=conversation_id))

    async def on_live(self, live: Live) -> None:
        """Another node's frame: deliver it here to whom it is for. A frame of another
        type, or for no conversation, or whose conversation is not its subject's, is
        dropped with a warning."""
        try:
            if live.conversation_id is None:
                raise ValueError("the frame names no conversation")
            frame = _CONVERSATION_FRAME.validate_python(live.frame)
            if frame.conversation_id != live.conversation_id:
                raise ValueError("the frame names another conversation")
            self._deliver(frame, live.node)
        except (ValidationError, ValueError) as exc:
            log.warning("ignoring a live frame from node %s: %s", live.node, exc)

    def _deliver(self, frame: ConversationFrame, node: str) -> None:
        cid = frame.conversation_id
        if isinstance(frame, STyping):
            self._typing(frame, node)
        elif isinstance(frame, SWaitEstimate | SFallbackOffer):
            self.hub.publish_visitor(cid, frame)
        else:
            self.hub.publish_live(cid, frame)

    def _typing(self, frame: STyping, node: str) -> None:
        """Another node's typist: send it on, and end it here if that node never does."""
        key = (frame.conversation_id, node, frame.role, frame.name)
        timer = self._typists.pop(key, None)
        if timer is not None:
            timer.cancel()
        if frame.active:
            self._typists[key] = asyncio.get_running_loop().call_later(
                self.hub.typing_expiry + EXPIRY_GRACE_SECONDS, self._expired, key, frame
            )
        self.hub.send_typing(frame)

    def _expired(self, key: _TypistKey, frame: STyping) -> None:
        self._typists.pop(key, None)
        self.hub.send_typing(frame.model_copy(update={"active": False}))

    def close(self) -> None:
        """Stop the typing timers."""
        for timer in self._typists.values():
            timer.cancel()
        self._typists.clear()
