"""Conversations: the state machine, its event log and who hears about each change.

Lifecycle (DESIGN.md)::

    ai ──escalate──► queued ──claim──► assigned ──resolve──► resolved
     ▲                 │  ▲              │
     └──── handback ───┴──┴── release ───┘

Rules kept here:

- One writer per conversation: every change takes the conversation's lock, stores its
  events (one transaction), and only then acknowledges and broadcasts them, so clients
  see events in ``seq`` order with no gap and no repeat.
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
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

from pydantic import BaseModel

from handoff_server.ai.base import Answer, Answerer
from handoff_server.ai.courtesy import courtesy_answer
from handoff_server.errors import Conflict, HandoffError, InvalidState, NotFound
from handoff_server.escalation import (
    Decision,
    Policy,
    PriorTurn,
    TurnContext,
    decide,
)
from handoff_server.kb.plaintext import markdown_to_text
from handoff_server.policies import PolicyBook
from handoff_server.protocol import (
    DEFAULT_QUEUE_STATUSES,
    AgentInfo,
    CandidateInfo,
    Event,
    HandoffPacket,
    QueueItem,
    SAck,
    SEvent,
    SQueueItem,
    STyping,
    TriggerInfo,
    VisitorInfo,
)
from handoff_server.store import (
    AsyncStore,
    ConversationRecord,
    NewEvent,
    StoredEvent,
    hash_token,
    utcnow,
)

__all__ = [
    "ConversationService",
    "Hub",
    "Subscriber",
    "build_packet",
    "question_analysis",
    "to_event",
    "visitor_view",
]

log = logging.getLogger(__name__)
T = TypeVar("T")

ACTOR_BY_KIND = {
    "conversation_started": "visitor",
    "visitor_message": "visitor",
    "ai_message": "ai",
    "agent_message": "agent",
    "claimed": "agent",
    "released": "agent",
    "handed_back": "agent",
    "resolved": "agent",
    "note": "agent",
}
"""Who causes each event kind; anything else (``escalated``, ``reopened``,
``system_message``) is the system."""

_VISITOR_FIELDS: dict[str, frozenset[str]] = {
    "conversation_started": frozenset({"visitor"}),
    "visitor_message": frozenset({"text"}),
    "ai_message": frozenset({"text", "sources", "confidence", "offer_handoff"}),
    "escalated": frozenset({"text", "trigger"}),
    "claimed": frozenset({"agent", "notice"}),
    "released": frozenset({"agent", "notice"}),
    "handed_back": frozenset({"agent", "notice"}),
    "resolved": frozenset({"agent", "notice"}),
    "agent_message": frozenset({"agent", "text"}),
    "reopened": frozenset({"notice"}),
    "system_message": frozenset({"text"}),
}
"""What a visitor may receive of each event kind's data (an allow-list: a kind or field
not named here never reaches a visitor). Kept out: the AI's analysis, candidates and
threshold, the trigger's detail, values and evaluations, the agent's own words on an
action (the visitor gets the ``notice`` written for them), unsent drafts, routing."""

_VISITOR_NESTED_FIELDS: dict[str, frozenset[str]] = {
    "trigger": frozenset({"kind"}),
    "agent": frozenset({"name"}),
}
"""Of a nested object in visitor-visible data, the fields a visitor may receive."""

_UNASSIGNED = {"assigned_agent_id": None, "assigned_agent_name": None, "assigned_agent_role": None}
"""Conversation fields cleared when nobody holds it any more (release, handback, reopening,
escalation)."""

_YES = {"yes", "y", "yes please", "yeah", "yep", "sure", "please", "ok", "okay", "yes!"}


@dataclass(eq=False)
class Subscriber:
    """One connected client: frames for it go through ``push`` into its send queue.

    ``role``: visitor | agent. ``agent`` is set for agents. ``on_overflow`` is called
    once if the client cannot keep up (its queue is full); the gateway then closes it so
    it reconnects and resumes from its last ``seq``.
    """

    role: str
    agent: AgentInfo | None = None
    queue: asyncio.Queue[str] = field(default_factory=lambda: asyncio.Queue(maxsize=2000))
    on_overflow: Callable[[], None] | None = None
    overflowed: bool = False
    typing_in: set[str] = field(default_factory=set)
    """Conversations in which this client last said it is typing."""

    def push(self, frame: BaseModel) -> None:
        """Queue a frame for sending; never blocks."""
        if self.overflowed:
            return
        try:
            self.queue.put_nowait(frame.model_dump_json())
        except asyncio.QueueFull:
            self.overflowed = True
            if self.on_overflow is not None:
                self.on_overflow()


class Hub:
    """Who listens to what: each conversation's subscribers, and the queue watchers with
    the statuses each watches."""

    def __init__(self) -> None:
        self.conversations: dict[str, set[Subscriber]] = {}
        self.queue_watchers: dict[Subscriber, frozenset[str]] = {}
        self.agents: set[Subscriber] = set()

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

    def typing(self, conversation_id: str, sub: Subscriber, active: bool) -> None:
        """``sub`` started or stopped typing in the conversation: tell the others there
        (a visitor's typing goes to agents; an agent's to the visitor and the other agents)."""
        if active:
            sub.typing_in.add(conversation_id)
        else:
            sub.typing_in.discard(conversation_id)
        frame = STyping(
            conversation_id=conversation_id,
            role="agent" if sub.role == "agent" else "visitor",
            name=sub.agent.name if sub.agent else None,
            active=active,
        )
        if sub.role == "agent":
            self.send_to(conversation_id, frame, role="visitor")
        self.send_to(conversation_id, frame, role="agent", exclude=sub)

    def stop_typing(self, conversation_id: str, sub: Subscriber) -> None:
        """End ``sub``'s typing in the conversation if it had said it was typing (it sent
        its message, closed the conversation or disconnected)."""
        if conversation_id in sub.typing_in:
            self.typing(conversation_id, sub, False)

    def publish(self, events: Sequence[Event], conversation_id: str) -> None:
        """Send events to the conversation's subscribers, filtered for visitors."""
        for sub in list(self.conversations.get(conversation_id, ())):
            for ev in events:
                if sub.role == "visitor":
                    v = visitor_view(ev)
                    if v is not None:
                        sub.push(SEvent(event=v))
                else:
                    sub.push(SEvent(event=ev))

    def watch_queue(self, sub: Subscriber, statuses: Sequence[str]) -> None:
        """From now on send ``sub`` the changes of conversations in ``statuses`` (replacing
        what it watched before)."""
        self.queue_watchers[sub] = frozenset(statuses)

    def publish_queue(self, item: QueueItem, previous: str) -> None:
        """Send a row change to the watchers it concerns: those watching its new status,
        and those watching its ``previous`` status, for whom it leaves the view."""
        frame = SQueueItem(item=item)
        for sub, statuses in list(self.queue_watchers.items()):
            if item.status in statuses or previous in statuses:
                sub.push(frame)

    def send_to(
        self,
        conversation_id: str,
        frame: BaseModel,
        *,
        role: str,
        exclude: Subscriber | None = None,
    ) -> None:
        """Send a transient frame (typing) to the conversation's subscribers of ``role``."""
        for sub in list(self.conversations.get(conversation_id, ())):
            if sub.role == role and sub is not exclude:
                sub.push(frame)

    @property
    def agents_online(self) -> int:
        """Connected, authenticated agents and operators."""
        return len(self.agents)


