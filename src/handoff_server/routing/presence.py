"""Agents' presence, capacity and teams: who can take a conversation now.

:class:`Presence` keeps every agent in memory as an :class:`AgentState`: the teams they
serve (none: every team), their capacity, the conversations they hold (learnt from every
queue row the service publishes, see :meth:`Presence.observe`), the claims and offers in
flight, and their presence:

- an agent is ``offline`` until one of their connections says ``presence`` (the agent
  UI does on connecting; scripts and ``handoff queue`` do not, so looking at the queue
  never puts anyone online); then ``online`` or ``away`` as they say;
- when the last connection that said it is gone, the agent keeps their status and their
  conversations for the grace period (no offers meanwhile: nobody could accept them);
  a connection saying ``presence`` within it carries on as if nothing happened;
- past it the agent is ``offline`` and, once no connection of theirs at all is open, the
  conversations they hold are handed to ``on_gone`` (which puts them back in the queue).
  A server that starts with conversations assigned gives their holders the same grace.
- an agent whose token stopped working (:meth:`Presence.end`, told by the desk) is off
  the roster at once, reaches no offer and counts nowhere; no grace period: nobody can
  come back with that token.

Several nodes on one store share presence (:mod:`.board`): each node publishes the
agents connected to it (:meth:`Presence.local_rows`) and learns those connected to the
others (:meth:`Presence.elsewhere`). An agent online on any node counts as online
everywhere (wait estimates, the queue gate, the roster, transfers), and their
conversations go back to the queue only once no node has a connection of theirs. Offers
and ``waiting_work`` frames go to the agents connected to this node (each node offers
to its own). Capacity is checked here for a fast answer and again by the store in the
claim's transaction, where every node's claims count.

:class:`Staffing` is what other parts of routing (wait estimates, the queue gate,
fallbacks) ask of it. Never here: storing anything or changing a conversation.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Collection, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from pydantic import BaseModel

from handoff_server.config import AssignmentSettings
from handoff_server.errors import WireError
from handoff_server.protocol import (
    AgentInfo,
    AgentStatus,
    PresenceStatus,
    QueueItem,
    SAgentStatus,
    SStaff,
)
from handoff_server.routing.board import PresenceRow
from handoff_server.store import AgentRecord

__all__ = ["AgentState", "Client", "Presence", "Staffing", "serves"]


class Staffing(Protocol):
    """Who can take conversations now, per team (``None``: any team; an agent with no
    teams serves every team)."""

    heard_at: datetime | None
    """When what is known of the agents on other nodes was read (UTC; ``None``: one
    node, nothing to hear, always current). An agent who connected to another node
    before then is counted; one who connected since may not be yet."""

    def online_agents(self, team: str | None) -> int:
        """Agents online (not away, client connected) serving ``team``."""
        ...

    def free_capacity(self, team: str | None, passed: Collection[str] = ()) -> int:
        """Sum over those agents of capacity − current load (held conversations, claims
        and offers in flight): how many more conversations they can take now.
        ``passed``: ids of agents left out (they passed on the conversation asked
        about: push assignment offers it to them no more)."""
        ...

    def on_available(self, callback: Callable[[str | None], None]) -> None:
        """Call ``callback(team)`` when an agent comes online or frees a slot: once per
        team they serve, or once with ``None`` for an agent with no teams. Called soon
        after the change, from the event loop, never inside it."""
        ...

    def candidates(self, team: str | None) -> list[AgentState]:
        """Agents who could take a ``team`` conversation now: online, connected,
        serving it, with a free slot."""
        ...


class Client(Protocol):
    """A connection frames can be pushed to (the hub's ``Subscriber``)."""

    def push(self, frame: BaseModel) -> None:
        """Queue ``frame`` for sending; never blocks."""
        ...


def serves(teams: Iterable[str], team: str | None) -> bool:
    """Whether an agent of ``teams`` serves a conversation of ``team``: one with no teams
    serves every team, and a conversation with no team goes to anyone."""
    teams = frozenset(teams)
    return not teams or team is None or team in teams


@dataclass(eq=False)
class AgentState:
    """One agent as routing knows them."""

    info: AgentInfo
    teams: tuple[str, ...] = ()
    capacity_setting: int | None = None
    """Their own capacity, ``None`` for the default."""
    default_capacity: int = 3
    status: PresenceStatus = "offline"
    clients: set[Client] = field(default_factory=set)
    """Open connections that said their presence."""
    links: int = 0
    """Open connections of any kind (a script's included)."""
    held: set[str] = field(default_factory=set)
    """Conversations assigned to them."""
    seats: int = 0
    """Changes assigning them a conversation being stored now."""
    offers: set[str] = field(default_factory=set)
    """Conversations offered to them, not answered yet."""
    gone: asyncio.TimerHandle | None = None
    """The grace period's timer while no connection that said its presence is open."""
    last_offer: float = 0.0
    """When they were last offered a conversation (monotonic seconds): among agents
    equally loaded the one waiting longest gets the next offer."""
    elsewhere: PresenceStatus | None = None
    """Their status on other nodes (the best of them: ``online`` over ``away``), as
    those nodes last published it; ``None``: no connection of theirs on another node."""
    elsewhere_connected: bool = False
    """Whether a connection of theirs that said its presence is open on another node."""
    ended: str | None = None
    """Why their token no longer works (``"token revoked"``, ``"token expired"``,
    ``"unknown token"``: deleted), once routing has read it: they are off the roster, no
    offer and no transfer reaches them. ``None``: it works."""

    @property
    def capacity(self) -> int:
        """Most conversations they hold at once."""
        return self.capacity_setting or self.default_capacity

    @property
    def busy(self) -> int:
        """Slots in use: held conversations, claims being stored, open offers."""
        return len(self.held) + self.seats + len(self.offers)

    @property
    def load_words(self) -> str:
        """The whole load in words: "capacity 1, 1 in use (1 being assigned)". Held
        conversations alone would say "holds 0" while a concurrent claim or transfer, or
        an open offer, takes the slot."""
        parts = [
            f"{n} {what}"
            for n, what in (
                (len(self.held), "held"),
                (self.seats, "being assigned"),
                (len(self.offers), "offered"),
            )
            if n
        ]
        return f"capacity {self.capacity}, {self.busy} in use ({', '.join(parts) or 'none'})"

    @property
    def free(self) -> int:
        """Slots free now (0 or more)."""
        return max(0, self.capacity - self.busy)

    @property
    def reachable(self) -> bool:
        """Online with a connection that said so, and a token that works: offers can
        reach them."""
        return self.status == "online" and bool(self.clients) and self.ended is None

    @property
    def present(self) -> bool:
        """Online with a connection that said so, on this node or another: they count
        as online (wait estimates, the queue gate, transfers). Never once their token
        no longer works."""
        if self.ended is not None:
            return False
        return self.reachable or (self.elsewhere == "online" and self.elsewhere_connected)

    @property
    def shown_status(self) -> PresenceStatus:
        """Their status across nodes: ``online`` if online anywhere, else this node's
        while connected here, else the other nodes'."""
        if self.present:
            return "online"
        if not self.clients and self.elsewhere_connected and self.elsewhere is not None:
            return self.elsewhere
        return self.status

    def serves(self, team: str | None) -> bool:
        """Whether they serve conversations of ``team``."""
        return serves(self.teams, team)

    def view(self) -> AgentStatus:
        """How colleagues see them."""
        return AgentStatus(
            id=self.info.id,
            name=self.info.name,
            role=self.info.role,
            status=self.shown_status,
            connected=bool(self.clients) or self.elsewhere_connected,
            teams=list(self.teams),
            capacity=self.capacity,
            load=len(self.held),
        )


class Presence:
    """Every agent's presence, teams, capacity and load; implements :class:`Staffing`
    and the service's :class:`~handoff_server.conversations.sink.Seats`.

    ``default_capacity``: conversations per agent unless set for them. ``grace_seconds``:
    how long an agent whose client is gone keeps status and conversations.
    ``on_gone(agent, conversation_ids)``: called when the conversations of an agent
    gone past the grace period must go back to the queue. Use from the event loop."""

    def __init__(
        self,
        default_capacity: int,
        grace_seconds: float,
        on_gone: Callable[[AgentInfo, list[str]], None] = lambda agent, ids: None,
    ) -> None:
        self.default_capacity = default_capacity
        self.grace_seconds = grace_seconds
        self.on_gone = on_gone
        self.agents: dict[str, AgentState] = {}
        self.holders: dict[str, str] = {}
        """Conversation id → id of the agent it is assigned to."""
        self._available: list[Callable[[str | None], None]] = []
        self.heard_at: datetime | None = None
        """When the other nodes' rows last given to :meth:`elsewhere` were read
        (:class:`Staffing`)."""
        self.on_local: Callable[[], None] = lambda: None
        """Called when what :meth:`local_rows` returns may have changed (the presence
        sync writes it at once)."""

    @classmethod
    def from_settings(cls, settings: AssignmentSettings) -> Presence:
        """A presence from ``[assignment]``; set :attr:`on_gone` before use (the desk
        does)."""
        return cls(settings.default_capacity, settings.disconnect_grace_seconds)

    # ----------------------------------------------------------------- who exists

    def know(self, record: AgentRecord) -> AgentState:
        """Learn or refresh an agent from the store (at start, at every sign-in: teams
        and capacity changed by ``handoff agents set`` apply from then on)."""
        state = self.agents.get(record.id)
        info = AgentInfo(id=record.id, name=record.name, role=record.role)
        if state is None:
            state = self.agents[record.id] = AgentState(
                info, default_capacity=self.default_capacity
            )
        before = state.view()
        state.info, state.teams, state.capacity_setting = info, tuple(record.teams), record.capacity
        if state.ended is not None:
            state.ended = None  # signed in again: the token works (the store said so now)
            self.tell_roster()
        elif state.view() != before:
            self._changed(state, freed=state.view().capacity > before.capacity)
        return state

    def _state(self, agent: AgentInfo) -> AgentState:
        state = self.agents.get(agent.id)
        if state is None:
            # Someone not on the roster (an agent deleted from the store still holding a
            # conversation): known by what the conversation says of them.
            state = self.agents[agent.id] = AgentState(
                agent, default_capacity=self.default_capacity
            )
        return state

    def roster(self) -> list[AgentStatus]:
        """Every agent whose token works, as colleagues see them, by name."""
        shown = (s.view() for s in self.agents.values() if s.ended is None)
        return sorted(shown, key=lambda a: (a.name, a.id))

    def end(self, agent_id: str, reason: str) -> list[str]:
        """``agent_id``'s token no longer works (``reason``, see :attr:`AgentState.ended`):
        they leave the roster at once (every present connection gets it again, as
        ``staff``), and their grace period, if one runs, is over. Returns the
        conversations they hold (to go back to the queue now: nobody can come back
        with that token); ``[]`` when they had ended already."""
        state = self.agents.get(agent_id)
        if state is None or state.ended is not None:
            return []
        state.ended = reason
        if state.gone is not None:
            state.gone.cancel()
            state.gone = None
        self.tell_roster()
        return sorted(state.held)

    def tell_roster(self) -> None:
        """Send the whole roster (``staff``) to every present connection: an agent left
        it or came back to it, which one ``agent_status`` cannot say."""
        frame = SStaff(agents=self.roster())
        for other in self.agents.values():
            for client in other.clients:
                client.push(frame)

    # ----------------------------------------------------------------- connections

    def linked(self, agent: AgentInfo) -> None:
        """A connection of ``agent`` opened (any kind)."""
        self._state(agent).links += 1
        self.on_local()

    def declare(self, agent: AgentInfo, client: Client, status: PresenceStatus) -> None:
        """``client`` (a connection of ``agent``) says they are ``status``."""
        state = self._state(agent)
        came = status == "online" and not state.reachable
        state.clients.add(client)
        state.status = status
        if state.gone is not None:
            state.gone.cancel()
            state.gone = None
        self._changed(state, freed=came)
        self.on_local()

    def unlinked(self, agent: AgentInfo, client: Client) -> None:
        """A connection of ``agent`` closed; the grace period starts when it was their
        last present one (or their last of any kind while they hold conversations)."""
        state = self._state(agent)
        state.links = max(0, state.links - 1)
        had = client in state.clients
        state.clients.discard(client)
        self.on_local()
        if state.clients:
            return
        if had:
            self._changed(state)
        if state.status != "offline" or (state.held and not state.links):
            self._start_grace(state)

    def _start_grace(self, state: AgentState) -> None:
        if state.gone is None:
            loop = asyncio.get_running_loop()
            state.gone = loop.call_later(self.grace_seconds, self._grace_over, state)

    def _grace_over(self, state: AgentState) -> None:
        state.gone = None
        if state.clients:
            return
        if state.status != "offline":
            state.status = "offline"
            self._changed(state)
        if state.held and not state.links and state.elsewhere is None:
            self.on_gone(state.info, sorted(state.held))

    # ----------------------------------------------------------------- conversations

    def observe(self, item: QueueItem) -> None:
        """A conversation's new queue row: who holds it now (a claim, a release, a
        transfer, a resolution...)."""
        cid = item.conversation_id
        before = self.holders.get(cid)
        holder = item.assigned_agent if item.status == "assigned" else None
        if before == (holder.id if holder else None):
            return
        if before is not None:
            del self.holders[cid]
            old = self.agents.get(before)
            if old is not None:
                old.held.discard(cid)
                self._changed(old, freed=True)
        if holder is not None:
            self.holders[cid] = holder.id
            state = self._state(holder)
            state.held.add(cid)
            self._changed(state)
            if not state.clients and not state.links and state.elsewhere is None:
                self._start_grace(state)

    @contextmanager
    def seat(self, agent: AgentInfo) -> Iterator[int]:
        """Hold one of ``agent``'s free slots for the ``with`` block (a claim being
        stored), which gets their capacity (for the store's check across nodes). Raises
        ``WireError`` (``at_capacity``) when they have none here."""
        state = self._state(agent)
        if state.free <= 0:
            raise WireError(
                f"{agent.name} has no free slot: {state.load_words}", code="at_capacity"
            )
        state.seats += 1
        try:
            yield state.capacity
        finally:
            state.seats -= 1

    def offered(self, state: AgentState, conversation_id: str) -> None:
        """``state`` got an offer of the conversation (it takes one of their slots)."""
        state.offers.add(conversation_id)
        state.last_offer = time.monotonic()

    def offer_over(self, agent_id: str, conversation_id: str) -> None:
        """The offer to ``agent_id`` ended (accepted, declined, expired, taken)."""
        state = self.agents.get(agent_id)
        if state is not None:
            state.offers.discard(conversation_id)

    def forget(self, conversation_id: str) -> None:
        """The conversation was erased from the store: whoever held it, or had an offer
        of it, has that slot free now (the roster told; :meth:`on_available` called)."""
        self.holders.pop(conversation_id, None)
        for state in self.agents.values():
            if conversation_id in state.held or conversation_id in state.offers:
                state.held.discard(conversation_id)
                state.offers.discard(conversation_id)
                self._changed(state, freed=True)

    def candidates(self, team: str | None) -> list[AgentState]:
        """Agents an offer of a ``team`` conversation can go to: online, connected,
        serving it, with a free slot."""
        return [s for s in self.agents.values() if s.reachable and s.serves(team) and s.free]

    # ----------------------------------------------------------------- other nodes

    def local_rows(self) -> list[PresenceRow]:
        """The agents with a connection open on this node, as other nodes should see
        them (see :mod:`.board`)."""
        return [
            PresenceRow(
                agent_id=s.info.id,
                name=s.info.name,
                role=s.info.role,
                teams=s.teams,
                capacity=s.capacity_setting,
                status=s.status if s.clients else "offline",
                connected=bool(s.clients),
            )
            for s in self.agents.values()
            if s.links or s.clients
        ]

    def elsewhere(self, rows: Iterable[PresenceRow], read_at: datetime | None = None) -> None:
        """Other nodes' live rows, all of them (an agent absent from ``rows`` has no
        connection on another node now), read at ``read_at`` (:attr:`heard_at`): update
        each agent's :attr:`AgentState.elsewhere`, tell the roster of every change, and
        start the grace period of an agent holding conversations whose last connection
        anywhere is gone."""
        if read_at is not None:
            self.heard_at = read_at
        seen: dict[str, list[PresenceRow]] = {}
        for row in rows:
            seen.setdefault(row.agent_id, []).append(row)
        for agent_id in set(seen) | {i for i, s in self.agents.items() if s.elsewhere}:
            state = self.agents.get(agent_id)
            theirs = seen.get(agent_id, [])
            if state is None:
                first = theirs[0]
                info = AgentInfo(id=first.agent_id, name=first.name, role=first.role)
                state = self.agents[agent_id] = AgentState(
                    info, first.teams, first.capacity, self.default_capacity
                )
            self._elsewhere(state, theirs)

    def _elsewhere(self, state: AgentState, rows: list[PresenceRow]) -> None:
        connected = [r for r in rows if r.connected]
        status: PresenceStatus | None = None
        if rows:
            status = "online" if any(r.status == "online" for r in connected) else "offline"
            if status == "offline" and connected:
                status = "away"
        before = (state.elsewhere, state.elsewhere_connected, state.present)
        state.elsewhere, state.elsewhere_connected = status, bool(connected)
        if (state.elsewhere, state.elsewhere_connected, state.present) == before:
            return
        self._changed(state, freed=state.present and not before[2])
        if status is None and state.held and not state.clients and not state.links:
            self._start_grace(state)

    # ----------------------------------------------------------------- Staffing

    def online_agents(self, team: str | None) -> int:
        """Agents online (not away, client connected, on any node) serving ``team``."""
        return sum(1 for s in self.agents.values() if s.present and s.serves(team))

    def free_capacity(self, team: str | None, passed: Collection[str] = ()) -> int:
        """Free slots of the agents :meth:`online_agents` counts, but those in
        ``passed`` (agent ids)."""
        return sum(
            s.free
            for s in self.agents.values()
            if s.present and s.serves(team) and s.info.id not in passed
        )

    def on_available(self, callback: Callable[[str | None], None]) -> None:
        """Call ``callback(team)`` soon after an agent comes online or frees a slot."""
        self._available.append(callback)

    # ----------------------------------------------------------------- telling

    def _changed(self, state: AgentState, *, freed: bool = False) -> None:
        """Tell every present connection; if ``state`` can take more now, the
        :meth:`on_available` callbacks."""
        if state.ended is not None:
            return  # off the roster: colleagues are not told of them
        frame = SAgentStatus(agent=state.view())
        for other in self.agents.values():
            for client in other.clients:
                client.push(frame)
        if freed and state.present and state.free:
            loop = asyncio.get_running_loop()
            for team in state.teams or (None,):
                for callback in self._available:
                    loop.call_soon(callback, team)
