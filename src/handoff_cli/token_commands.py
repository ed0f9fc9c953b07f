"""``handoff token create|list|revoke``: sign-in tokens for agents and operators.

Only a token's hash is stored. A token may expire (``--expires-in``) and can be revoked;
a running server closes a revoked token's open connections within
``server.token_check_seconds`` (see :mod:`handoff_server.tokens`).
"""

from __future__ import annotations

import secrets
import sys
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated, Any, Literal

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
from handoff_cli.output import OutputFailed, echo, one_line, table
from handoff_cli.roster_commands import (
    CapacityOpt,
    TeamsOpt,
    check_name_free,
    checked_teams,
    find_agent,
    warn_new_teams,
)
from handoff_cli.times import checked_duration
from handoff_server.storage import store_errors
from handoff_server.store import (
    AgentRecord,
    Store,
    hash_token,
    open_store,
    opened_store,
    store_exists,
)
from handoff_server.store import utcnow as _utcnow
from handoff_server.tokens import parse_duration, token_state

if TYPE_CHECKING:
    from handoff_server.config import Settings

__all__ = ["register"]

token_app = typer.Typer(
    help="Sign-in tokens for agents and operators: create, list, revoke.",
    no_args_is_help=True,
    rich_markup_mode=None,
)


@token_app.command("create")
def token_create(
    name: Annotated[str, typer.Option(metavar="TEXT", help="The person's display name.")],
    role: Annotated[
        Literal["agent", "operator"], typer.Option(metavar="ROLE", help="agent or operator.")
    ] = "agent",
    teams: TeamsOpt = None,
    capacity: CapacityOpt = None,
    expires_in: Annotated[
        str | None,
        typer.Option(
            metavar="DURATION", help="Token stops working after this long: 30d, 12h, 90m, 2w."
        ),
    ] = None,
    data_dir: DataDirOpt = None,
    store_url: StoreOpt = None,
    config: ConfigOpt = None,
) -> None:
    """Create a token. It is printed once, on the last line; only its hash is stored.

    --team (repeatable) and --capacity say which teams they serve (none: every team)
    and how many conversations they hold at once; 'handoff agents set' changes them. A
    team nothing names yet (no policy rule, setting, agent or escalation) gets a warning.
    The name of another active agent is refused: error[exists].
    --expires-in makes the token stop working after that long (default: never).

    A token that cannot be written to standard output (a full disk, a closed pipe) is
    deleted again, since nobody could ever see it: error[io_error], exit 2, "no token
    was created".
    """
    if not name.strip() or len(name) > 100:
        fail("--name must be 1 to 100 characters", "invalid_option")
    team_list = checked_teams(teams)
    try:
        lasts = parse_duration(expires_in) if expires_in else None
    except (ValueError, OverflowError) as exc:
        fail(f"--expires-in: {exc}", "invalid_option")
    expires_at = _utcnow() + checked_duration(lasts, "--expires-in") if lasts else None
    settings = settings_from(config, {"store": {"data_dir": data_dir, "url": store_url}})
    token = "hnd_" + secrets.token_urlsafe(32)
    record = AgentRecord(
        id="agt_" + uuid.uuid4().hex[:12],
        name=name.strip(),
        role=role,
        token_hash=hash_token(token),
        created_at=_utcnow(),
        teams=team_list,
        capacity=capacity,
        expires_at=expires_at,
    )
    _store(settings, lambda store: _check_new(store, settings, record), "cannot read the agents")
    _store(settings, lambda store: store.create_agent(record), "cannot store the token")
    try:
        _show_created(settings, record, token)
    except (OutputFailed, BrokenPipeError) as exc:
        # The token is shown once, here: one nobody saw must not stay usable.
        _store(settings, lambda store: store.delete_agent(record.id), _undo_failed(record))
        reason = exc.reason if isinstance(exc, OutputFailed) else exc.strerror or str(exc)
        raise OutputFailed(f"{reason}; no token was created") from exc


def _check_new(store: Store, settings: Settings, record: AgentRecord) -> None:
    """Before ``record`` is created: its name must be free (:func:`check_name_free`),
    and a new team is warned of (:func:`warn_new_teams`)."""
    check_name_free(store.list_agents(), record.name)
    warn_new_teams(store, settings, record.teams, record.name)


