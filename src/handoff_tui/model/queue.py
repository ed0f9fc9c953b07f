"""The queue as the agent sees it, kept apart from widgets so it can be tested and measured.

:class:`QueueModel` holds the queue rows and their sorted, filtered view; :class:`QueueView`,
:class:`QueueFilter` and :class:`QueueSort` say what it lists and how.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from handoff_server.protocol import AgentInfo, ConversationStatus, QueueItem

__all__ = ["SUBSCRIBED", "QueueFilter", "QueueModel", "QueueSort", "QueueView", "format_wait"]


class QueueView(StrEnum):
    """Which conversations the queue screen lists (and the app subscribes to)."""

    QUEUE = "queue"
    """Queued and assigned conversations: the ones waiting for or held by a person."""
    AI = "ai"
    """Conversations the AI is handling on its own."""


SUBSCRIBED: dict[QueueView, tuple[ConversationStatus, ...]] = {
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


def _sort_key(sort: QueueSort, teams: frozenset[str] = frozenset()):
    """Rows of ``teams`` (the agent's) first, then ``sort``'s order."""

    def queued(item: QueueItem) -> datetime:
        # A conversation with the AI was never queued: the AI view orders it by its last
        # message, the longest idle first, as the queue orders by the longest waiting.
        return item.queued_at or item.updated_at

    def others(item: QueueItem) -> bool:
        return bool(teams) and item.team not in teams

    if sort is QueueSort.WAITING:
        return lambda i: (others(i), queued(i), i.conversation_id)
    if sort is QueueSort.CONFIDENCE:
        return lambda i: (
            others(i),
            i.last_confidence if i.last_confidence is not None else -1.0,
            queued(i),
            i.conversation_id,
        )
    return lambda i: (others(i), -i.priority, queued(i), i.conversation_id)


class QueueModel:
    """The queue as the agent sees it: rows by conversation id plus a sorted, filtered view,
    the agent's teams' rows first (once known: ``my_teams``).

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
        self.every_team = False
        """The roster says this agent serves every team (no teams of their own), as
        ``handoff agents list`` prints "(every team)": the ``team`` filter hides nothing."""
        self.claimed_at: dict[str, datetime] = {}
        """When each assigned row was claimed (UTC), for claims this app saw happen: the
        ``queue_item`` a claim causes carries the claim's time as ``updated_at``. Rows
        already assigned in a ``queue`` snapshot have no entry."""
        self._view: list[QueueItem] | None = None

    @property
    def statuses(self) -> tuple[ConversationStatus, ...]:
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

    def remove(self, cid: str) -> None:
        """Drop ``cid``'s row, whatever its status (the conversation was erased)."""
        self.items.pop(cid, None)
        self.claimed_at.pop(cid, None)
        self._view = None

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

    def set_teams(self, teams: frozenset[str], every_team: bool = False) -> None:
        """The agent's teams (from the roster): listed first, and what ``team`` shows;
        ``every_team``: the roster lists this agent with no teams, so they serve every
        team and ``team`` shows every row."""
        if teams != self.my_teams or every_team != self.every_team:
            self.my_teams = teams
            self.every_team = every_team
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
            if self.every_team:
                return True
            # Until the roster says the agent's teams: rows of no team and their own.
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
            rows.sort(key=_sort_key(self.sort, self.my_teams))
            self._view = rows
        return self._view

    def hidden(self) -> dict[str, int]:
        """Rows of the current view the filter hides, by status (only those with any):
        ``{"queued": 2}``; empty with the ``all`` filter."""
        shown = {i.conversation_id for i in self.view}
        out = dict.fromkeys(("queued", "assigned", "ai"), 0)
        for item in self.items.values():
            if item.status in _SHOWN[self.mode] and item.conversation_id not in shown:
                out[item.status] += 1
        return {status: n for status, n in out.items() if n}

    def counts(self) -> dict[str, int]:
        """Rows by status (``ai``, ``queued``, ``assigned``), whatever the view and filter."""
        out = dict.fromkeys(("ai", "queued", "assigned"), 0)
        for item in self.items.values():
            out[item.status] = out.get(item.status, 0) + 1
        return out
