"""The teams a deployment knows: :func:`known_teams`.

An analytics request for a team nobody names would answer with an empty report, as if
the team had had no escalations; the CLI (``handoff report --team``) and the operator's
``analytics`` frame both refuse it instead, naming the teams there are.
"""

from __future__ import annotations

from collections.abc import Iterable

from handoff_server.errors import NotFound
from handoff_server.escalation import Policy
from handoff_server.store import Store

__all__ = ["check_team", "known_teams"]


def known_teams(store: Store, policy: Policy, configured: Iterable[str] = ()) -> list[str]:
    """Every team named anywhere, sorted: by the stored escalations (of any time), the
    agents, ``configured`` (``[assignment]``'s push and pull teams) and ``policy`` (its
    rules, keyword teams, intents, queue gates and fallbacks). Reads ``store`` (call it
    off the event loop)."""
    named: set[str | None] = {
        ev.data.get("team") for ev in store.events_of_kinds(("escalated",), None, None)
    }
    for agent in store.list_agents():
        named.update(agent.teams)
    named.update(configured)
    named.update(rule.team for rule in policy.rules)
    named.update(policy.keyword.teams.values())
    named.update(category.team for category in policy.intent.categories)
    named.update(policy.fallbacks.teams)
    return sorted(team for team in named if team)


def check_team(team: str, known: list[str], *, option: str = "team") -> None:
    """Raise :class:`~handoff_server.errors.NotFound` (``not_found``) naming ``team`` and
    the ``known`` ones unless it is one of them; ``option``: how the request named it
    (``--team`` on the command line)."""
    if team not in known:
        raise NotFound(
            f"{option} {team!r}: no escalation, agent, assignment setting or policy names"
            f" this team; known teams: {', '.join(known) or 'none'}"
        )