def to_event(se: StoredEvent) -> Event:
    """Stored event → wire :class:`~handoff_server.protocol.Event`."""
    return Event(
        conversation_id=se.conversation_id,
        seq=se.seq,
        kind=se.kind,
        at=se.at,
        actor=ACTOR_BY_KIND.get(se.kind, "system"),  # type: ignore[arg-type]
        data=se.data,
        client_msg_id=se.client_msg_id,
    )


def visitor_view(ev: Event) -> Event | None:
    """The event as the visitor may see it (see ``_VISITOR_FIELDS``), or ``None`` for an
    event kind visitors never receive (notes, and any kind not on the allow-list).

    ``client_msg_id`` is kept only on the visitor's own messages."""
    allowed = _VISITOR_FIELDS.get(ev.kind)
    if allowed is None:
        return None
    data: dict[str, Any] = {}
    for key, value in ev.data.items():
        if key not in allowed:
            continue
        nested = _VISITOR_NESTED_FIELDS.get(key)
        if nested is not None:
            value = (
                {k: v for k, v in value.items() if k in nested} if isinstance(value, dict) else None
            )
        data[key] = value
    client_msg_id = ev.client_msg_id if ev.actor == "visitor" else None
    return ev.model_copy(update={"data": data, "client_msg_id": client_msg_id})


