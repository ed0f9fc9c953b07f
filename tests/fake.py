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
    AAccept,
    AAnswerOffline,
    ACallbackDone,
    AClaim,
    ADecline,
    AgentInfo,
    AgentStatus,
    AHandback,
    ANote,
    AOpen,
    APresence,
    ARelease,
    AReply,
    AResolve,
    ASubscribeQueue,
    ATransfer,
    Event,
    HandoffPacket,
    QueueItem,
    SAck,
    SAgentStatus,
    SAiPartial,
    SAuthenticated,
    SConversation,
    SError,
    SEvent,
    SOffer,
    SOfferEnded,
    SQueue,
    SQueueItem,
    SStaff,
    STyping,
    parse_event,
)
from handoff_server.protocol_operator import SKbEntryCreated, SPolicy, SPolicyValidation

__all__ = ["FakeClient", "FakeDesk", "FakeServer"]

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
    ``staff``: the roster answered to ``presence`` (``None``: ``presence`` goes
    unanswered, as the pictures taken before presence existed expect).
    """

    def __init__(
        self,
        agent: AgentInfo,
        queue: list[QueueItem] | None = None,
        packets: list[HandoffPacket] | None = None,
        *,
        now: datetime,
        hold_acks: bool = False,
        staff: list[AgentStatus] | None = None,
    ) -> None:
        self.agent = agent
        self.staff = {a.id: a for a in staff} if staff is not None else None
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
        self.desk: FakeDesk | None = None
        """The operator frames' answers (``None``: this server ignores operator frames)."""

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

    def partial(self, conversation_id: str, text: str, done: bool = False) -> None:
        """Send subscribers the AI's text so far (``ai_partial``); ``done`` ends it."""
        frame = SAiPartial(
            conversation_id=conversation_id,
            turn_id="turn-1",
            text="" if done else text,
            done=done,
            outcome="withdrawn" if done else None,
        )
        for conn in self.connections:
            if conversation_id in conn.subscribed:
                conn.push(frame)

    def offer(self, item: QueueItem, expires_at: datetime, timeout: float = 30.0) -> None:
        """Offer ``item`` to the agent (push)."""
        for conn in self.connections:
            conn.push(SOffer(item=item, expires_at=expires_at, timeout_seconds=timeout))

    def _presence(self, conn: FakeConnection, frame: APresence) -> None:
        if self.staff is None:
            return
        me = self.staff[self.agent.id].model_copy(
            update={"status": frame.status, "connected": True}
        )
        self.staff[me.id] = me
        conn.push(SStaff(agents=list(self.staff.values())))
        for other in self.connections:
            if other is not conn:
                other.push(SAgentStatus(agent=me))

    def _act(self, frame: BaseModel) -> tuple[str, str, dict[str, Any]]:
        """The event an action stores: (conversation id, kind, data)."""
        agent = self.agent.model_dump()
        if isinstance(frame, AAccept):
            return frame.conversation_id, "claimed", {"agent": agent, "via": "offer"}
        if isinstance(frame, ATransfer):
            to = self.staff.get(frame.to_agent or "") if self.staff else None
            to_agent = AgentInfo(id=to.id, name=to.name, role=to.role).model_dump() if to else None
            data = {"agent": agent, "to_agent": to_agent, "to_team": frame.to_team}
            return frame.conversation_id, "transferred", {**data, "note": frame.note}
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
        data = {"agent": agent, "text": getattr(frame, "text", None)}
        if isinstance(frame, AResolve):
            chosen = {"resolution": frame.resolution, "ai_verdict": frame.ai_verdict}
            data.update({k: v for k, v in chosen.items() if v is not None})
        return frame.conversation_id, kind, data

    # ----------------------------------------------------------------- the protocol

    async def handle(self, conn: FakeConnection, frame: BaseModel) -> None:
        """Answer one frame."""
        if self.desk is not None and getattr(frame, "request_id", None) is not None:
            self.desk.handle(self, conn, frame)
        elif isinstance(frame, ASubscribeQueue):
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
        elif isinstance(frame, APresence):
            self._presence(conn, frame)
        elif isinstance(frame, ADecline):
            conn.push(SOfferEnded(conversation_id=frame.conversation_id, reason="declined"))
        elif isinstance(
            frame,
            (
                AClaim,
                AReply,
                ANote,
                AResolve,
                ARelease,
                AHandback,
                AAccept,
                ATransfer,
                ACallbackDone,
                AAnswerOffline,
            ),
        ):
            if self.hold_acks and isinstance(frame, AReply):
                return
            cid, kind, data = self._act(frame)
            event = self.append(cid, kind, "agent", **data)
            conn.push(
                SAck(
                    client_msg_id=frame.client_msg_id,
                    conversation_id=frame.conversation_id,
                    seq=event.seq,
                )
            )


class FakeDesk:
    """Fixed answers to the operator frames (``tests/operator_fixtures.py`` builds them):
    the policy in force, its history and the reports. ``validate(body)`` returns the
    problems of a policy body; an apply with a stale ``base_version`` is refused with
    ``conflict``; a valid apply or rollback becomes the next version, pushed to every
    connection. ``hold``: frame types left unanswered (a report "on its way")."""

    def __init__(self, policy: SPolicy, validate, **reports: BaseModel) -> None:
        self.policy = policy
        self.validate = validate
        self.reports = reports
        self.hold: set[str] = set()

    def handle(self, server: FakeServer, conn: FakeConnection, frame: Any) -> None:
        """Answer one operator frame on ``conn``."""
        rid = frame.request_id
        kind = frame.type
        if kind in self.hold:
            return
        if kind == "policy_get":
            conn.push(self.policy.model_copy(update={"request_id": rid}))
        elif kind == "policy_validate":
            problems = self.validate(frame.policy)
            conn.push(SPolicyValidation(ok=not problems, problems=problems, request_id=rid))
        elif kind in ("policy_apply", "policy_rollback"):
            self._apply(server, conn, frame)
        elif kind in ("policy_history", "what_if", "risk_coverage", "analytics", "knowledge_gaps"):
            conn.push(self.reports[kind].model_copy(update={"request_id": rid}))
        elif kind == "kb_entry_create":
            conn.push(
                SKbEntryCreated(
                    client_msg_id=frame.client_msg_id, entry_id=frame.entry.id,
                    path=f"{frame.entry.id}.md", entries=42, request_id=rid,
                )
            )  # fmt: skip

    def _apply(self, server: FakeServer, conn: FakeConnection, frame: Any) -> None:
        rid = frame.request_id
        if frame.base_version != self.policy.version:
            conn.push(SError(code="conflict", detail="the policy changed", request_id=rid))
            return
        body = frame.policy if frame.type == "policy_apply" else self.policy.policy
        problems = self.validate(body)
        if problems:
            conn.push(SPolicyValidation(ok=False, problems=problems, request_id=rid))
            return
        self.policy = SPolicy(
            version=self.policy.version + 1, author=server.agent.name, created_at=server.now,
            policy=body,
        )  # fmt: skip
        conn.push(self.policy.model_copy(update={"request_id": rid}))
        for other in server.connections:
            if other is not conn:
                other.push(self.policy)


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
