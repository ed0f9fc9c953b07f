"""What to store for each change: events and conversation columns, decided, not stored.

Pure functions of the conversation, the actor, the lifecycle's verdict and the time;
the service stores what they return in one transaction. Event data is built as the
protocol's typed models (``*Data``) and stored as their JSON: the fields given, in the
models' order (the order of the JSON on the wire).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from handoff_server.conversations.lifecycle import AgentAction
from handoff_server.conversations.projections import draft
from handoff_server.conversations.turn import TurnResult
from handoff_server.protocol import (
    AgentActionData,
    AgentInfo,
    AgentTextData,
    AiMessageData,
    ClaimedData,
    ConversationStatus,
    DecisionInfo,
    EscalatedData,
    ReopenedData,
    ResolvedData,
    TriggerEvaluationInfo,
    TriggerInfo,
    VisitorMessageData,
)
from handoff_server.routing import Route
from handoff_server.routing.fallbacks import HOLDING_SENTENCE
from handoff_server.store import AiTurnRow, ConversationRecord, ConversationUpdate, NewEvent

__all__ = [
    "Change",
    "agent_change",
    "ai_reply",
    "entering",
    "holding_reply",
    "escalation",
    "visitor_change",
]

OFFER = "Would you like to talk to a person? Just say yes."
"""Appended to the AI's answer when the policy offers a person."""


@dataclass
class Change:
    """Events to append and columns to update, in one transaction, with the AI turns
    they decide (kept for what-if replays, see :mod:`.turn_rows`)."""

    events: list[NewEvent] = field(default_factory=list)
    updates: ConversationUpdate = field(default_factory=lambda: ConversationUpdate())
    turns: list[AiTurnRow] = field(default_factory=list)
    seat: tuple[str, int] | None = None
    """``(agent id, capacity)`` when the change assigns the conversation to that agent:
    the store counts their assigned conversations in the same transaction
    (``Store.append_events``)."""


def entering(
    status: ConversationStatus,
    now: datetime,
    agent: AgentInfo | None = None,
    queued_since: datetime | None = None,
) -> ConversationUpdate:
    """The columns that change when a conversation enters ``status``: nobody holds it
    with the AI or in the queue (where it waits since ``queued_since``, when it was
    queued before and keeps its place, else since ``now``); ``agent`` holds it when
    assigned. Back with the AI (handback, reopening) it has no routing: the trigger,
    team and priority of the last escalation stay in its ``escalated`` event only."""
    if status == "assigned":
        assert agent is not None
        return {
            "status": "assigned",
            "assigned_agent_id": agent.id,
            "assigned_agent_name": agent.name,
            "assigned_agent_role": agent.role,
        }
    if status == "resolved":
        return {"status": "resolved"}
    unassigned: ConversationUpdate = {
        "status": status,
        "assigned_agent_id": None,
        "assigned_agent_name": None,
        "assigned_agent_role": None,
    }
    unassigned["queued_at"] = (queued_since or now) if status == "queued" else None
    # Queued anew (escalated, released): the visitor is told a fresh wait estimate.
    unassigned["wait_estimate"] = None
    if status == "ai":
        unassigned.update({"trigger": None, "team": None, "priority": 0, "fallback": None})
    return unassigned


_AGENT_EVENTS: dict[AgentAction, tuple[str, Callable[[AgentInfo], str] | None]] = {
    "claim": ("claimed", lambda a: f"{a.name} joined the conversation."),
    "reply": ("agent_message", None),
    "note": ("note", None),
    "resolve": ("resolved", lambda a: f"{a.name} marked this conversation resolved."),
    "release": ("released", lambda a: f"{a.name} returned the conversation to the queue."),
    "handback": ("handed_back", lambda a: "You're back with our AI assistant."),
}
"""Per agent action: the event kind it stores and the sentence the visitor gets."""


def agent_change(
    action: AgentAction,
    agent: AgentInfo,
    text: str | None,
    to: ConversationStatus | None,
    client_msg_id: str,
    now: datetime,
    queued_since: datetime | None = None,
    details: dict[str, Any] | None = None,
) -> Change:
    """The event of an agent's action (``to``: the status it moves to, ``None`` if it
    stays) and the columns that change. A release keeps the queue place of
    ``queued_since`` (when it was first queued). ``details``: more fields of the event's
    data, stored when given (a claim's ``via``; a resolution's ``resolution`` and
    ``ai_verdict``)."""
    kind, notice = _AGENT_EVENTS[action]
    extra = {k: v for k, v in (details or {}).items() if v is not None}
    data: ClaimedData | AgentTextData | AgentActionData
    if notice is None:
        data = AgentTextData(agent=agent, text=text or "")
    elif action == "claim":
        data = ClaimedData(agent=agent, notice=notice(agent), **extra)
    elif action == "resolve":
        data = ResolvedData(agent=agent, text=text, notice=notice(agent), **extra)
    else:
        data = AgentActionData(agent=agent, text=text, notice=notice(agent))
    event = NewEvent(
        kind=kind,
        data=data.model_dump(mode="json"),
        client_msg_id=client_msg_id,
        sender=agent.id,
        visible_to_visitor=action != "note",
        at=now,
    )
    return Change([event], entering(to, now, agent, queued_since) if to is not None else {})


