"""What each reader gets of a conversation: pure functions, no I/O.

- :func:`to_event`: a stored event as the wire :class:`~handoff_server.protocol.Event`;
- :func:`visitor_view`: the allow-listed part of an event a visitor may receive;
- :func:`queue_item`: a conversation as a row of the agents' queue;
- :func:`build_packet`: the handoff packet an agent opens, with
  :func:`question_analysis` (what the AI made of the visitor's last real question);
- :func:`draft`: the AI's unsent answer, as plain text, for agents.

Never here: deciding or storing anything.
"""

from __future__ import annotations

from typing import Any, Literal

from handoff_server.ai.base import Answer
from handoff_server.kb.plaintext import markdown_to_text
from handoff_server.protocol import (
    AgentInfo,
    CandidateInfo,
    Event,
    HandoffPacket,
    QueueItem,
    TriggerInfo,
    VisitorInfo,
)
from handoff_server.store import ConversationRecord, StoredEvent

__all__ = [
    "ACTOR_BY_KIND",
    "assigned_agent",
    "build_packet",
    "draft",
    "queue_item",
    "question_analysis",
    "to_event",
    "visitor_view",
]

ACTOR_BY_KIND: dict[str, Literal["visitor", "ai", "agent"]] = {
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


def to_event(se: StoredEvent) -> Event:
    """Stored event → wire :class:`~handoff_server.protocol.Event`."""
    return Event(
        conversation_id=se.conversation_id,
        seq=se.seq,
        kind=se.kind,
        at=se.at,
        actor=ACTOR_BY_KIND.get(se.kind, "system"),
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


def assigned_agent(conv: ConversationRecord) -> AgentInfo | None:
    """Who holds the conversation, as others see them (``None`` when nobody does)."""
    if not conv.assigned_agent_id:
        return None
    return AgentInfo(
        id=conv.assigned_agent_id,
        name=conv.assigned_agent_name or conv.assigned_agent_id,
        role="operator" if conv.assigned_agent_role == "operator" else "agent",
    )


def queue_item(conv: ConversationRecord) -> QueueItem:
    """A conversation as a queue row."""
    return QueueItem(
        conversation_id=conv.id,
        status=conv.status,
        visitor=VisitorInfo.model_validate(conv.visitor),
        first_question=conv.first_question,
        trigger=TriggerInfo.model_validate(conv.trigger) if conv.trigger else None,
        last_confidence=conv.last_confidence,
        priority=conv.priority,
        team=conv.team,
        assigned_agent=assigned_agent(conv),
        queued_at=conv.queued_at,
        updated_at=conv.updated_at,
        last_seq=conv.last_seq,
    )


def draft(answer: Answer) -> dict[str, Any]:
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


def build_packet(
    conv: ConversationRecord, events: list[Event], after_seq: int = 0
) -> HandoffPacket:
    """Assemble the handoff packet from a conversation and all its events.

    The analysis, candidates and confidence history are those of the visitor's questions
    (:func:`question_analysis`)."""
    analysis, candidates, history, threshold = question_analysis(events)
    if conv.trigger:
        threshold = conv.trigger.get("threshold", threshold)
    return HandoffPacket(
        conversation_id=conv.id,
        status=conv.status,
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
        assigned_agent=assigned_agent(conv),
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
