"""What the agent app knows, kept apart from widgets so it can be tested and measured.

:class:`QueueModel` holds the queue rows and their sorted, filtered view.
:class:`ConversationState` holds one open conversation: its handoff packet, its events by
sequence number (each stored once, so a resume after a reconnect never doubles a line),
unread count, typing indicators and the agent's own frames still in flight.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, Literal

from handoff_server.protocol import (
    AgentInfo,
    AgentMessage,
    AiMessage,
    Claimed,
    Escalated,
    Event,
    HandedBack,
    HandoffPacket,
    Note,
    QueueItem,
    Released,
    Resolved,
)

__all__ = [
    "ConversationState",
    "PendingSend",
    "QueueFilter",
    "QueueModel",
    "QueueSort",
    "QueueView",
    "acting_agent_id",
    "allowed",
    "format_wait",
    "status_hint",
]


class QueueView(StrEnum):
    """Which conversations the queue screen lists (and the app subscribes to)."""

    QUEUE = "queue"
    """Queued and assigned conversations: the ones waiting for or held by a person."""
    AI = "ai"
    """Conversations the AI is handling on its own."""


SUBSCRIBED: dict[QueueView, tuple[str, ...]] = {
    QueueView.QUEUE: ("queued", "assigned"),
    # The AI view keeps queued and assigned rows too, so new escalations still arrive
    # (with their notification) while the agent watches the AI at work.
    QueueView.AI: ("ai", "queued", "assigned"),
}
"""The ``statuses`` sent with ``subscribe_queue`` for each view."""

_SHOWN: dict[QueueView, frozenset[str]] = {
    QueueView.QUEUE: frozenset({"queued", "assigned"}),
    QueueView.AI: frozenset({"ai"}),
}


class QueueFilter(StrEnum):
    """Which rows the queue table shows."""

    ALL = "all"
    MINE = "mine"
    TEAM = "team"


class QueueSort(StrEnum):
    """How the queue table is ordered."""

    PRIORITY = "priority"
    """Highest priority first, then longest waiting."""
    WAITING = "waiting"
    """Longest waiting first."""
    CONFIDENCE = "confidence"
    """Lowest AI confidence first (the AI was least sure)."""


def format_wait(seconds: float) -> str:
    """Waiting time for people: ``42s``, ``3m05s``, ``2h07m``."""
    s = max(0, int(seconds))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s // 3600}h{(s % 3600) // 60:02d}m"


def _sort_key(sort: QueueSort):
    def queued(item: QueueItem) -> datetime:
        # A conversation with the AI was never queued: the AI view orders it by its last
        # message, the longest idle first, as the queue orders by the longest waiting.
        return item.queued_at or item.updated_at

    if sort is QueueSort.WAITING:
        return lambda i: (queued(i), i.conversation_id)
    if sort is QueueSort.CONFIDENCE:
        return lambda i: (
            i.last_confidence if i.last_confidence is not None else -1.0,
            queued(i),
            i.conversation_id,
        )
    return lambda i: (-i.priority, queued(i), i.conversation_id)


class QueueModel:
    """The queue as the agent sees it: rows by conversation id plus a sorted, filtered view.

    Updates only mark the view stale; it is rebuilt once, when next read, so a burst of
    ``queue_item`` frames costs one sort, not one per frame.
    """

    def __init__(self) -> None:
        self.items: dict[str, QueueItem] = {}
        self.sort: QueueSort = QueueSort.PRIORITY
        self.filter: QueueFilter = QueueFilter.ALL
        self.mode: QueueView = QueueView.QUEUE
        self.me: AgentInfo | None = None
        self.my_teams: frozenset[str] = frozenset()
        self.claimed_at: dict[str, datetime] = {}
        """When each assigned row was claimed (UTC), for claims this app saw happen: the
        ``queue_item`` a claim causes carries the claim's time as ``updated_at``. Rows
        already assigned in a ``queue`` snapshot have no entry."""
        self._view: list[QueueItem] | None = None

    @property
    def statuses(self) -> tuple[str, ...]:
        """The statuses subscribed to in the current view (``subscribe_queue``)."""
        return SUBSCRIBED[self.mode]

    def set_mode(self, mode: QueueView) -> None:
        """Switch views; rows outside the new subscription are dropped at once."""
        self.mode = mode
        self.items = {k: i for k, i in self.items.items() if i.status in self.statuses}
        self._view = None

    def replace(self, items: list[QueueItem]) -> None:
        """Replace every row with a fresh ``queue`` snapshot."""
        self.items = {i.conversation_id: i for i in items if i.status in self.statuses}
        self.claimed_at = {
            k: at
            for k, at in self.claimed_at.items()
            if k in self.items and self.items[k].status == "assigned"
        }
        self._view = None

    def apply(self, item: QueueItem) -> bool:
        """Upsert one ``queue_item``; a row whose status left the subscribed set is removed.

        Returns True when this is a newly queued conversation (worth a notification).
        """
        cid = item.conversation_id
        old = self.items.get(cid)
        if item.status in self.statuses:
            self.items[cid] = item
        else:
            self.items.pop(cid, None)
        if item.status == "assigned":
            if old is None or old.status != "assigned":
                self.claimed_at[cid] = item.updated_at
        else:
            self.claimed_at.pop(cid, None)
        self._view = None
        return item.status == "queued" and (old is None or old.status != "queued")

    def waiting(self, item: QueueItem, now: datetime | None) -> float | None:
        """Seconds the visitor has waited for a person: until ``now`` while queued, until
        the claim once assigned (``None`` when the claim's time is not known), ``None``
        for other statuses."""
        if item.queued_at is None or now is None:
            return None
        if item.status == "queued":
            return (now - item.queued_at).total_seconds()
        claimed = self.claimed_at.get(item.conversation_id)
        if item.status == "assigned" and claimed is not None:
            return (claimed - item.queued_at).total_seconds()
        return None

    def set_sort(self, sort: QueueSort) -> None:
        """Order rows by ``sort``."""
        self.sort = sort
        self._view = None

    def set_filter(self, flt: QueueFilter) -> None:
        """Show only rows matching ``flt``."""
        self.filter = flt
        self._view = None

    def _visible(self, item: QueueItem) -> bool:
        if item.status not in _SHOWN[self.mode]:
            return False
        if self.filter is QueueFilter.MINE:
            return bool(self.me and item.assigned_agent and item.assigned_agent.id == self.me.id)
        if self.filter is QueueFilter.TEAM:
            # An agent without known teams sees unassigned-team rows and their own.
            if self.my_teams:
                return item.team in self.my_teams
            return item.team is None or bool(
                self.me and item.assigned_agent and item.assigned_agent.id == self.me.id
            )
        return True

    @property
    def view(self) -> list[QueueItem]:
        """Visible rows in display order."""
        if self._view is None:
            rows = [i for i in self.items.values() if self._visible(i)]
            rows.sort(key=_sort_key(self.sort))
            self._view = rows
        return self._view

    def counts(self) -> dict[str, int]:
        """Rows by status (``ai``, ``queued``, ``assigned``), whatever the view and filter."""
        out = dict.fromkeys(("ai", "queued", "assigned"), 0)
        for item in self.items.values():
            out[item.status] = out.get(item.status, 0) + 1
        return out


@dataclass
class PendingSend:
    """A state-changing frame the agent sent that the server has not acknowledged yet."""

    client_msg_id: str
    kind: Literal["reply", "note", "claim", "resolve", "release", "handback"]
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
    "handed_back": "ai",
    "resolved": "resolved",
    "reopened": "ai",
}


def acting_agent_id(event: Event) -> str | None:
    """The id of the agent whose action or message ``event`` is (``None``: no agent's,
    or only the agent's name is known)."""
    if isinstance(event, Claimed | AgentMessage | Note | Released | HandedBack | Resolved):
        agent = event.data.agent
        return agent.id if isinstance(agent, AgentInfo) else None
    return None


def allowed(action: str, status: str, holder: AgentInfo | None, me: AgentInfo | None) -> bool:
    """Whether ``me`` may ``claim`` / ``resolve`` / ``release`` / ``handback`` a conversation
    in ``status`` held by ``holder`` — the server's rules, so the UI offers only what works.
    Other actions are always allowed."""
    mine = bool(holder and me and holder.id == me.id)
    operator = bool(me and me.role == "operator")
    held = status == "assigned" and (mine or operator)
    if action == "claim":
        return status in ("ai", "queued")
    if action == "resolve":
        return status in ("ai", "queued") or held
    if action == "release":
        return status == "assigned" and mine
    if action == "handback":
        return status == "queued" or held
    return True


def status_hint(status: str, holder: AgentInfo | None, me: AgentInfo | None) -> str | None:
    """One line above the reply box saying what the agent can do here, or ``None`` when
    the conversation is theirs to answer."""
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
        """When it last entered the queue (escalated or released), UTC."""
        for e in reversed(self.transcript):
            if e.kind in ("escalated", "released"):
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

    def escalation(self) -> Escalated | None:
        """The latest ``escalated`` event."""
        for e in reversed(self.transcript):
            if isinstance(e, Escalated):
                return e
        return None

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
