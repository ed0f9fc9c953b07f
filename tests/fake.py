"""An in-memory stand-in for the server, for snapshot tests, benchmarks and screenshots.

It lives with the tests (nothing in ``src`` uses it). It speaks the same frames as the
real server (``handoff_server.protocol`` models) for the parts the agent app uses — ``subscribe_queue`` (with its ``statuses``), ``open``, the
actions and ``typing`` —
from fixture data, so pictures and timings do not depend on the AI, the store or the
network. Behavioural tests use the real server (``tests/tui/test_tui_pilot.py``).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

from pydantic import BaseModel

from handoff_server.protocol import (
    AAnswerOffline,
    ACallbackDone,
    AClaim,
    AgentInfo,
    AHandback,
    ANote,
    AOpen,
    ARelease,
    AReply,
    AResolve,
    ASubscribeQueue,
    Event,
    HandoffPacket,
    QueueItem,
    SAck,
    SAuthenticated,
    SConversation,
    SError,
    SEvent,
    SQueue,
    SQueueItem,
    STyping,
    parse_event,
)

__all__ = ["FakeClient", "FakeServer"]

_CLOSED = object()


class FakeConnection:
    """One connection to a :class:`FakeServer`."""

    def __init__(self, server: FakeServer) -> None:
        self.server = server
        self.inbox: asyncio.Queue[Any] = asyncio.Queue()
        self.subscribed: set[str] = set()
        self.queue_statuses: frozenset[str] = frozenset()
        """Statuses of the last ``subscribe_queue`` (empty: not subscribed)."""
        self.closed = False

    async def send(self, frame: BaseModel) -> None:
        """Handle one agent frame the way the server would."""
        if self.closed:
            raise ConnectionError("fake connection closed")
        self.server.received.append(frame)
        await self.server.handle(self, frame)

    async def frames(self) -> AsyncIterator[Any]:
        """Server frames until :meth:`FakeServer.drop` or :meth:`close`."""
        while True:
            frame = await self.inbox.get()
            if frame is _CLOSED:
                return
            yield frame

    def push(self, frame: BaseModel) -> None:
        """Deliver a server frame to this connection."""
        if not self.closed:
            self.inbox.put_nowait(frame)

    async def close(self) -> None:
        """Close from the client side."""
        self.closed = True
        self.inbox.put_nowait(_CLOSED)


class FakeServer:
    """Fixture queue and conversations, answering the agent app's frames.

    ``hold_acks``: leave replies unacknowledged (a reply stays "sending" on screen).
    ``up``: when False, :meth:`FakeClient.connect` raises ``ConnectionRefusedError``.
    """

    def __init__(
        self,
        agent: AgentInfo,
        queue: list[QueueItem] | None = None,
        packets: list[HandoffPacket] | None = None,
        *,
        now: datetime,
        hold_acks: bool = False,
    ) -> None:
        self.agent = agent
        self.queue: dict[str, QueueItem] = {q.conversation_id: q for q in queue or []}
        self.packets: dict[str, HandoffPacket] = {p.conversation_id: p for p in packets or []}
        self.events: dict[str, list[Event]] = {
            p.conversation_id: list(p.transcript) for p in packets or []
        }
        self.now = now
        self.hold_acks = hold_acks
        self.up = True
        self.connections: list[FakeConnection] = []
        self.received: list[BaseModel] = []

    # ----------------------------------------------------------------- driving it from tests

    def drop(self, *, stay_down: bool = True) -> None:
        """Cut every connection (and refuse new ones while ``stay_down``)."""
        self.up = not stay_down
        for conn in self.connections:
            conn.closed = True
            conn.inbox.put_nowait(_CLOSED)
        self.connections.clear()

    def upsert(self, item: QueueItem) -> None:
        """Change a queue row and tell the subscribers whose set it is in or leaves."""
        old = self.queue.get(item.conversation_id)
        self.queue[item.conversation_id] = item
        for conn in self.connections:
            watched = conn.queue_statuses
            if item.status in watched or (old is not None and old.status in watched):
                conn.push(SQueueItem(item=item))

    def append(self, conversation_id: str, kind: str, actor: str, **data: Any) -> Event:
        """Store a new event and send it to connections that opened the conversation."""
        events = self.events.setdefault(conversation_id, [])
        event = parse_event(
            {
                "conversation_id": conversation_id,
                "seq": len(events) + 1,
                "kind": kind,
                "at": self.now,
                "actor": actor,
                "data": data,
            }
        )
        events.append(event)
        for conn in self.connections:
            if conversation_id in conn.subscribed:
                conn.push(SEvent(event=event))
        return event

    def typing(
        self, conversation_id: str, role: str, active: bool, name: str | None = None
    ) -> None:
        """Tell subscribers someone is typing."""
        for conn in self.connections:
            if conversation_id in conn.subscribed:
                conn.push(
                    STyping(conversation_id=conversation_id, role=role, name=name, active=active)  # type: ignore[arg-type]
                )

    # ----------------------------------------------------------------- the protocol

    async def handle(self, conn: FakeConnection, frame: BaseModel) -> None:
        """Answer one frame."""
        if isinstance(frame, ASubscribeQueue):
            conn.queue_statuses = frozenset(frame.statuses)
            conn.push(SQueue(items=[q for q in self.queue.values() if q.status in frame.statuses]))
        elif isinstance(frame, AOpen):
            packet = self.packets.get(frame.conversation_id)
            if packet is None:
                conn.push(
                    SError(
                        code="not_found",
                        detail="no such conversation",
                        conversation_id=frame.conversation_id,
                    )
                )
                return
            events = self.events.get(frame.conversation_id, [])
            packet = packet.model_copy(
                update={
                    "transcript": [e for e in events if e.seq > frame.last_seq],
                    "last_seq": len(events),
                }
            )
            if frame.subscribe:
                conn.subscribed.add(frame.conversation_id)
            conn.push(SConversation(packet=packet))
        elif isinstance(
            frame,
            (AClaim, AReply, ANote, AResolve, ARelease, AHandback, ACallbackDone, AAnswerOffline),
        ):
            if self.hold_acks and isinstance(frame, AReply):
                return
            kind = {
                AClaim: "claimed",
                AReply: "agent_message",
                ANote: "note",
                AResolve: "resolved",
                ARelease: "released",
                AHandback: "handed_back",
                ACallbackDone: "callback_done",
                AAnswerOffline: "offline_reply",
            }[type(frame)]
            text = getattr(frame, "text", None)
            agent = self.agent.model_dump()
            event = self.append(frame.conversation_id, kind, "agent", agent=agent, text=text)
            conn.push(
                SAck(
                    client_msg_id=frame.client_msg_id,
                    conversation_id=frame.conversation_id,
                    seq=event.seq,
                )
            )


class FakeClient:
    """Connects the app to a :class:`FakeServer`."""

    def __init__(self, server: FakeServer) -> None:
        self.server = server
        self.url = "ws://fake.invalid:8765"
        self.attempts = 0

    async def connect(self) -> FakeConnection:
        """A new connection, already authenticated; ``ConnectionRefusedError`` when down."""
        self.attempts += 1
        if not self.server.up:
            raise ConnectionRefusedError(111, "Connection refused")
        conn = FakeConnection(self.server)
        self.server.connections.append(conn)
        conn.push(SAuthenticated(agent=self.server.agent))
        return conn
