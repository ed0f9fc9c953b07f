"""``handoff agents list|set``: who can sign in, the teams they serve and their capacity.

A running server reads an agent's teams and capacity when they sign in: a change made
here applies from the agent's next sign-in (their agent UI reconnecting is one).

A team nobody names yet (no policy rule or keyword, ``[assignment]`` setting, other
agent or past escalation: :func:`~handoff_server.analytics.teams.known_teams`) is
accepted with a warning, not refused: staffing a new team comes before routing to it
(a rule routing to a team nobody serves would queue its visitors for nobody), and a
typo ("biling") is caught by the warning's "did you mean". Two agents who could both
sign in may not share a name (:func:`check_name_free`).
"""

from __future__ import annotations

import difflib
from typing import Annotated, Any

import regex
import typer

from handoff_cli.common import (
    ConfigOpt,
    DataDirOpt,
    JsonOpt,
    StoreOpt,
    fail,
    print_json,
    settings_from,
)
from handoff_cli.output import echo, one_line, table
from handoff_server.analytics.teams import known_teams
from handoff_server.config import Settings
from handoff_server.errors import StoredPolicyInvalid
from handoff_server.policies import policy_in_force
from handoff_server.protocol import TEAM_NAME_PATTERN
from handoff_server.store import AgentRecord, Store, opened_store, store_exists, utcnow
from handoff_server.tokens import token_state

__all__ = [
    "CapacityOpt",
    "TeamsOpt",
    "check_name_free",
    "checked_teams",
    "find_agent",
    "register",
    "warn_new_teams",
]

agents_app = typer.Typer(
    help="Agents: their teams and capacity.",
    no_args_is_help=True,
    rich_markup_mode=None,
)

TeamsOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--team",
        metavar="TEAM",
        help="A team they serve (repeat for several; none: every team).",
    ),
]
CapacityOpt = Annotated[
    int | None,
    typer.Option(
        "--capacity",
        metavar="N",
        help="Most conversations they hold at once (default: assignment.default_capacity).",
        min=1,
        max=1000,
    ),
]


def checked_teams(teams: list[str] | None) -> list[str]:
    """The ``--team`` values, each checked against the team-name rule and kept once in
    the order given; exits with ``invalid_option`` naming a bad one."""
    out: list[str] = []
    for team in teams or []:
        if not regex.fullmatch(TEAM_NAME_PATTERN, team):
            fail(
                f"--team {team!r}: a team name is 1-64 letters, digits, '_', '.' or '-'",
                "invalid_option",
            )
        if team not in out:
            out.append(team)
    return out


def warn_new_teams(store: Store, settings: Settings, teams: list[str], who: str) -> None:
    """Print a warning on stderr for each of ``teams`` that nothing names yet (see the
    module): no escalation reaches ``who`` through it until a policy rule or keyword
    routes there; a close known name is suggested. Nothing is refused."""
    if not teams:
        return
    try:
        policy = policy_in_force(settings, create_store=False).policy
    except StoredPolicyInvalid:
        policy = settings.policy
    assignment = settings.assignment
    known = known_teams(store, policy, [*assignment.push_teams, *assignment.pull_teams])
    for team in teams:
        if team in known:
            continue
        close = difflib.get_close_matches(team, known, n=1)
        echo(
            f"warning: --team {team!r} is a new team: no policy rule, setting, agent or"
            f" escalation names it (known teams: {', '.join(known) or 'none'})"
            + (f"; did you mean {close[0]!r}?" if close else ".")
            + f" No conversation reaches {who} through it until a policy rule or keyword"
            " routes there (handoff policy export/import).",
            err=True,
        )


def check_name_free(records: list[AgentRecord], name: str) -> None:
    """Exit with ``exists`` when an agent whose token works (active) is already called
    ``name`` (any case, spaces trimmed): colleagues could not tell the two apart on
    the roster or in a transfer, and the name would no longer pick one in ``agents
    set`` or ``token revoke``. A revoked or expired agent's name is free again (a new
    token for the same person)."""
    wanted = name.strip().casefold()
    now = utcnow()
    for record in records:
        if record.name.strip().casefold() == wanted and token_state(record, now) == "active":
            fail(
                f"an agent named {record.name!r} already exists ({record.id}, active): give"
                f" another name, or revoke the old token first (handoff token revoke"
                f" {record.id}) to give the same person a new one",
                "exists",
            )


def _row(record: AgentRecord, default_capacity: int) -> dict[str, Any]:
    capacity = record.capacity or default_capacity
    return {
        "id": record.id,
        "name": record.name,
        "role": record.role,
        "state": token_state(record, utcnow()),
        "teams": record.teams,
        "capacity": capacity,
        "capacity_is_default": record.capacity is None,
    }


