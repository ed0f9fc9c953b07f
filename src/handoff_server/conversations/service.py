"""The conversation service: it orchestrates, it does not decide.

Every change goes the same way: take the conversation's lock → load it → let the
lifecycle (:mod:`.lifecycle`), the AI turn (:mod:`.turn`) and routing decide the change
(:mod:`.changes`) → store its events in one transaction → acknowledge, then publish to
the :class:`~handoff_server.conversations.sink.EventSink`.

Rules kept here:

- One writer per conversation: clients see events in ``seq`` order, no gap, no repeat.
- A client frame's ``client_msg_id`` is stored with the event it caused; a retried frame
  is acknowledged again with the same ``seq`` and changes nothing.
- After a handoff the AI says nothing until the conversation is handed back (or a
  resolved conversation is reopened by the visitor).
- Rejected input is checked before any write: nothing is stored for it.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import secrets
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import datetime
from typing import TYPE_CHECKING, Any

from handoff_server.ai.base import Answerer
from handoff_server.cluster.locks import ConversationLocks, LocalLocks
from handoff_server.config import WaitingSettings
from handoff_server.conversations import changes, lifecycle
from handoff_server.conversations.ai_turns import AiTurns
from handoff_server.conversations.batching import AnswerBatcher
from handoff_server.conversations.inline import InlineRunner
from handoff_server.conversations.interrupted import InterruptedTurns
from handoff_server.conversations.memory import ConversationMemory
from handoff_server.conversations.projections import (
    assigned_agent,
    build_packet,
    queue_item,
    to_event,
    visitor_view,
)
from handoff_server.conversations.reads import ConversationReads
from handoff_server.conversations.routed import RoutedChanges, ack_duplicate
from handoff_server.conversations.sink import Ack, Attach, EventSink
from handoff_server.conversations.turn import accepts_offer
from handoff_server.errors import NotFound, WireError
from handoff_server.escalation import Policy
from handoff_server.policies import PolicyBook
from handoff_server.protocol import (
    AAnswerOffline,
    ACallbackDone,
    AgentInfo,
    ConversationStartedData,
    Event,
    HandoffPacket,
    SAck,
    VisitorInfo,
)
from handoff_server.routing import Router, Staffing, WaitingRoom, fallbacks
from handoff_server.store import (
    AsyncStore,
    AtCapacity,
    ConversationRecord,
    NewEvent,
    OutboxRow,
    StoredEvent,
    hash_token,
    utcnow,
)
from handoff_server.webhooks import announced_as, resolved_data
from handoff_server.webhooks.bodies import last_visitor_text

if TYPE_CHECKING:
    from handoff_server.webhooks import Outbox

__all__ = ["ConversationService", "finish_task"]

log = logging.getLogger(__name__)


class ConversationService(ConversationReads, RoutedChanges, AiTurns, InterruptedTurns):
    """The conversation engine: visitor turns, the AI, escalation and agent actions;
    routing's changes through :class:`~.routed.RoutedChanges`.

    ``store``: an :class:`~handoff_server.store.AsyncStore`. ``answerer``: the AI (built
    by :func:`~handoff_server.ai.make_answerer`, courtesy replies included). ``sink``:
    where stored changes are published. ``default_policy``: stored as version 1 if the
    store has none. ``ai_timeout``: seconds the answerer may take per turn before the
    turn escalates with trigger ``ai_error``. ``clock``: the time of changes (UTC).
    ``staffing`` and ``waiting``: who can come, and the ``[waiting]`` settings, for the
    :class:`~handoff_server.routing.WaitingRoom` (estimates, gate, fallbacks).
    ``locks``: one writer per conversation (:mod:`~handoff_server.cluster.locks`; default:
    this process's locks, for a single node).

    Methods raise :class:`~handoff_server.errors.WireError` subclasses (``not_found``,
    ``invalid_state``, ``conflict``, ``bad_resume_token``) before writing anything.
    """

    def __init__(
        self,
        store: AsyncStore,
        answerer: Answerer,
        sink: EventSink,
        *,
        default_policy: Policy,
        ai_timeout: float = 10.0,
        clock: Callable[[], datetime] = utcnow,
        outbox: Outbox | None = None,
        staffing: Staffing,
        waiting: WaitingSettings | None = None,
        locks: ConversationLocks | None = None,
    ) -> None:
        self._store = store
        self._db = store.store
        self.answerer = answerer
        self.sink = sink
        self.ai_timeout = ai_timeout
        self.clock = clock
        self.outbox = outbox
        self.policies = PolicyBook(store, default_policy)
        self.router = Router(lambda: staffing.online_agents(None))
        self.locks: ConversationLocks = locks or LocalLocks()
        self.memory = ConversationMemory(store, shared=self.locks.across_nodes)
        self.runner = InlineRunner()
        self.batcher = AnswerBatcher(self.runner)
        self.waiting = WaitingRoom(
            self, store, self.policies, sink, staffing, waiting or WaitingSettings(), clock
        )

    # ------------------------------------------------------------------ setup

    async def initialise(self) -> None:
        """Store the default policy if none is stored, load the current one, and finish AI
        turns a crash interrupted (:meth:`~.interrupted.InterruptedTurns.finish_interrupted_turns`);
        start the waiting room."""
        await self.policies.seed()
        await self.waiting.start()
        await self.finish_interrupted_turns()

    # ------------------------------------------------------------------ visitors

    async def threshold(self) -> float:
        """The confidence threshold (0–1) of the policy in force now."""
        return (await self.policies.current()).threshold

    async def start(
        self, visitor: VisitorInfo, attach: Attach
    ) -> tuple[ConversationRecord, str, list[Event]]:
        """Open a conversation and ``attach`` the caller to it; returns it, its resume
        token (shown once) and its first event (``conversation_started``, seq 1) as the
        visitor may see it."""
        token = secrets.token_urlsafe(24)
        now = self.clock()
        conv = ConversationRecord(
            id=uuid.uuid4().hex,
            status="ai",
            resume_token_hash=hash_token(token),
            created_at=now,
            updated_at=now,
            visitor=visitor.model_dump(mode="json"),
            page_url=visitor.page_url,
        )
        started = ConversationStartedData(visitor=visitor)
        first = NewEvent(kind="conversation_started", data=started.model_dump(mode="json"), at=now)
        conv, _, wire = await self.memory.created(conv, [first])
        attach(conv.id)
        self._attached(conv.id, conv.last_seq)
        seen = (visitor_view(ev) for ev in wire)
        return conv, token, [ev for ev in seen if ev is not None]

    async def resume(
        self, conversation_id: str, resume_token: str, last_seq: int, attach: Attach
    ) -> tuple[ConversationRecord, list[Event]]:
        """Check the resume token, then ``attach`` the caller and return the
        visitor-visible events after ``last_seq``, atomically: none is missed or sent twice.

        Raises ``WireError(code="bad_resume_token")`` for an unknown conversation and
        for a wrong token alike, so ids cannot be probed.
        """
        bad = WireError("unknown conversation or wrong resume token", code="bad_resume_token")
        try:
            conv = await self.memory.peek(conversation_id)
        except NotFound:
            raise bad from None
        if not hmac.compare_digest(conv.resume_token_hash, hash_token(resume_token)):
            raise bad
        async with self._lock(conversation_id):
            entry = await self.memory.held(conversation_id)
            conv = entry.record
            seen = [to_event(se) for se in entry.stored_after(last_seq) if se.visible_to_visitor]
            attach(conversation_id)
            self._attached(conversation_id, conv.last_seq)
        events = [v for v in (visitor_view(ev) for ev in seen) if v is not None]
        return conv, events

    async def visitor_message(
        self, conversation_id: str, client_msg_id: str, text: str, ack: Ack | None
    ) -> None:
        """A visitor turn: store the message, acknowledge it, then let the AI answer (or
        escalate) if the conversation is with the AI. A resolved conversation reopens."""
        await self._visitor_turn(conversation_id, client_msg_id, text, ack, "message")

    async def request_human(
        self, conversation_id: str, client_msg_id: str, text: str | None, ack: Ack | None
    ) -> None:
        """The visitor pressed "talk to a person": escalate now (trigger
        ``human_request``), storing ``text`` (or a stock sentence) as the visitor's message.

        Raises ``InvalidState`` when a person already has (or was asked for) the
        conversation."""
        text = text or "I'd like to talk to a person."
        await self._visitor_turn(conversation_id, client_msg_id, text, ack, "request_human")

    async def _visitor_turn(
        self,
        conversation_id: str,
        client_msg_id: str,
        text: str,
        ack: Ack | None,
        action: lifecycle.VisitorAction,
    ) -> None:
        async with self._lock(conversation_id):
            if await ack_duplicate(self.memory, conversation_id, "visitor", client_msg_id, ack):
                return
            entry = await self.memory.held(conversation_id)
            conv = entry.record
            move = lifecycle.visitor_transition(action, conv.status)
            requested = action == "request_human" or (
                conv.status == "ai" and accepts_offer(text, entry.offered)
            )
            change = changes.visitor_change(
                conv, move.to, text, client_msg_id, requested, self.clock()
            )
            pressed = action == "request_human"
            if self._answers_first(conv, change):
                await self._answer_with_message(
                    conv, change, text, requested=requested, pressed=pressed, ack=ack
                )
                return
            # The policy's version is read in the same store batch as the append: the
            # turn uses the version in force when its message was stored.
            (conv, wire), policy = await asyncio.gather(
                self._append(conv, change), self.policies.current()
            )
            if ack is not None:
                ack(SAck(client_msg_id=client_msg_id, conversation_id=conv.id, seq=wire[-1].seq))
            if conv.status == "ai" or fallbacks.ai_continues(conv):
                await self._ai_turn(
                    conv, text, explicit_human=requested, pressed=pressed, policy=policy
                )

    # ------------------------------------------------------------------ agents

    async def agent_action(
        self,
        agent: AgentInfo,
        action: lifecycle.AgentAction,
        conversation_id: str,
        client_msg_id: str,
        text: str | None,
        ack: Ack | None,
        details: dict[str, Any] | None = None,
    ) -> None:
        """Apply an agent's ``claim`` / ``reply`` / ``note`` / ``resolve`` / ``release`` /
        ``handback`` (see :mod:`.lifecycle`) and acknowledge it. ``details``: more fields
        of the event's data (see :func:`.changes.agent_change`).

        Raises ``NotFound``, ``InvalidState`` (wrong status; a handback or resolve that
        would drop a call back or offline message nobody holds, see
        :func:`~handoff_server.routing.fallbacks.check_task_kept`), ``Conflict`` (assigned to
        someone else), ``at_capacity`` (a claim by an agent at their capacity, see
        :meth:`~.routed.RoutedChanges.seat`) before storing anything.
        """
        async with self._lock(conversation_id):
            if await ack_duplicate(self.memory, conversation_id, agent.id, client_msg_id, ack):
                return
            conv = await self._get(conversation_id)
            move = lifecycle.agent_transition(action, conv.status, assigned_agent(conv), agent)
            fallbacks.check_task_kept(conv, action, agent)
            change = changes.agent_change(
                action, agent, text, move.to, client_msg_id, self.clock(), conv.queued_at, details
            )
            with self.seat(agent, move.to) as capacity:
                if capacity is not None:
                    change.seat = (agent.id, capacity)
                conv, wire = await self._append(conv, change)
            if ack is not None:
                ack(SAck(client_msg_id=client_msg_id, conversation_id=conv.id, seq=wire[-1].seq))

    # ------------------------------------------------------------------ plumbing

    @asynccontextmanager
    async def _lock(self, conversation_id: str) -> AsyncIterator[None]:
        """Hold the conversation's lock (across nodes with a shared store), with what
        :attr:`memory` holds of it brought up to what is stored (another node may have
        changed it: :meth:`~.memory.ConversationMemory.refresh`)."""
        async with self.locks.hold(conversation_id):
            await self.memory.refresh(conversation_id)
            yield

    def _attached(self, conversation_id: str, seq: int) -> None:
        """Tell a sink that fans out across nodes what its new subscriber has seen."""
        attached = getattr(self.sink, "attached", None)
        if attached is not None:
            attached(conversation_id, seq)

    async def _get(self, conversation_id: str) -> ConversationRecord:
        """The conversation as stored; the caller holds its lock. Raises ``NotFound``."""
        return (await self.memory.held(conversation_id)).record

    async def _append(
        self,
        conv: ConversationRecord,
        change: changes.Change,
        ack: Callable[[Event], None] | None = None,
    ) -> tuple[ConversationRecord, list[Event]]:
        """Store a change, then publish it. The caller holds the lock. ``ack``: called
        with the change's first event once it is stored and published, before the
        others are published (the visitor's message stored with the AI's answer)."""
        previous = conv.status
        webhooks = await webhook_rows(self.memory, self.outbox, conv, change)
        try:
            conv, _, wire = await self.memory.append(
                conv, change.events, change.updates, webhooks, change.turns, change.seat
            )
        except AtCapacity as exc:
            raise WireError(str(exc), code="at_capacity") from None
        if webhooks and self.outbox is not None:
            self.outbox.kick()
        first = 1 if ack is not None else len(wire)
        self.sink.publish(wire[:first], conv.id)
        if ack is not None and wire:
            ack(wire[0])
            self.sink.publish(wire[first:], conv.id)
        self.sink.publish_queue(queue_item(conv), previous)
        self.waiting.changed(previous, conv)
        return conv, wire


async def finish_task(
    service: ConversationService,
    agent: AgentInfo,
    frame: ACallbackDone | AAnswerOffline,
    text: str | None,
    ack: Ack,
) -> None:
    """Mark a call back done or answer an offline message, resolving the conversation
    (see :func:`~handoff_server.routing.fallbacks.task_change`). Raises ``InvalidState``
    / ``Conflict`` as ``resolve`` would, or when the visitor asked for no such task."""

    def compose(conv: ConversationRecord) -> fallbacks.Decided:
        lifecycle.agent_transition("resolve", conv.status, assigned_agent(conv), agent)
        return fallbacks.task_change(conv, agent, frame, text, service.clock())

    cmid = frame.client_msg_id
    await service.apply(
        frame.conversation_id, compose, sender=agent.id, client_msg_id=cmid, ack=ack
    )


_TASK_KINDS = frozenset({"callback_requested", "offline_message", "offline_reply"})
"""Events whose webhooks carry their own data (the visitor's contact, the message, the
reply), beside the packet where it applies."""


async def webhook_rows(
    memory: ConversationMemory,
    outbox: Outbox | None,
    conv: ConversationRecord,
    change: changes.Change,
) -> list[OutboxRow]:
    """The webhook outbox rows announcing ``change``'s events (stored with them): each
    event's own, and ``conversation.resolved`` for every event that resolves the
    conversation (:func:`~handoff_server.webhooks.announced_as`). The caller holds the
    conversation's lock, so the events take the seqs after ``conv.last_seq``."""
    rows: list[OutboxRow] = []
    for offset, ev in enumerate(change.events, start=1):
        kinds = [k for k in announced_as(ev.kind) if outbox is not None and outbox.wants(k)]
        if outbox is None or not kinds:
            continue
        for kind, event_id in zip(kinds, outbox.new_ids(len(kinds)), strict=True):
            data = await _webhook_data(memory, outbox, conv, change, offset, kind)
            rows += outbox.rows(kind, data, ev.at, event_id)
    return rows


async def _webhook_data(
    memory: ConversationMemory,
    outbox: Outbox,
    conv: ConversationRecord,
    change: changes.Change,
    offset: int,
    kind: str,
) -> dict[str, Any]:
    """The ``data`` of the ``kind`` webhook announcing the ``offset``-th (1-based) event
    of ``change``."""
    ev = change.events[offset - 1]
    data: dict[str, Any] = {"conversation_id": conv.id}
    if kind in ("escalated", "callback_requested", "offline_message"):
        packet = await _packet_with(memory, conv, change, offset)
        data["packet"] = packet.model_dump(mode="json")
    if kind == "escalated":
        # The visitor's question (docs/webhooks.md), not the event's flag saying
        # whether there was one: "" for a request for a person.
        asked = ev.data.get("question")
        data["question"] = last_visitor_text(data["packet"]) if asked else ""
    elif kind == "resolved":
        data.update(resolved_data(ev.kind, ev.data))
    elif kind in _TASK_KINDS:
        data.update({k: v for k, v in ev.data.items() if k != "notice"})
    else:
        data.update(outbox.fields(kind, ev.data))
    return data


async def _packet_with(
    memory: ConversationMemory, conv: ConversationRecord, change: changes.Change, upto: int
) -> HandoffPacket:
    """The packet as it will read once the first ``upto`` events of ``change`` are
    stored."""
    stored = await memory.events(conv.id)
    pending = [
        StoredEvent(conversation_id=conv.id, seq=conv.last_seq + i, **ev.model_dump())
        for i, ev in enumerate(change.events[:upto], start=1)
    ]
    after = conv.model_copy(update={**change.updates, "last_seq": conv.last_seq + upto})
    return build_packet(after, [to_event(se) for se in stored + pending])
