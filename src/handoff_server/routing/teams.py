"""Which team gets an escalated conversation, and how urgently."""

from __future__ import annotations

from dataclasses import dataclass

from handoff_server.escalation import Decision

__all__ = ["Route", "route"]


@dataclass(frozen=True)
class Route:
    """Where a handoff goes: ``team`` (``None``: anyone) and ``priority`` (higher first,
    0 normal)."""

    team: str | None
    priority: int


def route(decision: Decision) -> Route:
    """The route of an escalating decision: the policy alone routes. A team guessed from
    the AI's best KB entry on a low-confidence turn would send the visitor to the wrong
    people, so the answer's ``team`` is not used."""
    return Route(team=decision.team, priority=decision.priority)
