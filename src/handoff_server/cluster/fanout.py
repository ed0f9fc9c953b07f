"""Fan-out across nodes: the :class:`~handoff_server.conversations.sink.EventSink` of a
node that shares its store with others.

What this node stores goes to its own subscribers at once (through the
:class:`~handoff_server.hub.Hub`), then a :class:`~.bus.Notice` rings the other nodes.
On another node's notice, if clients here follow the conversation, the events after
the last seq delivered here are read from the store and delivered, under this process's
part of the conversation lock (so a client attaching meanwhile gets each event once).
The last seq delivered is kept per followed conversation; a lost notice is caught up
by the next, or by :meth:`ClusterSink.catch_up` every ``catch_up_seconds``, which also
re-reads the shared queue for the queue notices lost (:mod:`.queue_sync`).

Frames that are not events (typing, ``wait_estimate``, ``fallback_offer``,
``ai_partial``) go to this node's clients and, through the :class:`~.live.LiveRelay`,
to the other nodes' (at most once; never stored). ``waiting_work`` is not relayed: each
node makes it for the agents' connections on it (:meth:`.WaitingRoom.offer_work`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Sequence

from pydantic import BaseModel

from handoff_server.cluster.bus import Bus, Notice
from handoff_server.cluster.live import LiveRelay
from handoff_server.cluster.locks import ConversationLocks
from handoff_server.cluster.queue_sync import QueueRows
from handoff_server.conversations.projections import queue_item, to_event
from handoff_server.hub import Hub
from handoff_server.protocol import ConversationStatus, Event, QueueItem
from handoff_server.store import AsyncStore

__all__ = ["ClusterSink"]

log = logging.getLogger(__name__)


class ClusterSink:
    """The hub, plus the doorbell to other nodes and the reader of their changes.

    ``hub``: this node's subscribers; ``store``: the shared store; ``bus``: the
    doorbell; ``locks``: the service's conversation locks."""

    def __init__(
        self,
        hub: Hub,
        store: AsyncStore,
        bus: Bus,
        locks: ConversationLocks,
        catch_up_seconds: float = 2.0,
    ) -> None:
        self.hub = hub
        self.store = store
        self.bus = bus
        self.locks = locks
        self.catch_up_seconds = catch_up_seconds
        self.delivered: dict[str, int] = {}
        """Followed conversation id → the last seq delivered to its clients here."""
        self._task: asyncio.Task[None] | None = None
        self._reads: set[asyncio.Task[None]] = set()
        self.on_queue: Callable[[QueueItem, ConversationStatus], None] | None = None
        """Shown every other node's queue row (routing: who holds what, what to offer)."""
        self.live = LiveRelay(hub, bus)
        self.rows = QueueRows(store, self._queue_caught_up)
        """The queue rows seen here, re-read every ``catch_up_seconds``."""

    async def start(self) -> None:
        """Connect the bus, remember the queue as it is (before routing reads it) and
        start the periodic catch-up."""
        await self.bus.start(self.on_notice, self.live.on_live)
        try:
            await self.rows.seed()
        except Exception:  # the first catch-up hands on every row instead
            log.exception("could not read the queue to catch it up later")
        self._task = asyncio.create_task(self._catch_up_loop())

    async def close(self) -> None:
        """Stop catching up and disconnect the bus."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self.live.close()
        await self.bus.close()

    # -- EventSink -------------------------------------------------------------------

    def publish(self, events: Sequence[Event], conversation_id: str) -> None:
        """Deliver here, then ring the other nodes. If other nodes' earlier events have
        not reached the clients here yet (their notice is on its way), all of them are
        read from the store in seq order instead, once the caller releases the lock."""
        if not events:
            return
        self.bus.ring(Notice(conversation_id, events[-1].seq, None, self.bus.node))
        after = self.delivered.get(conversation_id)
        if after is not None and events[0].seq > after + 1:
            task = asyncio.get_running_loop().create_task(
                self._read_from_store(conversation_id, None)
            )
            self._reads.add(task)
            task.add_done_callback(self._reads.discard)
            return
        self.hub.publish(events, conversation_id)
        self.attached(conversation_id, events[-1].seq)

    def publish_queue(self, item: QueueItem, previous: ConversationStatus) -> None:
        """Deliver the row here, then ring the other nodes' queue watchers."""
        self.rows.saw(item)
        self.hub.publish_queue(item, previous)
        self.bus.ring(Notice(item.conversation_id, 0, previous, self.bus.node))

    def publish_visitor(self, conversation_id: str, frame: BaseModel) -> None:
        """Frames for the visitor (``wait_estimate``, ``fallback_offer``) go to the
        visitor's connections here, then to the other nodes'."""
        self.hub.publish_visitor(conversation_id, frame)
        self.live.conversation_frame(conversation_id, frame)

    def publish_live(self, conversation_id: str, frame: BaseModel) -> None:
        """Transient frames (``ai_partial``: the AI's answer as it is written) go to the
        conversation's connections here, then to the other nodes'; the answer itself is
        an event."""
        self.hub.publish_live(conversation_id, frame)
        self.live.conversation_frame(conversation_id, frame)

    @property
    def agents_online(self) -> int:
        """Agents signed in on this node."""
        return self.hub.agents_online

    def attached(self, conversation_id: str, seq: int) -> None:
        """The conversation's events up to ``seq`` reached its clients here (called with
        the conversation's lock held)."""
        if self.hub.conversations.get(conversation_id):
            self.delivered[conversation_id] = max(seq, self.delivered.get(conversation_id, 0))

    # -- other nodes' changes --------------------------------------------------------

    async def on_notice(self, notice: Notice) -> None:
        """Another node stored a change: deliver it to the clients here that follow it."""
        try:
            if notice.previous is not None:
                await self._queue_row(notice.conversation_id, notice.previous)
            else:
                await self._read_from_store(notice.conversation_id, notice.seq)
        except Exception:
            log.exception("could not deliver %s's change here", notice.conversation_id)

    async def _queue_row(self, conversation_id: str, previous: str) -> None:
        if not self.hub.queue_watchers and self.on_queue is None:
            return
        db = self.store.store
        conv = await self.store.call(db.get_conversation, conversation_id)
        if conv is not None:
            item = queue_item(conv)
            self.rows.saw(item)
            self._queue_caught_up(item, previous)  # type: ignore[arg-type]

    def _queue_caught_up(self, item: QueueItem, previous: ConversationStatus) -> None:
        """Another node's queue row (by notice or catch-up): to the watchers and routing."""
        self.hub.publish_queue(item, previous)
        if self.on_queue is not None:
            self.on_queue(item, previous)

    async def _read_from_store(self, conversation_id: str, seq: int | None) -> None:
        if not self.hub.conversations.get(conversation_id):
            self.delivered.pop(conversation_id, None)
            return
        async with self.locks.local(conversation_id):
            after = self.delivered.get(conversation_id)
            if after is None or (seq is not None and seq <= after):
                return
            db = self.store.store
            stored = await self.store.call(db.events_after, conversation_id, after)
            if stored:
                self.hub.publish([to_event(se) for se in stored], conversation_id)
                self.delivered[conversation_id] = stored[-1].seq

    async def catch_up(self) -> None:
        """Read what a lost notice would have announced, for every followed conversation."""
        for conversation_id in list(self.delivered):
            await self._read_from_store(conversation_id, None)

    async def catch_up_queue(self) -> int:
        """Hand on the queue rows another node changed unannounced (lost queue notices);
        returns how many (:meth:`.QueueRows.catch_up`)."""
        if not self.hub.queue_watchers and self.on_queue is None:
            return 0
        return await self.rows.catch_up()

    async def _catch_up_loop(self) -> None:
        while True:
            await asyncio.sleep(self.catch_up_seconds)
            for step in (self.catch_up, self.catch_up_queue):
                try:
                    await step()
                except Exception:
                    log.exception("catch-up failed")
