"""One open conversation as the agent app knows it, kept apart from widgets.

:class:`ConversationState` holds one open conversation: its handoff packet, its events by
sequence number (each stored once, so a resume after a reconnect never doubles a line),
unread count, typing indicators and the agent's own frames still in flight
(:class:`PendingSend`). :func:`allowed` and :func:`status_hint` say what the agent may do
in a status.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from handoff_server.protocol import (
    AgentInfo,
    AgentMessage,
    AiMessage,
    CallbackDone,
    CallbackRequested,
    Claimed,
    Escalated,
    Event,
    HandedBack,
    HandoffPacket,
    Note,
    OfflineMessage,
    OfflineReply,
    Released,
    Reopened,
    Resolved,
    Transferred,
    TriggerInfo,
)

__all__ = [
    "ConversationState",
    "PendingSend",
    "Task",
    "acting_agent_id",
    "allowed",
    "status_hint",
]

Task = CallbackRequested | OfflineMessage
"""A visitor's request that waits as a task: a call back, or an offline message."""


@dataclass
class PendingSend:
    """A state-changing frame the agent sent that the server has not acknowledged yet."""

    client_msg_id: str
    kind: Literal["reply", "note", "claim", "resolve", "release", "handback", "transfer"]
    text: str | None
    status: Literal["sending", "failed"] = "sending"
    error: str | None = None
    """The server's ``error`` detail (or why it could not be sent) once failed."""
    acked_seq: int | None = None
    """The ``seq`` the server stored it as, once acknowledged (its event may follow)."""


_STATUS_AFTER = {
    "escalated": "queued",
    "claimed": "assigned",
    "released": "queued",
    "requeued": "queued",
    "handed_back": "ai",
    "resolved": "resolved",
    "reopened": "ai",
    "callback_done": "resolved",
    "offline_reply": "resolved",
}


def acting_agent_id(event: Event) -> str | None:
    """The id of the agent whose action or message ``event`` is (``None``: no agent's,
    or only the agent's name is known)."""
    if isinstance(
        event,
        Claimed
        | AgentMessage
        | Note
        | Released
        | HandedBack
        | Resolved
        | CallbackDone
        | OfflineReply,
    ):
        agent = event.data.agent
        return agent.id if isinstance(agent, AgentInfo) else None
    return None


def allowed(
    action: str,
    status: str,
    holder: AgentInfo | None,
    me: AgentInfo | None,
    task: Task | None = None,
) -> bool:
    """Whether ``me`` may ``claim`` / ``resolve`` / ``release`` / ``handback`` /
    ``transfer`` / ``reply`` to a conversation in ``status`` held by ``holder`` — the server's rules, so the UI offers only what works.
    ``callback_done`` and ``answer_offline`` finish the open ``task`` of their kind (they
    resolve, so they need what resolving needs). Other actions are always allowed."""
    mine = bool(holder and me and holder.id == me.id)
    operator = bool(me and me.role == "operator")
    held = status == "assigned" and (mine or operator)
    if action in ("callback_done", "answer_offline"):
        wanted = CallbackRequested if action == "callback_done" else OfflineMessage
        return isinstance(task, wanted) and (status in ("ai", "queued") or held)
    if action == "claim":
        return status in ("ai", "queued")
    if action == "resolve":
        return status in ("ai", "queued") or held
    if action in ("release", "reply"):
        return status == "assigned" and mine
    if action in ("handback", "transfer"):
        return status == "queued" or held
    return True


def status_hint(
    status: str, holder: AgentInfo | None, me: AgentInfo | None, task: Task | None = None
) -> str | None:
    """One line above the reply box saying what the agent can do here, or ``None`` when
    the conversation is theirs to answer."""
    if isinstance(task, CallbackRequested):
        return "call back requested · press x once you have called back"
    if isinstance(task, OfflineMessage):
        return "offline message · write the answer, ctrl+e sends it by email"
    if status == "assigned":
        if holder and me and holder.id == me.id:
            return None
        who = holder.name if holder else "another agent"
        return f"{who} has it · ctrl+n adds an internal note"
    if status == "queued":
        return "press c to claim it, then reply"
    if status == "ai":
        return "the AI is answering · press c to take over"
    if status == "resolved":
        return "resolved · the AI answers if they write again"
    return None