def _store(settings: Settings, act: Callable[[Store], object], what: str) -> None:
    """Run ``act`` on the store; its errors stop the command as ``store_failed``
    (``what``: the message's start)."""
    store = open_store(settings.store)
    try:
        act(store)
    except store_errors() as exc:
        fail(f"{what}: {exc}", "store_failed")
    finally:
        store.close()


def _undo_failed(record: AgentRecord) -> str:
    """The message's start when a token whose secret could not be shown cannot be
    deleted either."""
    return (
        "cannot write the token to standard output, nor delete it (revoke it:"
        f" handoff token revoke {record.id})"
    )


def _show_created(settings: Settings, record: AgentRecord, token: str) -> None:
    """Say what was created and print ``token`` on the last line, flushed. Raises
    :class:`~handoff_cli.output.OutputFailed` (or ``BrokenPipeError``) when standard
    output cannot take it."""
    where = settings.store.url.split("@")[-1] if settings.store.url else settings.store.data_dir
    echo(f"created {record.role} {record.name!r} ({record.id}) in {where}")
    if record.expires_at:
        echo(f"expires {record.expires_at.isoformat(timespec='seconds')}")
    echo(token)
    sys.stdout.flush()


def _row(record: AgentRecord) -> dict[str, Any]:
    now = _utcnow()
    return {
        "id": record.id,
        "name": record.name,
        "role": record.role,
        "created_at": record.created_at.isoformat(timespec="seconds"),
        "expires_at": record.expires_at.isoformat(timespec="seconds")
        if record.expires_at
        else None,
        "revoked_at": record.revoked_at.isoformat(timespec="seconds")
        if record.revoked_at
        else None,
        "state": token_state(record, now),
    }


@token_app.command("list")
def token_list(
    json_out: JsonOpt = False,
    data_dir: DataDirOpt = None,
    store_url: StoreOpt = None,
    config: ConfigOpt = None,
) -> None:
    """List tokens, oldest first.

    A table with a header row: agent id, role, state (active, expired, revoked), name
    and expiry ('-': never). The tokens themselves are never stored, so never shown.

    With --json: one list of objects (id, name, role, created_at, expires_at, revoked_at,
    state).
    """
    settings = settings_from(config, {"store": {"data_dir": data_dir, "url": store_url}})
    records: list[AgentRecord] = []
    if store_exists(settings.store):
        with opened_store(settings.store) as store:
            records = store.list_agents()
    rows = [_row(r) for r in records]
    if json_out:
        print_json(rows)
        return
    if not rows:
        echo("no tokens yet: handoff token create --name NAME")
        return
    table(
        ["id", "role", "state", "name", "expires"],
        [[r["id"], r["role"], r["state"], r["name"], r["expires_at"] or "-"] for r in rows],
    )


@token_app.command("revoke")
def token_revoke(
    who: Annotated[str, typer.Argument(metavar="AGENT", help="The agent's id or name.")],
    data_dir: DataDirOpt = None,
    store_url: StoreOpt = None,
    config: ConfigOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Revoke an agent's token.

    New sign-ins fail at once, and a running server closes their open connections within
    server.token_check_seconds (1 s by default). A token revoked before stays revoked
    from that time: the command says so and exits 0.

    The agent stays in the store (their events name them); create a new token to let
    them in again. With --json: one object (id, name, revoked_at, already: true when it
    was revoked before).
    """
    settings = settings_from(config, {"store": {"data_dir": data_dir, "url": store_url}})
    if not store_exists(settings.store):
        fail(f"no agent {who!r}: no store in {settings.store.data_dir}", "not_found")
    with opened_store(settings.store) as store:
        record = find_agent(store.list_agents(), who)
        already = record.revoked_at is not None
        if not already:
            record = store.revoke_agent(record.id, _utcnow())
    assert record.revoked_at is not None
    at = record.revoked_at.isoformat(timespec="seconds")
    if json_out:
        print_json({"id": record.id, "name": record.name, "revoked_at": at, "already": already})
    elif already:
        echo(f"{record.id} (", one_line(record.name), f") was already revoked at {at}")
    else:
        echo(
            f"revoked {record.id} (",
            one_line(record.name),
            f") at {at}; open connections close within {settings.server.token_check_seconds:g} s",
        )


def register(app: typer.Typer) -> None:
    """Add these commands to the main app."""
    app.add_typer(token_app, name="token")
