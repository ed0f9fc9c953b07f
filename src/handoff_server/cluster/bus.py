"""The doorbell between nodes: after a node commits a conversation's events it rings
(a small :class:`Notice`); nodes whose clients follow that conversation read the events
from the store by seq (:mod:`.fanout`). A notice carries no event: one lost or repeated
never loses or doubles an event, it only delays or repeats a read.

:class:`InProcessBus` is the single-node bus (a node hears nothing from itself, so it
does nothing); :class:`NatsBus` publishes on NATS subjects
``handoff.conv.<conversation id>`` and ``handoff.queue``.
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass
from typing import Any, Protocol

__all__ = ["Bus", "InProcessBus", "Live", "NatsBus", "Notice"]

log = logging.getLogger(__name__)

CONV_SUBJECT = "handoff.conv"
QUEUE_SUBJECT = "handoff.queue"


@dataclass(frozen=True, slots=True)
class Notice:
    """``conversation_id`` changed: its events up to ``seq`` are stored (an events
    notice, ``previous`` is ``None``), or its queue row changed from status ``previous``
    (a queue notice); ``node`` is the sender's id."""

    conversation_id: str
    seq: int
    previous: str | None
    node: str


@dataclass(frozen=True, slots=True)
class Live:
    """A frame that is not an event, made on node ``node`` for the clients of the other
    nodes following ``conversation_id``. ``frame`` is the frame as JSON (a dict); the
    receiving node parses it and sends it to whom the frame's type is for."""

    frame: dict[str, Any]
    node: str
    conversation_id: str | None = None


Handler = Callable[[Notice], Awaitable[None]]
LiveHandler = Callable[[Live], Awaitable[None]]


class Bus(Protocol):
    """Rings other nodes."""

    node: str
    """This node's id (random per process)."""

    async def start(self, on_notice: Handler, on_live: LiveHandler | None = None) -> None:
        """Connect and call ``on_notice`` for every other node's notice (events and
        queue notices alike), and ``on_live`` for every other node's :class:`Live`
        frame (none when ``None``)."""
        ...

    def ring(self, notice: Notice) -> None:
        """Send ``notice`` (never blocks; a lost one is caught up by the next)."""
        ...

    def shout(self, live: Live) -> None:
        """Send ``live`` to the other nodes (never blocks; at most once)."""
        ...

    @property
    def ready(self) -> bool:
        """Whether the bus is connected."""
        ...

    async def close(self) -> None:
        """Disconnect."""
        ...


class InProcessBus:
    """One node: nobody else to ring."""

    def __init__(self) -> None:
        self.node = uuid.uuid4().hex[:12]

    async def start(self, on_notice: Handler, on_live: LiveHandler | None = None) -> None:
        """Nothing to connect."""

    def ring(self, notice: Notice) -> None:
        """Nobody to tell."""

    def shout(self, live: Live) -> None:
        """Nobody to tell."""

    @property
    def ready(self) -> bool:
        """Always."""
        return True

    async def close(self) -> None:
        """Nothing to close."""


class NatsBus:
    """Notices over NATS core pub/sub at ``url`` (``nats://host:port``). Raises
    ``nats`` errors (``NoServersError``) when the server cannot be reached on start;
    later it reconnects by itself, and a notice sent meanwhile is dropped (the next
    notice of the conversation makes the readers catch up)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.node = uuid.uuid4().hex[:12]
        self._nc: Any = None
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self, on_notice: Handler, on_live: LiveHandler | None = None) -> None:
        """Connect and subscribe to every conversation's and the queue's subjects. One subscription takes a conversation's notices and live frames, so
        they are handled one after the other in the order they were sent."""
        import nats

        self._nc = await nats.connect(
            self.url, connect_timeout=5, max_reconnect_attempts=-1, name=f"handoff-{self.node}"
        )

        async def handle(msg: Any) -> None:
            try:
                data = json.loads(msg.data)
                message = Live(**data) if "frame" in data else Notice(**data)
            except (ValueError, TypeError):
                log.warning("ignoring a malformed notice on %s", msg.subject)
                return
            if message.node == self.node:
                return
            if isinstance(message, Notice):
                await on_notice(message)
            elif on_live is not None and isinstance(message.frame, dict):
                await on_live(message)

        await self._nc.subscribe(f"{CONV_SUBJECT}.*", cb=handle)
        await self._nc.subscribe(QUEUE_SUBJECT, cb=handle)

    def ring(self, notice: Notice) -> None:
        """Publish ``notice``: an events notice on the conversation's subject, a queue
        notice on the queue's."""
        if self._nc is None or not self._nc.is_connected:
            return
        subject = (
            f"{CONV_SUBJECT}.{notice.conversation_id}" if notice.previous is None else QUEUE_SUBJECT
        )
        self._send(subject, asdict(notice))

    def shout(self, live: Live) -> None:
        """Publish ``live`` on its conversation's subject (behind its notices)."""
        if self._nc is None or not self._nc.is_connected or live.conversation_id is None:
            return
        self._send(f"{CONV_SUBJECT}.{live.conversation_id}", asdict(live))

    def _send(self, subject: str, message: dict[str, Any]) -> None:
        # One task per message, started in call order: asyncio runs them in that order
        # and the client's write buffer keeps it, so the subject's messages arrive in
        # the order they were sent.
        data = json.dumps(message, default=str).encode()
        task = asyncio.get_running_loop().create_task(self._publish(subject, data))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _publish(self, subject: str, data: bytes) -> None:
        try:
            await self._nc.publish(subject, data)
        except Exception as exc:  # noqa: BLE001 - a lost notice is caught up later
            log.warning("notice not sent: %s", exc)

    @property
    def ready(self) -> bool:
        """Whether the NATS connection is up."""
        return self._nc is not None and bool(self._nc.is_connected)

    async def close(self) -> None:
        """Flush and close the connection."""
        if self._nc is not None:
            await self._nc.drain()