def _teams_and_capacity(row: dict[str, Any]) -> tuple[str, str]:
    """A row's teams (comma-separated; none: every team) and capacity as shown."""
    default = " (default)" if row["capacity_is_default"] else ""
    return ",".join(row["teams"]) or "(every team)", f"{row['capacity']}{default}"


def _echo_row(row: dict[str, Any]) -> None:
    teams, capacity = _teams_and_capacity(row)
    echo(
        f"{row['id']}  {row['role']:<8}  ",
        one_line(row["name"]),
        f"  teams: {one_line(teams)}  capacity: {capacity}",
    )


@agents_app.command("list")
def list_agents(
    json_out: JsonOpt = False,
    data_dir: DataDirOpt = None,
    store_url: StoreOpt = None,
    config: ConfigOpt = None,
) -> None:
    """List agents and operators, oldest first.

    A table with a header row: id, role, state (active; expired or revoked: the token
    no longer signs in, see handoff token), name, teams (none: every team) and capacity
    ('(default)': assignment.default_capacity). With --json: one list of objects (id,
    name, role, state, teams, capacity, capacity_is_default).
    """
    settings = settings_from(config, {"store": {"data_dir": data_dir, "url": store_url}})
    records: list[AgentRecord] = []
    if store_exists(settings.store):
        with opened_store(settings.store) as store:
            records = store.list_agents()
    rows = [_row(r, settings.assignment.default_capacity) for r in records]
    if json_out:
        print_json(rows)
        return
    if not rows:
        echo("no agents yet: handoff token create --name NAME")
        return
    table(
        ["id", "role", "state", "name", "teams", "capacity"],
        [[r["id"], r["role"], r["state"], r["name"], *_teams_and_capacity(r)] for r in rows],
    )


@agents_app.command("set")
def set_agent(
    who: Annotated[str, typer.Argument(metavar="AGENT", help="The agent's id or name.")],
    teams: TeamsOpt = None,
    no_teams: Annotated[
        bool, typer.Option("--no-teams", help="Serve every team (clears their teams).")
    ] = False,
    capacity: CapacityOpt = None,
    default_capacity: Annotated[
        bool, typer.Option("--default-capacity", help="Use the configured default capacity.")
    ] = False,
    data_dir: DataDirOpt = None,
    store_url: StoreOpt = None,
    config: ConfigOpt = None,
) -> None:
    """Set an agent's teams and capacity; what is not given stays as it is.

    A running server applies it from the agent's next sign-in. A team no policy rule,
    setting, agent or escalation names yet is accepted with a warning on stderr (a new
    team is staffed before a rule routes to it; the warning suggests a close known
    name, for a typo).
    """
    if teams and no_teams:
        fail("--team and --no-teams exclude each other", "invalid_option")
    if capacity is not None and default_capacity:
        fail("--capacity and --default-capacity exclude each other", "invalid_option")
    new_teams = checked_teams(teams)
    settings = settings_from(config, {"store": {"data_dir": data_dir, "url": store_url}})
    if not store_exists(settings.store):
        fail(f"no agent {who!r}: no store in {settings.store.data_dir}", "not_found")
    with opened_store(settings.store) as store:
        record = find_agent(store.list_agents(), who)
        warn_new_teams(
            store, settings, [t for t in new_teams if t not in record.teams], record.name
        )
        record = store.update_agent(
            record.id,
            [] if no_teams else (new_teams or record.teams),
            None if default_capacity else (capacity or record.capacity),
        )
    _echo_row(_row(record, settings.assignment.default_capacity))
    echo("a running server applies this from the agent's next sign-in")


def find_agent(records: list[AgentRecord], who: str) -> AgentRecord:
    """The agent whose id is ``who``, else the one named ``who`` (of several, the one
    whose token works: a revoked or expired one's name is given again); exits with
    ``not_found`` (none) or ``invalid_option`` (several share the name and none, or
    more than one, is active)."""
    by_id = [r for r in records if r.id == who]
    if by_id:
        return by_id[0]
    named = [r for r in records if r.name == who]
    if not named:
        fail(f"no agent {who!r} (handoff agents list shows them)", "not_found")
    active = [r for r in named if token_state(r, utcnow()) == "active"]
    if len(named) > 1 and len(active) == 1:
        return active[0]
    if len(named) > 1:
        ids = ", ".join(r.id for r in named)
        fail(f"several agents are named {who!r} ({ids}): give the id", "invalid_option")
    return named[0]


def register(app: typer.Typer) -> None:
    """Add these commands to the main app."""
    app.add_typer(agents_app, name="agents")
