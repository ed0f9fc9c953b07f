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

__all__ = ["Bus", "InProcessBus", "NatsBus", "Notice"]

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


Handler = Callable[[Notice], Awaitable[None]]


class Bus(Protocol):
    """Rings other nodes."""

    node: str
    """This node's id (random per process)."""

    async def start(self, on_notice: Handler) -> None:
        """Connect and call ``on_notice`` for every other node's notice (events and
        queue notices alike)."""
        ...

    def ring(self, notice: Notice) -> None:
        """Send ``notice`` (never blocks; a lost one is caught up by the next)."""
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

    async def start(self, on_notice: Handler) -> None:
        """Nothing to connect."""

    def ring(self, notice: Notice) -> None:
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

    async def start(self, on_notice: Handler) -> None:
        """Connect and subscribe to every conversation's and the queue's subjects."""
        import nats

        self._nc = await nats.connect(
            self.url, connect_timeout=5, max_reconnect_attempts=-1, name=f"handoff-{self.node}"
        )

        async def handle(msg: Any) -> None:
            try:
                notice = Notice(**json.loads(msg.data))
            except (ValueError, TypeError):
                log.warning("ignoring a malformed notice on %s", msg.subject)
                return
            if notice.node != self.node:
                await on_notice(notice)

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
        task = asyncio.get_running_loop().create_task(
            self._publish(subject, json.dumps(asdict(notice)).encode())
        )
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