def visitor_change(
    conv: ConversationRecord,
    to: ConversationStatus | None,
    text: str,
    client_msg_id: str,
    requested_human: bool,
    now: datetime,
) -> Change:
    """The visitor's message, after reopening the conversation when it moves back to the
    AI (``to``; ``None``: it stays put). The first message becomes the conversation's
    first question; ``requested_human``: the visitor asked for a person (pressed, or
    accepted the AI's offer)."""
    change = Change()
    if to == "ai":
        change.events.append(
            NewEvent(
                kind="reopened",
                data=ReopenedData(
                    text="The visitor wrote again; the conversation is open.",
                    notice="Welcome back: this conversation is open again.",
                ).model_dump(mode="json"),
                at=now,
            )
        )
        # Whoever resolved it is not holding it now; a new escalation starts afresh.
        change.updates.update(entering("ai", now))
    # ``request_human`` is stored (only when true) so that a restart that finishes this
    # turn still knows it was a request.
    data = (
        VisitorMessageData(text=text, request_human=True)
        if requested_human
        else VisitorMessageData(text=text)
    )
    change.events.append(
        NewEvent(
            kind="visitor_message",
            data=data.model_dump(mode="json"),
            client_msg_id=client_msg_id,
            sender="visitor",
            at=now,
        )
    )
    if conv.first_question is None:
        change.updates["first_question"] = text[:500]
    return change


def ai_reply(turn: TurnResult, now: datetime) -> Change:
    """The AI's answer (with an offer of a person when the policy says so)."""
    answer, decision = turn.answer, turn.decision
    assert answer is not None
    offer = decision.action == "offer_handoff"
    reply = answer.text
    if offer:
        reply = (reply + "\n\n" if reply else "") + OFFER
    # Every turn stores one: built as the JSON ``AiMessageData(...).model_dump(mode="json")``
    # gives for these fields (every field given, in the model's order), without the
    # model's round trip (about 0.1 ms a turn; tests/server/test_turn_cost.py holds the
    # two equal).
    data: dict[str, Any] = {
        "text": reply,
        "confidence": answer.confidence,
        "threshold": turn.threshold,
        "entry_id": answer.entry_id,
        "sources": list(answer.sources),
        "candidates": [
            {"entry_id": c.entry_id, "title": c.title, "score": c.score} for c in answer.candidates
        ],
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
    updates: ConversationUpdate = {"last_confidence": answer.confidence} if turn.question else {}
    return Change([NewEvent(kind="ai_message", data=data, at=now)], updates)


def holding_reply(turn: TurnResult, now: datetime) -> Change:
    """The AI's turn while the visitor waits for a person with the AI going on
    (``ai_continues``): its answer when the policy would let it answer, else a sentence
    that a person will follow up (it never escalates again: the conversation is queued)."""
    if turn.decision.escalate or turn.answer is None:
        data = AiMessageData(
            text=HOLDING_SENTENCE,
            threshold=turn.threshold,
            question=turn.question,
            decision=DecisionInfo(
                action="continue", trigger=turn.decision.trigger, detail=turn.decision.detail
            ),
            evaluations=_evaluations(turn),
        )
        return Change([NewEvent(kind="ai_message", data=data.model_dump(mode="json"), at=now)])
    # A person is already on the way: the AI's answer goes without an offer of one.
    answering = turn.decision.model_copy(update={"action": "continue"})
    return ai_reply(dataclasses.replace(turn, decision=answering), now)


def _evaluations(turn: TurnResult) -> list[TriggerEvaluationInfo]:
    """Every trigger's evaluation on the turn, as the protocol carries it."""
    return [
        TriggerEvaluationInfo.model_validate(e.model_dump(mode="json"))
        for e in turn.decision.evaluations
    ]


def escalation(
    conv: ConversationRecord, turn: TurnResult, route: Route, notice: str, now: datetime
) -> Change:
    """The handoff: the ``escalated`` event (``notice`` is the visitor's sentence) and the
    conversation queued on ``route``."""
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
        evaluations=_evaluations(turn),
    )
    data = EscalatedData(
        trigger=trigger,
        priority=route.priority,
        team=route.team,
        text=notice,
        question=turn.question,
        draft=draft(answer) if answer else None,
    )
    updates = entering("queued", now)
    updates.update(
        {
            "trigger": trigger.model_dump(mode="json"),
            "priority": route.priority,
            "team": route.team,
            "last_confidence": answer.confidence if answer else conv.last_confidence,
        }
    )
    return Change([NewEvent(kind="escalated", data=data.model_dump(mode="json"), at=now)], updates)
