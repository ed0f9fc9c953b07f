"""``handoff erase --email ADDRESS [--dry-run]``: delete a visitor's data.

Every conversation holding the address (the visitor's email, or one given in a callback
request or offline message) is deleted with all stored of it: events, AI turns, webhook
deliveries, the conversation with its visitor details, fallbacks and tasks (see
:mod:`handoff_server.retention`). Works on the store directly, with or without a server
running: the server forgets an erased conversation it holds in memory within 2 s
(:class:`~handoff_server.retention.ErasureWatch`): the connected agents' views drop its
row (and the agent UI closes it if open), and a visitor still connected to one gets
``not_found`` for their next message and can no longer resume it.
"""

from __future__ import annotations

from typing import Annotated

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
from handoff_cli.output import echo
from handoff_server.protocol import normalized_email
from handoff_server.retention import erase_email
from handoff_server.storage import store_errors
from handoff_server.store import opened_store, store_exists

__all__ = ["register"]


def erase(
    email: Annotated[
        str,
        typer.Option(
            metavar="ADDRESS",
            help="The visitor's email as stored (any case; not a valid address: a warning).",
        ),
    ],
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Only list and count what would be deleted.")
    ] = False,
    json_out: JsonOpt = False,
    data_dir: DataDirOpt = None,
    store_url: StoreOpt = None,
    config: ConfigOpt = None,
) -> None:
    """Erase a visitor's data.

    Deletes every conversation holding the email address, with its messages, AI turns,
    webhook deliveries, fallbacks and tasks. The value is matched against what was
    stored, without case: one that is not a valid address (a visitor may have typed
    anything) is still erased, with a warning on stderr.

    --dry-run lists the conversations and counts the rows a real run would delete,
    deleting nothing. With --json: one object (email, dry_run, conversations, deleted:
    rows per table; for a dry run, the rows that would be deleted).
    """
    settings = settings_from(config, {"store": {"data_dir": data_dir, "url": store_url}})
    if not email.strip():
        fail("--email is empty", "invalid_option")
    try:
        normalized_email(email.strip())
    except ValueError as exc:
        echo(
            f"warning: --email {email!r}: {exc}; erasing what was stored as exactly that"
            " (any case)",
            err=True,
        )
    ids: list[str] = []
    deleted: dict[str, int] = {}
    if store_exists(settings.store):
        try:
            with opened_store(settings.store) as store:
                result = erase_email(store, email, dry_run=dry_run)
        except store_errors() as exc:
            fail(f"cannot erase: {exc}; nothing was deleted", "store_failed")
        ids, deleted = result.conversations, result.deleted
    if json_out:
        print_json({"email": email, "dry_run": dry_run, "conversations": ids, "deleted": deleted})
        return
    verb = "would delete" if dry_run else "deleted"
    echo(f"{verb} {len(ids)} conversation(s) holding ", email)
    for cid in ids:
        echo(f"  {cid}")
    if deleted:
        rows = "rows that would be deleted" if dry_run else "rows deleted"
        echo(f"{rows}: " + ", ".join(f"{t} {n}" for t, n in deleted.items()))


def register(app: typer.Typer) -> None:
    """Add the command to the main app."""
    app.command("erase")(erase)
