"""Who can take a conversation: the :class:`Staffing` interface routing reads, and a
simple implementation from what the server knows today (:class:`ConnectedStaffing`).

Wait estimates, the queue gate and the offer of waiting work read agents only through
:class:`Staffing`; presence (online/away/offline), per-agent capacity and teams plug in
behind it without changing them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Protocol

from handoff_server.protocol import ConversationStatus

__all__ = ["ConnectedStaffing", "Staffing"]


class Staffing(Protocol):
    """The agents able to take a team's conversations, now."""

    def online_agents(self, team: str | None) -> int:
        """Online (not away) agents serving ``team`` (``None``: any team)."""
        ...

    def free_capacity(self, team: str | None) -> int:
        """Sum over those agents of capacity − current load (conversations held)."""
        ...

    def on_available(self, callback: Callable[[str | None], None]) -> None:
        """Call ``callback`` with the team when an agent comes online or frees a slot
        (``None``: an agent of any team; every team may have work for them)."""
        ...


class ConnectedStaffing:
    """:class:`Staffing` from what exists today: an agent is online while connected and
    signed in, every agent serves every team, each can hold ``capacity`` conversations,
    and their load is the conversations assigned to them.

    ``online_ids`` returns the ids of the agents connected now (the hub's). Tell it of
    agents signing in (:meth:`agent_online`) and of every conversation change
    (:meth:`track`); seed the load with :meth:`seed`. Every agent
    serving every team, ``on_available`` callbacks get ``None``."""

    def __init__(self, online_ids: Callable[[], set[str]], capacity: int) -> None:
        self._online_ids = online_ids
        self.capacity = capacity
        self._holder: dict[str, str] = {}
        """Conversation id → the agent holding it (assigned conversations only)."""
        self._callbacks: list[Callable[[str | None], None]] = []

    def online_agents(self, team: str | None) -> int:
        """Agents connected now (all serve every team)."""
        return len(self._online_ids())

    def free_capacity(self, team: str | None) -> int:
        """Free slots of the agents connected now."""
        load: dict[str, int] = {}
        for agent in self._holder.values():
            load[agent] = load.get(agent, 0) + 1
        return sum(max(0, self.capacity - load.get(a, 0)) for a in self._online_ids())

    def load(self, agent_id: str) -> int:
        """Conversations ``agent_id`` holds."""
        return sum(1 for a in self._holder.values() if a == agent_id)

    def on_available(self, callback: Callable[[str | None], None]) -> None:
        """Register ``callback`` (see :class:`Staffing`)."""
        self._callbacks.append(callback)

    def seed(self, assigned: Iterable[tuple[str, str]]) -> None:
        """The assigned conversations at start: ``(conversation id, agent id)`` pairs."""
        self._holder = dict(assigned)

    def track(self, conversation_id: str, status: ConversationStatus, agent_id: str | None) -> None:
        """A conversation changed: follow who holds what (``agent_id`` when
        ``assigned``); a slot freed by an online agent makes them available."""
        was = self._holder.pop(conversation_id, None)
        if status == "assigned" and agent_id is not None:
            self._holder[conversation_id] = agent_id
        freed = was is not None and self._holder.get(conversation_id) != was
        if freed and was in self._online_ids():
            self._available()

    def agent_online(self, agent_id: str) -> None:
        """Agent ``agent_id`` signed in: they are available."""
        self._available()

    def _available(self) -> None:
        for callback in list(self._callbacks):
            callback(None)
