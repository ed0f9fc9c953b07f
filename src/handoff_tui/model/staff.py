"""The desk as the agent app knows it: the roster (who is online, their teams, capacity
and load), the agent's own presence, and the conversations offered to them (push).

:class:`StaffModel` takes the server's ``staff``, ``agent_status``, ``offer`` and
``offer_ended`` frames and says what changed; it never draws or sends.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from handoff_server.protocol import AgentStatus, SAgentStatus, SOffer, SOfferEnded, SStaff

__all__ = ["DeskFrame", "StaffModel", "TransferTarget"]

DeskFrame = SStaff | SAgentStatus | SOffer | SOfferEnded
"""The server frames about the desk."""


@dataclass(frozen=True)
class TransferTarget:
    """Somewhere a conversation can be transferred: a team (``team``) or an agent
    (``agent_id``), with a label for people and whether it can take it now."""

    label: str
    team: str | None = None
    agent_id: str | None = None
    available: bool = True


def _serves(agent: AgentStatus, team: str) -> bool:
    return not agent.teams or team in agent.teams


def _online(agent: AgentStatus) -> bool:
    return agent.status == "online" and agent.connected


@dataclass
class StaffModel:
    """The roster, the agent's own presence and their open offers."""

    agents: dict[str, AgentStatus] = field(default_factory=dict)
    """Every agent by id, as the server last said (empty until it answers ``presence``)."""
    wanted: Literal["online", "away"] = "online"
    """The presence this agent chose: sent on every (re)connection."""
    offers: dict[str, SOffer] = field(default_factory=dict)
    """Open offers to this agent, by conversation id, oldest first."""

    @property
    def known(self) -> bool:
        """True once the server sent the roster."""
        return bool(self.agents)

    def apply(self, frame: DeskFrame) -> SOffer | None:
        """Take a desk frame; returns the offer when it is a new one (worth telling)."""
        if isinstance(frame, SStaff):
            self.agents = {a.id: a for a in frame.agents}
        elif isinstance(frame, SAgentStatus):
            self.agents[frame.agent.id] = frame.agent
        elif isinstance(frame, SOffer):
            new = frame.item.conversation_id not in self.offers
            self.offers[frame.item.conversation_id] = frame
            return frame if new else None
        else:
            self.offers.pop(frame.conversation_id, None)
        return None

    def settle(self, conversation_id: str, status: str) -> None:
        """A conversation's row changed: an offer of one no longer queued is over."""
        if status != "queued":
            self.offers.pop(conversation_id, None)

    def me(self, agent_id: str | None) -> AgentStatus | None:
        """This agent's roster entry."""
        return self.agents.get(agent_id or "")

    def team_online(self, agent_id: str | None) -> list[tuple[str | None, int]]:
        """For each of this agent's teams (``None``: an agent of every team), how many
        agents serving it are online now (connected, not away)."""
        me = self.me(agent_id)
        if me is None:
            return []
        if not me.teams:
            return [(None, sum(1 for a in self.agents.values() if _online(a)))]
        return [
            (t, sum(1 for a in self.agents.values() if _online(a) and _serves(a, t)))
            for t in me.teams
        ]

    def targets(self, agent_id: str | None) -> list[TransferTarget]:
        """Where this agent can transfer a conversation: every team on the roster
        (with its online count), then every other agent (available when online with a
        free slot), by name."""
        teams = sorted({t for a in self.agents.values() for t in a.teams})
        out = []
        for team in teams:
            n = sum(1 for a in self.agents.values() if _online(a) and _serves(a, team))
            out.append(TransferTarget(f"team {team} · {n} online", team=team))
        others = sorted((a for a in self.agents.values() if a.id != agent_id), key=lambda a: a.name)
        for a in others:
            state = a.status if a.connected or a.status == "offline" else "gone"
            teams_text = ", ".join(a.teams) or "every team"
            label = f"{a.name} · {state} · {a.load}/{a.capacity} · {teams_text}"
            free = _online(a) and a.load < a.capacity
            out.append(TransferTarget(label, agent_id=a.id, available=free))
        return out

    def first_offer(self) -> SOffer | None:
        """The oldest open offer."""
        return next(iter(self.offers.values()), None)

    def seconds_left(self, offer: SOffer, now: datetime | None) -> int:
        """Whole seconds until ``offer`` expires (0 once past)."""
        if now is None:
            return int(offer.timeout_seconds)
        return max(0, int((offer.expires_at - now).total_seconds()))