@dataclass
class ConversationState:
    """One conversation the agent has open."""

    conversation_id: str
    packet: HandoffPacket | None = None
    """The latest handoff packet (its transcript is not used; see ``events``)."""
    events: dict[int, Event] = field(default_factory=dict)
    """Every event received, by ``seq``."""
    unread: int = 0
    """Events from others since the agent last looked at this conversation."""
    visitor_typing: bool = False
    agent_typing: str | None = None
    """Name of another agent typing here, if any."""
    pending: dict[str, PendingSend] = field(default_factory=dict)
    draft: str = ""
    """Unsent reply box text, kept when the screen is closed."""
    status: str = ""
    """``ai`` | ``queued`` | ``assigned`` | ``resolved``; empty until known."""
    assigned_agent: AgentInfo | None = None
    load_error: str | None = None
    """Why the server refused to open the conversation, if it did."""
    ai_partial: str | None = None
    """The AI's answer while it is written (provisional; ``None``: none being written)."""

    @property
    def last_seq(self) -> int:
        """Highest ``seq`` received: the resume point after a reconnect.

        One connection delivers a conversation's events in order, so everything below the
        highest seen was delivered too; a reconnect asks for the events after it.
        """
        return max(self.events, default=0)

    @property
    def transcript(self) -> list[Event]:
        """Events in sequence order."""
        return [self.events[s] for s in sorted(self.events)]

    def load(self, packet: HandoffPacket) -> list[Event]:
        """Take a ``conversation`` answer; returns the transcript events that were new."""
        self.packet = packet
        self.status = packet.status
        self.assigned_agent = packet.assigned_agent
        return [e for e in packet.transcript if self.add(e)]

    def add(self, event: Event) -> bool:
        """Store ``event`` once; returns False when its ``seq`` was already here."""
        if event.seq in self.events:
            return False
        self.events[event.seq] = event
        after = _STATUS_AFTER.get(event.kind)
        if isinstance(event, Transferred):
            # To an agent: they hold it now; to a team: queued for it.
            target = event.data.to_agent
            after = "assigned" if target is not None else "queued"
            self.assigned_agent = target
            self.status = after
            return True
        if after:
            self.status = after
            if isinstance(event, Claimed):
                agent = event.data.agent
                self.assigned_agent = agent if isinstance(agent, AgentInfo) else None
            elif after != "assigned":
                self.assigned_agent = None
        return True

    def confidence_history(self) -> list[tuple[float, float | None]]:
        """(confidence, threshold) of every AI answer so far, oldest first."""
        out: list[tuple[float, float | None]] = []
        for e in self.transcript:
            if isinstance(e, AiMessage) and e.data.confidence is not None:
                out.append((e.data.confidence, e.data.threshold))
        if not out and self.packet:
            out = [(c, self.packet.threshold) for c in self.packet.confidence_history]
        return out

    def holder(self, fallback: AgentInfo | None = None) -> AgentInfo | None:
        """Who holds the conversation: from its events once loaded, else ``fallback``
        (the queue row's assignee)."""
        if self.packet is None and not self.events:
            return fallback
        return self.assigned_agent

    def queued_at(self) -> datetime | None:
        """When it entered the queue, UTC: its escalation (a release, a transfer to a
        team or a return to the queue keeps its place, and its waiting time)."""
        for e in reversed(self.transcript):
            if e.kind == "escalated":
                return e.at
        return self.packet.queued_at if self.packet else None

    def claimed_at(self) -> datetime | None:
        """When the current holder claimed it, UTC (``None`` unless assigned)."""
        if self.status != "assigned":
            return None
        for e in reversed(self.transcript):
            if e.kind == "claimed":
                return e.at
        return None

    def task(self) -> Task | None:
        """The visitor's call back or offline message still to be done: the latest one,
        unless the conversation was resolved or went back to the AI after it."""
        for e in reversed(self.transcript):
            if isinstance(e, CallbackRequested | OfflineMessage):
                return e
            if isinstance(e, Resolved | HandedBack | Reopened | CallbackDone | OfflineReply):
                return None
        return None

    def escalation(self) -> Escalated | None:
        """The latest ``escalated`` event."""
        for e in reversed(self.transcript):
            if isinstance(e, Escalated):
                return e
        return None

    def standing_escalation(self) -> tuple[bool, Escalated | None]:
        """Whether the transcript tells the escalation story, and the escalation that still
        stands: the latest ``escalated`` event unless the conversation went back to the AI
        after it (``reopened``, ``handed_back``: then ``None``). ``(False, None)`` when the
        transcript holds none of these (a packet loaded from a later ``seq``)."""
        for e in reversed(self.transcript):
            if isinstance(e, Escalated):
                return True, e
            if isinstance(e, Reopened | HandedBack):
                return True, None
        return False, None

    def current_trigger(self) -> TriggerInfo | None:
        """Why a person has the conversation now: the standing escalation's trigger (live
        events win over the packet, which was true when it was loaded)."""
        told, esc = self.standing_escalation()
        if told:
            return esc.data.trigger if esc else None
        return self.packet.trigger if self.packet else None

    def routing(self) -> tuple[int, str | None]:
        """(priority, team) of the standing escalation, the team of a later transfer to a
        team winning; (0, None) once back with the AI."""
        told, esc = self.standing_escalation()
        if told:
            if esc is None:
                return 0, None
            team = esc.data.team
            for e in self.transcript:
                if e.seq > esc.seq and isinstance(e, Transferred) and e.data.to_agent is None:
                    team = e.data.to_team  # transferred to a team since
            return esc.data.priority, team
        return (self.packet.priority, self.packet.team) if self.packet else (0, None)

    def question_analysis(self) -> str:
        """The AI's analysis of the visitor's latest real question: from an answer that
        arrived after the packet, else the packet's, else the newest answer's."""
        loaded = self.packet.last_seq if self.packet else 0
        for e in reversed(self.transcript):
            if e.seq <= loaded:
                break
            if isinstance(e, AiMessage) and e.data.question and e.data.analysis:
                return e.data.analysis
        if self.packet and self.packet.analysis:
            return self.packet.analysis
        for e in reversed(self.transcript):
            if isinstance(e, AiMessage) and e.data.analysis:
                return e.data.analysis
        return ""

    def draft_answer(self) -> str | None:
        """Text to insert as a reply draft: the AI's unsent answer from the escalation,
        else its last answer."""
        esc = self.escalation()
        if esc and esc.data.draft is not None and esc.data.draft.text.strip():
            return esc.data.draft.text
        for e in reversed(self.transcript):
            if isinstance(e, AiMessage) and e.data.text:
                return e.data.text
        return None

    def candidates(self) -> list[dict[str, Any]]:
        """Candidate KB entries with scores (0–1) from the packet or the escalation."""
        if self.packet and self.packet.candidates:
            return [c.model_dump() for c in self.packet.candidates]
        esc = self.escalation()
        if esc and esc.data.draft is not None:
            return [c.model_dump() for c in esc.data.draft.candidates]
        return []