class ConversationService:
    """The conversation engine: visitor turns, the AI, escalation and agent actions.

    ``store``: an :class:`AsyncStore`. ``answerer``: the AI. ``default_policy``: the policy
    stored as version 1 if the store has none. ``ai_timeout``: seconds the answerer may
    take per turn before the turn escalates with trigger ``ai_error``.

    Methods raise :class:`~handoff_server.errors.HandoffError` subclasses (``not_found``,
    ``invalid_state``, ``conflict``, ``forbidden``) before writing anything.
    """

    def __init__(
        self,
        store: AsyncStore,
        answerer: Answerer,
        *,
        default_policy: Policy,
        ai_timeout: float = 10.0,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.store = store
        self.answerer = answerer
        self.hub = Hub()
        self.ai_timeout = ai_timeout
        self.clock = clock
        self.policies = PolicyBook(store, default_policy)
        self._locks: weakref.WeakValueDictionary[str, asyncio.Lock] = weakref.WeakValueDictionary()

    # ------------------------------------------------------------------ setup

    async def initialise(self) -> None:
        """Store the default policy if none is stored, load the current one, and finish AI
        turns a crash interrupted (a visitor message stored with no AI reply yet)."""
        s = self.store.store
        await self.policies.seed()
        for conv in await self.store.call(s.list_conversations, ["ai"]):
            events = await self.store.call(s.events_after, conv.id, max(0, conv.last_seq - 1))
            if events and events[-1].kind == "visitor_message":
                log.info("finishing interrupted AI turn in %s", conv.id)
                async with self._lock(conv.id):
                    conv2 = await self._get(conv.id)
                    await self._ai_turn(
                        conv2,
                        events[-1].data.get("text", ""),
                        explicit_human=bool(events[-1].data.get("request_human")),
                    )

    async def current_policy(self) -> Policy:
        """The policy in force (see :class:`~handoff_server.policies.PolicyBook`)."""
        return await self.policies.current()

    def _lock(self, conversation_id: str) -> asyncio.Lock:
        lock = self._locks.get(conversation_id)
        if lock is None:
            lock = asyncio.Lock()
            self._locks[conversation_id] = lock
        return lock

    async def _get(self, conversation_id: str) -> ConversationRecord:
        conv = await self.store.call(self.store.store.get_conversation, conversation_id)
        if conv is None:
            raise NotFound(f"no conversation {conversation_id!r}")
        return conv

    async def _append(
        self,
        conv: ConversationRecord,
        events: Sequence[NewEvent],
        updates: dict[str, Any] | None = None,
    ) -> tuple[ConversationRecord, list[Event]]:
        """Store events + state changes, then broadcast. Caller holds the lock."""
        previous = conv.status
        stored = await self.store.call(
            self.store.store.append_events, conv.id, events, updates or {}
        )
        wire = [to_event(se) for se in stored]
        conv = conv.model_copy(
            update={
                **(updates or {}),
                "last_seq": stored[-1].seq if stored else conv.last_seq,
                "updated_at": stored[-1].at if stored else conv.updated_at,
            }
        )
        self.hub.publish(wire, conv.id)
        self.hub.publish_queue(self.queue_item(conv), previous)
        return conv, wire

    async def _duplicate(
        self, conversation_id: str, sender: str, client_msg_id: str, sub: Subscriber | None
    ) -> bool:
        """If ``sender`` already sent this client message id, ack it again and return True."""
        prior = await self.store.call(
            self.store.store.event_for_client_msg, conversation_id, sender, client_msg_id
        )
        if prior is None:
            return False
        if sub is not None:
            sub.push(
                SAck(
                    client_msg_id=client_msg_id,
                    conversation_id=conversation_id,
                    seq=prior.seq,
                    duplicate=True,
                )
            )
        return True

    # ------------------------------------------------------------------ visitors

    async def start(
        self, visitor: VisitorInfo, sub: Subscriber
    ) -> tuple[ConversationRecord, str, list[Event]]:
        """Open a conversation; returns it, its resume token (shown once) and its first
        event (``conversation_started``, seq 1) as the visitor may see it."""
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
        stored = await self.store.call(
            self.store.store.create_conversation,
            conv,
            [
                NewEvent(
                    kind="conversation_started",
                    data={"visitor": visitor.model_dump(mode="json")},
                    at=now,
                )
            ],
        )
        conv = conv.model_copy(update={"last_seq": stored[-1].seq})
        self.hub.subscribe(conv.id, sub)
        seen = (visitor_view(to_event(se)) for se in stored)
        return conv, token, [ev for ev in seen if ev is not None]

    async def resume(
        self, conversation_id: str, resume_token: str, last_seq: int, sub: Subscriber
    ) -> tuple[ConversationRecord, list[Event]]:
        """Check the resume token, then subscribe ``sub`` and return the visitor-visible
        events after ``last_seq`` — atomically, so none is missed or sent twice.

        Raises ``NotFound`` / ``HandoffError(code="bad_resume_token")`` (same message for
        both, so ids cannot be probed).
        """
        bad = HandoffError("unknown conversation or wrong resume token", code="bad_resume_token")
        try:
            conv = await self._get(conversation_id)
        except NotFound:
            raise bad from None
        if not hmac.compare_digest(conv.resume_token_hash, hash_token(resume_token)):
            raise bad
        async with self._lock(conversation_id):
            conv = await self._get(conversation_id)
            stored = await self.store.call(
                self.store.store.events_after, conversation_id, last_seq, visitor_only=True
            )
            self.hub.subscribe(conversation_id, sub)
        events = [v for v in (visitor_view(to_event(se)) for se in stored) if v is not None]
        return conv, events

    async def visitor_message(
        self, conversation_id: str, client_msg_id: str, text: str, sub: Subscriber | None
    ) -> None:
        """A visitor turn: store the message, acknowledge it, then let the AI answer (or
        escalate) if the conversation is with the AI. A resolved conversation reopens."""
        await self._visitor_turn(conversation_id, client_msg_id, text, sub, button=False)

    async def request_human(
        self, conversation_id: str, client_msg_id: str, text: str | None, sub: Subscriber | None
    ) -> None:
        """The visitor pressed "talk to a person": escalate now (trigger
        ``human_request``), storing ``text`` (or a stock sentence) as the visitor's message.

        Raises ``InvalidState`` when a person already has (or was asked for) the
        conversation."""
        await self._visitor_turn(
            conversation_id,
            client_msg_id,
            text or "I'd like to talk to a person.",
            sub,
            button=True,
        )

    async def _visitor_turn(
        self,
        conversation_id: str,
        client_msg_id: str,
        text: str,
        sub: Subscriber | None,
        *,
        button: bool,
    ) -> None:
        async with self._lock(conversation_id):
            if await self._duplicate(conversation_id, "visitor", client_msg_id, sub):
                return
            conv = await self._get(conversation_id)
            if button and conv.status in ("queued", "assigned"):
                raise InvalidState("a person has already been asked for in this conversation")
            events: list[NewEvent] = []
            updates: dict[str, Any] = {}
            if conv.status == "resolved":
                events.append(
                    NewEvent(
                        kind="reopened",
                        data={
                            "text": "The visitor wrote again; the conversation is open.",
                            "notice": "Welcome back: this conversation is open again.",
                        },
                        at=self.clock(),
                    )
                )
                # Whoever resolved it is not holding it now; a new escalation starts afresh.
                updates.update({"status": "ai", **_UNASSIGNED, "queued_at": None})
            elif conv.status == "ai" and not button:
                button = await self._accepts_offer(conv, text)
            data: dict[str, Any] = {"text": text}
            if button:
                # Stored so a restart that finishes this turn still knows it was a request.
                data["request_human"] = True
            events.append(
                NewEvent(
                    kind="visitor_message",
                    data=data,
                    client_msg_id=client_msg_id,
                    sender="visitor",
                    at=self.clock(),
                )
            )
            if conv.first_question is None:
                updates["first_question"] = text[:500]
            conv, wire = await self._append(conv, events, updates)
            if sub is not None:
                sub.push(
                    SAck(client_msg_id=client_msg_id, conversation_id=conv.id, seq=wire[-1].seq)
                )
            if conv.status == "ai":
                await self._ai_turn(conv, text, explicit_human=button)

    async def _accepts_offer(self, conv: ConversationRecord, text: str) -> bool:
        """True when the AI just offered a person and the visitor says yes."""
        if text.strip().lower().rstrip(".! ") not in _YES:
            return False
        last = await self.store.call(
            self.store.store.events_after, conv.id, max(0, conv.last_seq - 1)
        )
        return (
            bool(last)
            and last[-1].kind == "ai_message"
            and bool(last[-1].data.get("offer_handoff"))
        )

    async def _history(self, conv: ConversationRecord) -> list[PriorTurn]:
        events = await self.store.call(self.store.store.events_after, conv.id, 0)
        turns: list[PriorTurn] = []
        for se in events:
            if se.kind == "visitor_message":
                turns.append(PriorTurn(text=se.data.get("text", "")))
            elif se.kind == "ai_message" and turns:
                turns[-1] = turns[-1].model_copy(update={"confidence": se.data.get("confidence")})
            elif se.kind in ("escalated", "handed_back", "reopened") and turns:
                # A handoff ends the AI's run of exchanges; counting restarts after it.
                turns = []
        return turns[:-1]  # the current turn is not history

    async def _ai_turn(self, conv: ConversationRecord, text: str, *, explicit_human: bool) -> None:
        """Run the answerer and the policy on one visitor turn; store and send the result.

        The caller holds the conversation lock."""
        policy = await self.current_policy()
        courtesy = None if explicit_human else courtesy_answer(text)
        answer, ai_error = (courtesy, None) if courtesy else await self._answer(text)
        ctx = TurnContext(
            text=text,
            answer=answer,
            ai_error=ai_error,
            history=await self._history(conv),
            explicit_human_request=explicit_human,
            visitor={k: str(v) for k, v in _flat_visitor(conv.visitor).items()},
            page_url=conv.page_url,
            now=self.clock(),
        )
        try:
            decision = decide(policy, ctx)
        except Exception as exc:
            log.exception("escalation policy failed")
            decision = Decision(
                action="escalate", trigger="ai_error", detail=f"policy evaluation failed: {exc}"
            )
        turn = _Turn(
            answer=answer,
            decision=decision,
            threshold=policy.threshold,
            question=courtesy is None and not _asks_for_person(ctx, decision, policy.threshold),
        )
        if decision.escalate:
            await self._escalate(conv, turn)
        else:
            await self._reply(conv, turn)

    async def _answer(self, text: str) -> tuple[Answer | None, str | None]:
        """The answerer's answer, or ``None`` and why it failed or timed out."""
        try:
            answer = await asyncio.wait_for(
                asyncio.to_thread(self.answerer.answer, text), self.ai_timeout
            )
        except TimeoutError:
            return None, f"the answerer took longer than {self.ai_timeout:g}s"
        except Exception as exc:  # any engine failure escalates; never as low confidence
            log.exception("answerer failed")
            return None, f"{type(exc).__name__}: {exc}"
        return answer, None

    async def _reply(self, conv: ConversationRecord, turn: _Turn) -> None:
        """Send the AI's answer (with an offer of a person when the policy says so)."""
        answer, decision = turn.answer, turn.decision
        assert answer is not None
        reply = answer.text
        offer = decision.action == "offer_handoff"
        if offer:
            reply = (
                reply + "\n\n" if reply else ""
            ) + "Would you like to talk to a person? Just say yes."
        data = {
            "text": reply,
            "confidence": answer.confidence,
            "threshold": turn.threshold,
            "entry_id": answer.entry_id,
            "sources": answer.sources,
            "candidates": [c.model_dump() for c in answer.candidates],
            "analysis": answer.analysis,
            "question": turn.question,
            "offer_handoff": offer,
            "decision": {
                "action": decision.action,
                "trigger": decision.trigger,
                "detail": decision.detail,
            },
            "evaluations": [e.model_dump(mode="json") for e in decision.evaluations],
        }
        # The queue shows the confidence on the visitor's last question, not on a thanks.
        updates = {"last_confidence": answer.confidence} if turn.question else {}
        await self._append(conv, [NewEvent(kind="ai_message", data=data, at=self.clock())], updates)

    async def _escalate(self, conv: ConversationRecord, turn: _Turn) -> None:
        decision = turn.decision
        # Of a request for a person the AI's reading means nothing: the agent keeps what it
        # made of the visitor's last question (packet and queue), and gets no draft.
        answer = turn.answer if turn.question else None
        trigger = TriggerInfo(
            kind=decision.trigger or "rule",
            detail=decision.detail,
            confidence=answer.confidence if answer else None,
            threshold=turn.threshold,
            rule=decision.rule,
            policy_version=decision.policy_version,
            evaluations=[e.model_dump(mode="json") for e in decision.evaluations],
        )
        data = {
            "trigger": trigger.model_dump(mode="json"),
            # The policy alone routes: a team guessed from a low-confidence entry would
            # send the visitor to the wrong people.
            "priority": decision.priority,
            "team": decision.team,
            "text": await self._handoff_sentence(decision.priority),
            "question": turn.question,
            "draft": _draft(answer) if answer else None,
        }
        now = self.clock()
        await self._append(
            conv,
            [NewEvent(kind="escalated", data=data, at=now)],
            {
                "status": "queued",
                **_UNASSIGNED,
                "trigger": trigger.model_dump(mode="json"),
                "priority": decision.priority,
                "team": decision.team,
                "queued_at": now,
                "last_confidence": trigger.confidence
                if trigger.confidence is not None
                else conv.last_confidence,
            },
        )

    async def _handoff_sentence(self, priority: int) -> str:
        """What the visitor is told when the conversation goes to a person."""
        if self.hub.agents_online == 0:
            return (
                "I'm handing this conversation to a person. Nobody from the team is online right "
                "now: your messages are saved here and a person will reply in this chat as soon as "
                "someone is available."
            )
        ahead = await self._queue_position(priority)
        return (
            f"I'm handing this conversation to a person. {ahead} conversation"
            f"{'' if ahead == 1 else 's'} ahead of you in the queue."
        )

    async def _queue_position(self, priority: int) -> int:
        queued = await self.store.call(self.store.store.list_conversations, ["queued"])
        return sum(1 for c in queued if c.priority >= priority)

    # ------------------------------------------------------------------ agents

    async def agent_action(
        self,
        agent: AgentInfo,
        kind: str,
        conversation_id: str,
        client_msg_id: str,
        text: str | None,
        sub: Subscriber | None,
    ) -> None:
        """Apply an agent's ``claim`` / ``reply`` / ``note`` / ``resolve`` / ``release`` /
        ``handback`` and acknowledge it.

        Raises ``NotFound``, ``InvalidState`` (wrong status), ``Conflict`` (assigned to
        someone else) before storing anything.
        """
        async with self._lock(conversation_id):
            if await self._duplicate(conversation_id, agent.id, client_msg_id, sub):
                return
            conv = await self._get(conversation_id)
            mine = conv.assigned_agent_id == agent.id
            holder = conv.assigned_agent_name or conv.assigned_agent_id
            who = agent.model_dump()
            now = self.clock()
            updates: dict[str, Any] = {}
            if kind == "claim":
                if conv.status == "resolved":
                    raise InvalidState("the conversation is resolved")
                if conv.status == "assigned":
                    if mine:
                        raise InvalidState("you already have this conversation")
                    raise Conflict(f"already claimed by {holder}")
                ev = NewEvent(
                    kind="claimed",
                    data={"agent": who, "notice": f"{agent.name} joined the conversation."},
                )
                updates = {
                    "status": "assigned",
                    "assigned_agent_id": agent.id,
                    "assigned_agent_name": agent.name,
                    "assigned_agent_role": agent.role,
                }
            elif kind == "reply":
                self._require_holder(conv, agent, "reply")
                ev = NewEvent(kind="agent_message", data={"agent": who, "text": text})
            elif kind == "note":
                ev = NewEvent(
                    kind="note", data={"agent": who, "text": text}, visible_to_visitor=False
                )
            elif kind == "resolve":
                if conv.status == "resolved":
                    raise InvalidState("the conversation is already resolved")
                self._require_holder_or_operator(conv, agent)
                ev = NewEvent(
                    kind="resolved",
                    data={
                        "agent": who,
                        "text": text,
                        "notice": f"{agent.name} marked this conversation resolved.",
                    },
                )
                updates = {"status": "resolved"}
            elif kind == "release":
                self._require_holder(conv, agent, "release")
                ev = NewEvent(
                    kind="released",
                    data={
                        "agent": who,
                        "text": text,
                        "notice": f"{agent.name} returned the conversation to the queue.",
                    },
                )
                updates = {"status": "queued", **_UNASSIGNED, "queued_at": now}
            elif kind == "handback":
                if conv.status not in ("queued", "assigned"):
                    raise InvalidState(
                        f"only a queued or assigned conversation can be handed back (it is {conv.status})"
                    )
                self._require_holder_or_operator(conv, agent)
                ev = NewEvent(
                    kind="handed_back",
                    data={
                        "agent": who,
                        "text": text,
                        "notice": "You're back with our AI assistant.",
                    },
                )
                updates = {"status": "ai", **_UNASSIGNED, "queued_at": None}
            else:
                raise ValueError(f"unknown agent action {kind!r}")
            ev = ev.model_copy(
                update={"client_msg_id": client_msg_id, "sender": agent.id, "at": now}
            )
            conv, wire = await self._append(conv, [ev], updates)
            if sub is not None:
                sub.push(
                    SAck(client_msg_id=client_msg_id, conversation_id=conv.id, seq=wire[-1].seq)
                )

    @staticmethod
    def _require_holder_or_operator(conv: ConversationRecord, agent: AgentInfo) -> None:
        if (
            conv.status == "assigned"
            and conv.assigned_agent_id != agent.id
            and agent.role != "operator"
        ):
            raise Conflict(f"assigned to {conv.assigned_agent_name or conv.assigned_agent_id}")

    @staticmethod
    def _require_holder(conv: ConversationRecord, agent: AgentInfo, action: str) -> None:
        if conv.status == "assigned" and conv.assigned_agent_id == agent.id:
            return
        if conv.status == "assigned":
            raise Conflict(
                f"assigned to {conv.assigned_agent_name or conv.assigned_agent_id}; you cannot {action}"
            )
        raise InvalidState(f"claim the conversation before you {action} (it is {conv.status})")

    async def packet(
        self, conversation_id: str, after_seq: int = 0, sub: Subscriber | None = None
    ) -> HandoffPacket:
        """The handoff packet, with the transcript after ``after_seq``; with ``sub``, also
        subscribe it to live events (atomically: nothing missed, nothing doubled)."""
        async with self._lock(conversation_id):
            conv = await self._get(conversation_id)
            all_events = await self.store.call(self.store.store.events_after, conversation_id, 0)
            if sub is not None:
                self.hub.subscribe(conversation_id, sub)
        return build_packet(conv, [to_event(se) for se in all_events], after_seq)

    async def queue(self, statuses: Sequence[str] = DEFAULT_QUEUE_STATUSES) -> list[QueueItem]:
        """The conversations whose status is in ``statuses`` (default: queued and
        assigned), highest priority first, then longest waiting."""
        convs = await self.store.call(self.store.store.list_conversations, list(statuses))
        items = [self.queue_item(c) for c in convs]
        items.sort(key=lambda i: (-i.priority, i.queued_at or i.updated_at))
        return items

    @staticmethod
    def queue_item(conv: ConversationRecord) -> QueueItem:
        """A conversation as a queue row."""
        agent = assigned_agent(conv)
        return QueueItem(
            conversation_id=conv.id,
            status=conv.status,  # type: ignore[arg-type]
            visitor=VisitorInfo.model_validate(conv.visitor),
            first_question=conv.first_question,
            trigger=TriggerInfo.model_validate(conv.trigger) if conv.trigger else None,
            last_confidence=conv.last_confidence,
            priority=conv.priority,
            team=conv.team,
            assigned_agent=agent,
            queued_at=conv.queued_at,
            updated_at=conv.updated_at,
            last_seq=conv.last_seq,
        )


@dataclass
class _Turn:
    """One AI turn, decided but not yet stored."""

    answer: Answer | None
    decision: Decision
    threshold: float
    question: bool
    """The visitor's message is a question the answer is about: not a courtesy turn, not
    a request for a person (see :func:`_asks_for_person`)."""


def _asks_for_person(ctx: TurnContext, decision: Decision, threshold: float) -> bool:
    """Whether the turn only asks for a person: pressed, accepted an offer, or the
    ``human_request`` trigger fired, and the AI is not sure the message is also about a
    topic (confidence below the threshold: "I want to talk to a person" reads as a weak
    match for some entry; "a human please, about resetting my password" does not)."""
    asked = ctx.explicit_human_request or any(
        e.trigger == "human_request" and e.fired for e in decision.evaluations
    )
    sure = ctx.answer is not None and ctx.answer.confidence >= threshold
    return asked and not sure


def _draft(answer: Answer) -> dict[str, Any]:
    """The AI's unsent answer as agents receive it with an escalation."""
    return {
        # Agents insert the draft into a reply: plain text, as the visitor reads it.
        "text": markdown_to_text(answer.text),
        "entry_id": answer.entry_id,
        "confidence": answer.confidence,
        "sources": answer.sources,
        "candidates": [c.model_dump() for c in answer.candidates],
        "analysis": answer.analysis,
    }


def assigned_agent(conv: ConversationRecord) -> AgentInfo | None:
    """Who holds the conversation, as others see them (``None`` when nobody does)."""
    if not conv.assigned_agent_id:
        return None
    return AgentInfo(
        id=conv.assigned_agent_id,
        name=conv.assigned_agent_name or conv.assigned_agent_id,
        role="operator" if conv.assigned_agent_role == "operator" else "agent",
    )


def _flat_visitor(visitor: dict[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in visitor.items() if k != "fields" and v is not None}
    out.update(visitor.get("fields") or {})
    return out


def build_packet(
    conv: ConversationRecord, events: list[Event], after_seq: int = 0
) -> HandoffPacket:
    """Assemble the handoff packet from a conversation and all its events.

    The analysis, candidates and confidence history are those of the visitor's questions
    (:func:`question_analysis`)."""
    analysis, candidates, history, threshold = question_analysis(events)
    if conv.trigger:
        threshold = conv.trigger.get("threshold", threshold)
    agent = assigned_agent(conv)
    return HandoffPacket(
        conversation_id=conv.id,
        status=conv.status,  # type: ignore[arg-type]
        visitor=VisitorInfo.model_validate(conv.visitor),
        started_at=conv.created_at,
        queued_at=conv.queued_at,
        trigger=TriggerInfo.model_validate(conv.trigger) if conv.trigger else None,
        analysis=analysis,
        candidates=candidates,
        confidence_history=history,
        threshold=threshold,
        priority=conv.priority,
        team=conv.team,
        assigned_agent=agent,
        transcript=[e for e in events if e.seq > after_seq],
        last_seq=conv.last_seq,
    )


def question_analysis(
    events: list[Event],
) -> tuple[str, list[CandidateInfo], list[float], float | None]:
    """What the AI made of the visitor's last real question: ``(analysis, candidates,
    confidence history, threshold)``.

    Turns that were no question (a request for a person, a thanks; stored with
    ``question: false``) are skipped, so the agent is not told what "I want to talk to
    a person" resembles. The analysis names the question it is about. The history holds
    one confidence (0–1) per answered question, oldest first."""
    history: list[float] = []
    analysis = ""
    candidates: list[CandidateInfo] = []
    threshold = None
    asked: str | None = None
    question: str | None = None
    skipped = False
    for ev in events:
        if ev.kind == "visitor_message":
            asked = str(ev.data.get("text", ""))
        if ev.kind not in ("ai_message", "escalated"):
            continue
        threshold = ev.data.get("threshold", threshold)
        if ev.data.get("question", True) is False:
            skipped = True
            continue
        question = asked
        src = ev.data if ev.kind == "ai_message" else ev.data.get("draft") or {}
        if src.get("confidence") is not None:
            history.append(float(src["confidence"]))
        analysis = str(src.get("analysis") or "")
        candidates = [CandidateInfo.model_validate(c) for c in src.get("candidates") or []]
    if question is None:
        if skipped:
            analysis = (
                "No question yet: the visitor asked for a person (or only said hello or "
                "thanks) before asking anything."
            )
    elif analysis:
        analysis = f"About the visitor's question “{_clip(question)}”: {analysis}"
    else:
        analysis = f"The AI had no answer to the visitor's question “{_clip(question)}”."
    return analysis, candidates, history, threshold


def _clip(text: str, limit: int = 80) -> str:
    line = " ".join(text.split())
    return line if len(line) <= limit else line[: limit - 1] + "…"
