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

from collections.abc import Callable
from typing import Any, Literal

from handoff_server.ai.base import Answer
from handoff_server.kb.plaintext import markdown_to_text
from handoff_server.protocol import (
    AgentInfo,
    AgentName,
    AiMessage,
    AiMessageData,
    CandidateInfo,
    DraftInfo,
    Escalated,
    Event,
    FallbackState,
    HandoffPacket,
    QueueItem,
    TriggerInfo,
    VisitorInfo,
    VisitorMessage,
    WaitInfo,
    parse_event,
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
    "transferred": "agent",
    "note": "agent",
    "fallback_chosen": "visitor",
    "callback_requested": "visitor",
    "offline_message": "visitor",
    "callback_done": "agent",
    "offline_reply": "agent",
}
"""Who causes each event kind; anything else (``escalated``, ``reopened``, ``requeued``,
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
    # A transfer or a return to the queue tells the visitor a neutral sentence only: not
    # who passed it to whom, not the note, not why.
    "transferred": frozenset({"notice"}),
    "requeued": frozenset({"notice"}),
    "system_message": frozenset({"text"}),
    # The visitor's own choices, whole: what they gave and the sentence for them.
    "fallback_chosen": frozenset({"option", "notice"}),
    "callback_requested": frozenset({"phone", "email", "preferred_at", "note", "notice"}),
    "offline_message": frozenset({"email", "text", "notice"}),
    "callback_done": frozenset({"agent", "notice"}),
    "offline_reply": frozenset({"agent", "text", "email", "notice"}),
}
"""What a visitor may receive of each event kind's data (an allow-list: a kind or field
not named here never reaches a visitor). Kept out: the AI's analysis, candidates and
threshold, the trigger's detail, values and evaluations, the agent's own words on an
action (the visitor gets the ``notice`` written for them), unsent drafts, routing."""

_VISITOR_NESTED: dict[str, Callable[[Any], Any]] = {
    "trigger": lambda t: TriggerInfo(kind=t.kind) if t is not None else None,
    "agent": lambda a: AgentName(name=a.name),
}
"""Of a nested object in visitor-visible data, the part a visitor may receive: the
trigger's kind, the agent's name."""


def to_event(se: StoredEvent) -> Event:
    """Stored event → wire :data:`~handoff_server.protocol.Event` (its typed data read
    from the stored JSON; fields an old row lacks read as their defaults)."""
    return parse_event(
        {
            "conversation_id": se.conversation_id,
            "seq": se.seq,
            "kind": se.kind,
            "at": se.at,
            "actor": ACTOR_BY_KIND.get(se.kind, "system"),
            "data": se.data,
            "client_msg_id": se.client_msg_id,
        }
    )


def visitor_view(ev: Event) -> Event | None:
    """The event as the visitor may see it (see ``_VISITOR_FIELDS``), or ``None`` for an
    event kind visitors never receive (notes, and any kind not on the allow-list).

    ``client_msg_id`` is kept only on the visitor's own messages."""
    allowed = _VISITOR_FIELDS.get(ev.kind)
    if allowed is None:
        return None
    given = ev.data.model_fields_set
    kept: dict[str, Any] = {}
    for key in type(ev.data).model_fields:  # declared fields only: never an unknown key
        if key not in allowed or key not in given:
            continue
        value = getattr(ev.data, key)
        narrow = _VISITOR_NESTED.get(key)
        kept[key] = narrow(value) if narrow is not None else value
    data = type(ev.data)(**kept)
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


ROW_TEXT_CHARS = 200
"""Longest text (first question, offline message) a queue row carries, in characters;
the whole text is in the conversation's events."""


def _row_text(text: str | None) -> str | None:
    if text is None or len(text) <= ROW_TEXT_CHARS:
        return text
    return text[: ROW_TEXT_CHARS - 1] + "…"


def _row_fallback(fallback: dict[str, Any] | None) -> FallbackState | None:
    if not fallback:
        return None
    state = FallbackState.model_validate(fallback)
    return (
        state.model_copy(update={"message": _row_text(state.message)}) if state.message else state
    )


def queue_item(conv: ConversationRecord) -> QueueItem:
    """A conversation as a queue row: small, whatever the conversation holds. The
    visitor is their name, email and start page (the form fields come with the handoff
    packet); the first question and an offline message are clipped to
    :data:`ROW_TEXT_CHARS`."""
    visitor = VisitorInfo.model_validate(conv.visitor)
    return QueueItem(
        conversation_id=conv.id,
        status=conv.status,
        visitor=VisitorInfo(name=visitor.name, email=visitor.email, page_url=visitor.page_url),
        first_question=_row_text(conv.first_question),
        trigger=_trigger(conv),
        last_confidence=conv.last_confidence,
        priority=conv.priority,
        team=conv.team,
        assigned_agent=assigned_agent(conv),
        queued_at=conv.queued_at,
        updated_at=conv.updated_at,
        last_seq=conv.last_seq,
        wait=WaitInfo.model_validate(conv.wait_estimate) if conv.wait_estimate else None,
        fallback=_row_fallback(conv.fallback),
    )


def _trigger(conv: ConversationRecord) -> TriggerInfo | None:
    """The conversation's trigger with every field (agents get them all)."""
    return TriggerInfo.model_validate(conv.trigger).complete() if conv.trigger else None


def draft(answer: Answer) -> DraftInfo:
    """The AI's unsent answer as agents receive it with an escalation."""
    return DraftInfo(
        # Agents insert the draft into a reply: plain text, as the visitor reads it.
        text=markdown_to_text(answer.text),
        entry_id=answer.entry_id,
        confidence=answer.confidence,
        sources=answer.sources,
        candidates=[CandidateInfo.model_validate(c.model_dump()) for c in answer.candidates],
        analysis=answer.analysis,
    )


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
        trigger=_trigger(conv),
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
        if isinstance(ev, VisitorMessage):
            asked = ev.data.text
        if not isinstance(ev, AiMessage | Escalated):
            continue
        if isinstance(ev, AiMessage) and "threshold" in ev.data.model_fields_set:
            threshold = ev.data.threshold
        if not ev.data.question:
            skipped = True
            continue
        question = asked
        src: AiMessageData | DraftInfo = (
            ev.data if isinstance(ev, AiMessage) else ev.data.draft or DraftInfo()
        )
        if src.confidence is not None:
            history.append(src.confidence)
        analysis = src.analysis
        candidates = list(src.candidates)
    if question is None:
        if skipped:
            analysis = (
                "No question the AI could match yet: the visitor asked for a person (or "
                "only said hello or thanks), and the AI matched no KB topic with confidence "
                "in what they wrote; read their words in the transcript."
            )
    elif analysis:
        analysis = f"About the visitor's question “{_clip(question)}”: {analysis}"
    else:
        analysis = f"The AI had no answer to the visitor's question “{_clip(question)}”."
    return analysis, candidates, history, threshold


def _clip(text: str, limit: int = 80) -> str:
    line = " ".join(text.split())
    return line if len(line) <= limit else line[: limit - 1] + "…"
