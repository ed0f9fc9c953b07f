"""The connection hub, on the gateway side: who listens to what, and their send queues.

Each connected client is a :class:`Subscriber` with its own send queue, bounded in
frames and bytes (one writer task per connection drains it), so a slow client only fills its own queue and
never stalls the rest; a client whose queue overflows is closed and resumes from its
last ``seq``. :class:`Hub` keeps each conversation's subscribers, the queue watchers
with the statuses each watches, and the signed-in agents; it is the
:class:`~handoff_server.conversations.sink.EventSink` the conversation service
publishes to, filtering events for visitors
(:func:`~handoff_server.conversations.projections.visitor_view`).

Never here: storing anything or deciding anything about a conversation.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from pydantic import BaseModel

from handoff_server.config import TYPING_EXPIRY_SECONDS
from handoff_server.conversations.projections import visitor_view
from handoff_server.protocol import (
    AgentInfo,
    ConversationStatus,
    Event,
    QueueItem,
    SAck,
    SEvent,
    SQueueItem,
    STyping,
    VisitorInfo,
)

__all__ = ["SEND_QUEUE_BYTES", "SEND_QUEUE_FRAMES", "Hub", "Subscriber"]

SEND_QUEUE_FRAMES = 2000
"""Live frames a client's send queue holds before the client counts as too slow."""

SEND_QUEUE_BYTES = 4 * 1024 * 1024
"""Default of ``server.send_queue_bytes``: memory (bytes) of the frames waiting for one
client before it counts as too slow."""


@dataclass(eq=False)
class Subscriber:
    """One connected client: frames for it go through ``push`` (live frames) or
    ``answer`` (the answer to its own request) into its send queue; the connection's
    writer takes them with :meth:`next_frame`.

    The queue is bounded in frames and in bytes (``max_bytes``, the memory of the queued
    JSON texts): a live frame that would go past either marks the client as too slow:
    ``on_overflow`` is called once; the gateway then closes it so it reconnects and
    resumes from its last ``seq``. An answer is queued whole whatever its size (it is
    the client's own request; it is bounded by the server's page sizes), and does not
    count against the live bound; :meth:`wait_for_room` lets the gateway read the
    client's next request only once the queue is below ``max_bytes`` again, so a client
    that asks and never reads holds at most ``max_bytes`` plus one answer.

    ``role``: visitor | agent. ``agent`` is set for agents. ``address``: the client's IP
    address (for per-address limits), empty when unknown.
    """

    role: Literal["visitor", "agent"]
    agent: AgentInfo | None = None
    queue: asyncio.Queue[tuple[str, bool]] = field(default_factory=asyncio.Queue)
    """Queued frames: (JSON text, whether it is part of an answer)."""
    max_bytes: int = SEND_QUEUE_BYTES
    address: str = ""
    on_overflow: Callable[[], None] | None = None
    close_connection: Callable[[int, str], None] | None = None
    """Close this client's connection (websocket close code, reason); set by the
    gateway, never blocks."""
    overflowed: bool = False
    queued_bytes: int = 0
    """Memory of every queued frame's text, in bytes."""
    answer_bytes: int = 0
    """The part of ``queued_bytes`` that belongs to answers."""
    live_frames: int = 0
    typing_in: dict[str, asyncio.TimerHandle] = field(default_factory=dict)
    """Conversations in which this client last said it is typing, each with the timer
    that ends it if the client never says it stopped."""
    last_ack: str | None = None
    """The ``client_msg_id`` of the last ``ack`` pushed: an error after it must not say
    "nothing was stored"."""
    _room: asyncio.Event = field(default_factory=asyncio.Event)

    def __post_init__(self) -> None:
        self._room.set()

    def push(self, frame: BaseModel) -> None:
        """Queue a live frame for sending; never blocks. Past the bounds the client is
        marked too slow (``on_overflow``) and the frame dropped."""
        if isinstance(frame, SAck):
            self.last_ack = frame.client_msg_id
        if not self.overflowed:
            self.push_text(frame.model_dump_json())

    def push_text(self, text: str) -> None:
        """As :meth:`push`, for a frame already serialized (one text for every client
        it goes to); not for an ``ack``."""
        if self.overflowed:
            return
        size = sys.getsizeof(text)
        live = self.queued_bytes - self.answer_bytes
        if self.live_frames >= SEND_QUEUE_FRAMES or live + size > self.max_bytes:
            self.overflowed = True
            if self.on_overflow is not None:
                self.on_overflow()
            return
        self.live_frames += 1
        self._put(text, size, answer=False)

    def answer(self, frames: Iterable[BaseModel]) -> None:
        """Queue the answer to the client's own request, whole; never blocks."""
        if self.overflowed:
            return
        for frame in frames:
            text = frame.model_dump_json()
            size = sys.getsizeof(text)
            self.answer_bytes += size
            self._put(text, size, answer=True)

    def _put(self, text: str, size: int, *, answer: bool) -> None:
        self.queued_bytes += size
        if self.queued_bytes > self.max_bytes:
            self._room.clear()
        self.queue.put_nowait((text, answer))

    async def next_frame(self) -> str:
        """The next frame to send (waits for one), its bytes counted as gone."""
        text, answer = await self.queue.get()
        size = sys.getsizeof(text)
        self.queued_bytes -= size
        if answer:
            self.answer_bytes -= size
        else:
            self.live_frames -= 1
        if self.queued_bytes <= self.max_bytes:
            self._room.set()
        return text

    async def wait_for_room(self) -> None:
        """Return once the queued frames take at most ``max_bytes``."""
        await self._room.wait()

    def closed(self) -> None:
        """The connection is gone: drop what is queued, refuse what comes, and wake
        whoever waits for room (they find the connection closed)."""
        self.overflowed = True
        while not self.queue.empty():
            self.queue.get_nowait()
        self.queued_bytes = self.answer_bytes = self.live_frames = 0
        self._room.set()


