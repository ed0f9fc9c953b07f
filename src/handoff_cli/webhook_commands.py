"""``handoff webhooks list|redeliver|test``: the operator's view of the webhook outbox,
and a signed test event to check an endpoint."""

from __future__ import annotations

import asyncio
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
from handoff_cli.output import echo, one_line, table
from handoff_server.store import opened_store, store_exists, utcnow

webhooks_app = typer.Typer(
    help="See webhook deliveries and send failed ones again.",
    no_args_is_help=True,
    rich_markup_mode=None,
)


@webhooks_app.command("list")
def list_deliveries(
    failed: Annotated[bool, typer.Option("--failed", help="Only deliveries that failed.")] = False,
    json_out: JsonOpt = False,
    data_dir: DataDirOpt = None,
    store_url: StoreOpt = None,
    config: ConfigOpt = None,
) -> None:
    """List webhook deliveries, oldest first.

    A table with a header row: event id, event type, status (pending, delivered,
    failed), tries, endpoint and the last error ('-' for none).

    With --json: one list of objects (id, endpoint, event_type, payload, created_at,
    next_attempt_at, attempts, status, last_error; times UTC).
    """
    settings = settings_from(config, {"store": {"data_dir": data_dir, "url": store_url}})
    rows = []
    if store_exists(settings.store):
        with opened_store(settings.store) as store:
            rows = store.list_outbox(failed_only=failed)
    if json_out:
        print_json([row.model_dump(mode="json") for row in rows])
        return
    if not rows:
        echo("no failed deliveries" if failed else "no deliveries")
        return
    table(
        ["id", "event", "status", "tries", "endpoint", "error"],
        [
            [row.id, row.event_type, row.status, str(row.attempts), row.endpoint,
             row.last_error or "-"]
            for row in rows
        ],
    )  # fmt: skip


@webhooks_app.command("redeliver")
def redeliver(
    event_id: Annotated[str, typer.Argument(metavar="EVENT_ID", help="The webhook-id.")],
    all_: Annotated[
        bool,
        typer.Option(
            "--all", help="Also to the endpoints that received it (a receiver that lost it)."
        ),
    ] = False,
    data_dir: DataDirOpt = None,
    store_url: StoreOpt = None,
    config: ConfigOpt = None,
) -> None:
    """Send an event again to the endpoints that did not receive it.

    Its failed (and pending) deliveries become pending, due now, with their tries
    reset; a running server posts them within seconds. An endpoint that received the
    event gets it again only with --all (receivers deduplicate by webhook-id)."""
    settings = settings_from(config, {"store": {"data_dir": data_dir, "url": store_url}})
    count = 0
    if store_exists(settings.store):
        with opened_store(settings.store) as store:
            count = store.requeue_outbox(event_id, utcnow(), delivered=all_)
    if count == 0:
        where = "webhook event" if all_ else "undelivered webhook event"
        hint = "" if all_ else " (--all sends a delivered one again)"
        fail(f"no {where} {event_id!r}{hint}", "not_found")
    echo(f"{event_id}: {count} deliver{'y' if count == 1 else 'ies'} queued again")


@webhooks_app.command("test")
def test_endpoints(
    endpoint: Annotated[
        str | None,
        typer.Option(
            "--endpoint",
            metavar="URL",
            help="The configured endpoint to test (default: every configured endpoint).",
        ),
    ] = None,
    config: ConfigOpt = None,
) -> None:
    """Send a signed test event and print each receiver's answer.

    To every configured endpoint, or to --endpoint only. The event (type webhook.test) is signed with the endpoint's secret and sent in its
    format, like a real one; nothing is stored. One line per endpoint: its URL and the
    HTTP status, or why it could not be sent. Exits 0 when every receiver answered 2xx,
    1 otherwise."""
    settings = settings_from(config)
    endpoints = settings.webhooks.endpoints
    if endpoint is not None:
        endpoints = [ep for ep in endpoints if ep.url == endpoint]
        if not endpoints:
            fail(f"{endpoint!r} is not a configured endpoint ([[webhooks.endpoints]])", "not_found")
    if not endpoints:
        fail("no webhook endpoint is configured ([[webhooks.endpoints]])", "bad_config")
    from handoff_server.webhooks import send_test_event  # httpx: only to send

    ok = True
    for ep in endpoints:
        status, reason = asyncio.run(send_test_event(ep, settings.webhooks.timeout_seconds))
        good = status is not None and 200 <= status < 300
        ok = ok and good
        said = f"HTTP {status} {reason}".rstrip() if status is not None else f"failed: {reason}"
        echo(one_line(ep.url), ": ", one_line(said))
    raise typer.Exit(0 if ok else 1)


def register(app: typer.Typer) -> None:
    """Add these commands to the main app."""
    app.add_typer(webhooks_app, name="webhooks")
