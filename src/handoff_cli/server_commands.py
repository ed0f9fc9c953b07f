"""``handoff serve`` and ``handoff db upgrade``."""

from __future__ import annotations

import logging
import os
import shlex
from pathlib import Path
from typing import Annotated

import typer

from handoff_cli.common import ConfigOpt, DataDirOpt, DemoKbOpt, StoreOpt, fail, settings_from
from handoff_cli.output import echo
from handoff_server import logredact
from handoff_server.config import Settings
from handoff_server.datadir import explain_os_error
from handoff_server.errors import HandoffError
from handoff_server.policies import policy_in_force
from handoff_server.store import StoreVersionError, opened_store

_HostOpt = Annotated[
    str | None, typer.Option(metavar="HOST", help="Interface to listen on (default 127.0.0.1).")
]
_PortOpt = Annotated[
    int | None,
    typer.Option(
        metavar="PORT", help="TCP port (default 8765; 0 picks a free one).", min=0, max=65535
    ),
]
_EngineOpt = Annotated[
    str | None,
    typer.Option(metavar="NAME", help="Answerer engine (default from config: 'default')."),
]

_BusOpt = Annotated[
    str | None,
    typer.Option(
        "--bus",
        metavar="URL",
        help="nats://... the nodes of a PostgreSQL store ring each other through"
        " (default: none, one node).",
    ),
]
_DemoPageOpt = Annotated[
    bool,
    typer.Option(
        "--demo-page", help="Also serve /demo, a fictional site embedding the web chat widget."
    ),
]


def serve(
    host: _HostOpt = None,
    port: _PortOpt = None,
    data_dir: DataDirOpt = None,
    store_url: StoreOpt = None,
    bus: _BusOpt = None,
    kb: DemoKbOpt = None,
    engine: _EngineOpt = None,
    config: ConfigOpt = None,
    log_level: Annotated[str, typer.Option(metavar="LEVEL", help="Logging level.")] = "INFO",
    demo_page: _DemoPageOpt = False,
) -> None:
    """Run the handoff server until SIGTERM or Ctrl-C.

    Prints 'handoff listening on ws://HOST:PORT' when ready (and, with --demo-page,
    'demo page on http://HOST:PORT/demo'). The web widget is served at /widget.js.
    """
    from handoff_server import event_loop
    from handoff_server.ai import ENGINES
    from handoff_server.app import run_forever

    if log_level.upper() not in logging.getLevelNamesMapping():
        fail(
            f"--log-level: unknown level {log_level!r}; use DEBUG, INFO, WARNING or ERROR",
            "invalid_option",
        )
    logging.basicConfig(
        level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    _quiet_library_logs()
    logredact.install()  # tokens and visitor data never reach the log, at any level
    settings = settings_from(
        config,
        {
            "server": {"host": host, "port": port, "demo_page": demo_page or None},
            "store": {"data_dir": data_dir, "url": store_url},
            "cluster": {"bus": bus},
            "ai": {"kb": kb, "engine": engine},
        },
    )
    if settings.ai.engine not in (*ENGINES, "llm"):
        fail(
            f"unknown engine {settings.ai.engine!r}; choose one of: {', '.join(ENGINES)}, llm",
            "bad_engine",
        )
    _warn_unapplied_policy(settings, config)
    try:
        event_loop.run(run_forever(settings), settings.server.event_loop)
    except HandoffError as exc:
        fail(exc.detail, exc.code)
    except ImportError as exc:
        fail(f"engine {settings.ai.engine!r} needs the 'embeddings' extra: {exc}", "missing_extra")
    except OSError as exc:  # not the bind (that is a ListenError): name the real cause
        fail(f"cannot start: {explain_os_error(exc)}", "server_failed")


def _quiet_library_logs() -> None:
    """Keep the websockets library's lines out of the log above DEBUG: it logs every
    connection's opening and closing (and its listening socket) at INFO, dozens of lines
    a minute beside the server's own. At ``--log-level DEBUG`` they stay."""
    if logging.getLogger().getEffectiveLevel() > logging.DEBUG:
        logging.getLogger("websockets").setLevel(logging.WARNING)


def _warn_unapplied_policy(settings: Settings, config: Path | None) -> None:
    """Say on stderr when the config's ``[policy]`` differs from the version stored in the
    data dir: the stored one is in force, so the edit does nothing until imported."""
    if "policy" not in settings.model_fields_set:
        return
    try:
        current = policy_in_force(settings, create_store=False)
    except HandoffError:
        return  # the server logs a stored policy it cannot read
    if current.record is None or current.policy.to_data() == settings.policy.to_data():
        return
    path = config or os.environ.get("HANDOFF_CONFIG") or "FILE"
    echo(
        f"warning: the config's [policy] differs from stored policy v{current.record.version},"
        " which stays in force; to apply it: handoff policy import ",
        shlex.join([str(path), "--data-dir", str(settings.store.data_dir)]),
        err=True,
    )


db_app = typer.Typer(help="The store's schema.", no_args_is_help=True, rich_markup_mode=None)


@db_app.command("upgrade")
def db_upgrade(
    data_dir: DataDirOpt = None, store_url: StoreOpt = None, config: ConfigOpt = None
) -> None:
    """Create or migrate the store; print its schema version.

    'handoff serve' does the same on start; run this first to migrate before the nodes
    of a PostgreSQL store start.
    """
    settings = settings_from(config, {"store": {"data_dir": data_dir, "url": store_url}})
    try:
        with opened_store(settings.store) as store:
            version = getattr(store, "schema_version", lambda: 0)()
    except HandoffError as exc:
        fail(exc.detail, exc.code)
    except StoreVersionError as exc:
        fail(str(exc), "store_failed")
    echo(f"store at schema version {version}")


def register(app: typer.Typer) -> None:
    """Add these commands to the main app."""
    app.command("serve")(serve)
    app.add_typer(db_app, name="db")