class Hub:
    """Who listens to what: each conversation's subscribers, the queue watchers with the
    statuses each watches, and the signed-in agents.

    ``typing_expiry`` (seconds) is how long one ``typing active=true`` holds: a client
    that says it is typing and then nothing (a stuck or closed tab, a lost frame) would
    otherwise show as typing forever.
    """

    def __init__(self, typing_expiry: float = TYPING_EXPIRY_SECONDS) -> None:
        self.typing_expiry = typing_expiry
        self.conversations: dict[str, set[Subscriber]] = {}
        self.queue_watchers: dict[Subscriber, frozenset[ConversationStatus]] = {}
        self.agents: set[Subscriber] = set()
        self.on_typing: Callable[[str, STyping], None] | None = None
        """Told every typing frame made here, once sent to the subscribers here (a node
        of several sends it on to the others: :mod:`handoff_server.cluster.live`)."""

    def add_agent(self, sub: Subscriber) -> None:
        """Count ``sub`` as a signed-in agent (until :meth:`drop`). Call it once their
        ``authenticated`` frame is queued: frames for agents (``waiting_work``) may follow
        at once, and must come after it."""
        self.agents.add(sub)

    def subscribe(self, conversation_id: str, sub: Subscriber) -> None:
        """Send ``sub`` the conversation's future events."""
        self.conversations.setdefault(conversation_id, set()).add(sub)

    def unsubscribe(self, conversation_id: str, sub: Subscriber) -> None:
        """Stop sending ``sub`` the conversation's events."""
        subs = self.conversations.get(conversation_id)
        if subs is not None:
            subs.discard(sub)
            if not subs:
                del self.conversations[conversation_id]

    def drop(self, sub: Subscriber) -> None:
        """Forget a disconnected client everywhere; where it was typing, tell the others
        it stopped."""
        for cid in list(sub.typing_in):
            self.stop_typing(cid, sub)
        for cid in [c for c, subs in self.conversations.items() if sub in subs]:
            self.unsubscribe(cid, sub)
        self.queue_watchers.pop(sub, None)
        self.agents.discard(sub)

    def forget(self, conversation_id: str) -> None:
        """The conversation was erased from the store: nobody is subscribed to it any
        more, and whoever was typing in it is no longer (their timers cancelled). Its
        visitor's connections are closed (1000, ``conversation erased``): kept open, the
        visitor's page went on showing the erased transcript, and their next message
        got ``not_found``. Their client resumes, is refused ``bad_resume_token`` and
        starts afresh (the web widget clears the transcript and says the conversation
        ended)."""
        for sub in self.conversations.pop(conversation_id, set()):
            timer = sub.typing_in.pop(conversation_id, None)
            if timer is not None:
                timer.cancel()
            if sub.role == "visitor" and sub.close_connection is not None:
                sub.close_connection(1000, "conversation erased")

    def publish_erased(self, conversation_id: str, at: datetime) -> None:
        """The conversation was erased from the store: send every queue watcher and
        every agent subscribed to it one ``queue_item`` with ``erased`` (its row holds the
        id alone; ``at``: ``updated_at``, UTC), so each agent's view drops the row and
        the conversation. Every watcher is told, whatever it watches: the row's last
        status is not known here. Call before :meth:`forget`."""
        item = QueueItem(
            conversation_id=conversation_id, status="resolved", visitor=VisitorInfo(), updated_at=at
        )
        text = _text(SQueueItem(item=item, erased=True))
        told = set(self.queue_watchers)
        told |= {s for s in self.conversations.get(conversation_id, ()) if s.role == "agent"}
        for sub in told:
            sub.push_text(text)

    def typing(self, conversation_id: str, sub: Subscriber, active: bool) -> None:
        """``sub`` started or stopped typing in the conversation: tell the others there
        (a visitor's typing goes to agents; an agent's to the visitor and the other agents).
        An ``active`` holds for ``typing_expiry`` seconds from the last one; then the
        others are told it stopped. Call from the event loop."""
        timer = sub.typing_in.pop(conversation_id, None)
        if timer is not None:
            timer.cancel()
        if active:
            sub.typing_in[conversation_id] = asyncio.get_running_loop().call_later(
                self.typing_expiry, self.stop_typing, conversation_id, sub
            )
        frame = STyping(
            conversation_id=conversation_id,
            role=sub.role,
            name=sub.agent.name if sub.agent else None,
            active=active,
        )
        self.send_typing(frame, exclude=sub)
        if self.on_typing is not None:
            self.on_typing(conversation_id, frame)

    def send_typing(self, frame: STyping, exclude: Subscriber | None = None) -> None:
        """Send a typing frame to whom it is for among the conversation's subscribers
        (but ``exclude``, the typist): a visitor's to the agents, an agent's to the
        visitor and the agents."""
        if frame.role == "agent":
            self._send_to(frame.conversation_id, frame, role="visitor")
        self._send_to(frame.conversation_id, frame, role="agent", exclude=exclude)

    def stop_typing(self, conversation_id: str, sub: Subscriber) -> None:
        """End ``sub``'s typing in the conversation if it had said it was typing (it sent
        its message, closed the conversation, disconnected or said nothing for
        ``typing_expiry`` seconds)."""
        if conversation_id in sub.typing_in:
            self.typing(conversation_id, sub, False)

    def publish(self, events: Sequence[Event], conversation_id: str) -> None:
        """Send events to the conversation's subscribers, filtered for visitors; each
        event is serialized once per audience (visitors, agents), not per client."""
        subs = list(self.conversations.get(conversation_id, ()))
        for ev in events:
            texts: dict[str, str | None] = {}
            for sub in subs:
                if sub.role not in texts:
                    view = visitor_view(ev) if sub.role == "visitor" else ev
                    texts[sub.role] = None if view is None else _text(SEvent(event=view))
                text = texts[sub.role]
                if text is not None:
                    sub.push_text(text)

    def publish_visitor(self, conversation_id: str, frame: BaseModel) -> None:
        """Send a frame written for the visitor (a wait estimate, a fallback offer) to the
        conversation's visitor connections."""
        self._send_to(conversation_id, frame, role="visitor")

    def publish_live(self, conversation_id: str, frame: BaseModel) -> None:
        """Send a transient frame (``ai_partial``) to every subscriber of the
        conversation, visitors and agents."""
        text = _text(frame)
        for sub in list(self.conversations.get(conversation_id, ())):
            sub.push_text(text)

    def watch_queue(self, sub: Subscriber, statuses: Sequence[ConversationStatus]) -> None:
        """From now on send ``sub`` the changes of conversations in ``statuses`` (replacing
        what it watched before)."""
        self.queue_watchers[sub] = frozenset(statuses)

    def publish_queue(self, item: QueueItem, previous: ConversationStatus) -> None:
        """Send a row change to the watchers it concerns: those watching its new status,
        and those watching its ``previous`` status, for whom it leaves the view."""
        text: str | None = None
        for sub, statuses in list(self.queue_watchers.items()):
            if item.status in statuses or previous in statuses:
                text = text or _text(SQueueItem(item=item))
                sub.push_text(text)

    def _send_to(
        self,
        conversation_id: str,
        frame: BaseModel,
        *,
        role: str,
        exclude: Subscriber | None = None,
    ) -> None:
        """Send a transient frame (typing) to the conversation's subscribers of ``role``."""
        text: str | None = None
        for sub in list(self.conversations.get(conversation_id, ())):
            if sub.role == role and sub is not exclude:
                text = text or _text(frame)
                sub.push_text(text)

    @property
    def agents_online(self) -> int:
        """Connected, authenticated agents and operators."""
        return len(self.agents)


def _text(frame: BaseModel) -> str:
    """A frame's JSON text, as :meth:`Subscriber.push` sends it."""
    return frame.model_dump_json()
