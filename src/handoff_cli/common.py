"""Options and helpers shared by the command modules."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
import typer._click as click
from typer._click.globals import get_current_context

from handoff_cli.output import echo, json_line
from handoff_server.config import Settings, load_settings
from handoff_server.errors import ConfigError, HandoffError
from handoff_server.server_url import InvalidServerURL, normalize_server_url

ConfigOpt = Annotated[
    Path | None,
    typer.Option(
        "--config",
        metavar="FILE",
        help="TOML config file (default: $HANDOFF_CONFIG, else none).",
        dir_okay=False,
    ),
]
DataDirOpt = Annotated[
    Path | None,
    typer.Option(
        "--data-dir",
        metavar="DIR",
        help="Folder for the SQLite store and caches (default: platform data dir).",
        file_okay=False,
    ),
]
StoreOpt = Annotated[
    str | None,
    typer.Option(
        "--store",
        metavar="URL",
        help="postgresql://... to use a PostgreSQL store shared by several nodes"
        " (default: SQLite in the data dir; docs/scaling.md).",
    ),
]


def _server_url_option(value: str | None) -> str | None:
    """``--server``'s callback: the URL normalized (``host:port`` means ``ws://``);
    exits with ``invalid_option`` for one that cannot name a server."""
    if value is None:
        return None
    return server_url_or_fail(value, "--server")


def server_url_or_fail(value: str, source: str) -> str:
    """``value`` as a websocket base URL (:func:`~handoff_server.server_url.normalize_server_url`),
    or exit with ``invalid_option`` naming ``source`` (an option or variable)."""
    try:
        return normalize_server_url(value)
    except InvalidServerURL as exc:
        fail(f"{source}: {exc}", "invalid_option")


ServerOpt = Annotated[
    str | None,
    typer.Option(
        "--server",
        metavar="URL",
        help="Server URL: ws://HOST:PORT, wss://, http(s):// or plain HOST:PORT (ws://).",
        envvar="HANDOFF_SERVER_URL",
        callback=_server_url_option,
    ),
]
TokenOpt = Annotated[
    str | None,
    typer.Option(
        "--token", metavar="TOKEN", help="Agent or operator token.", envvar="HANDOFF_TOKEN"
    ),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Machine-readable JSON output.")]
DemoKbOpt = Annotated[
    Path | None,
    typer.Option(
        "--kb",
        metavar="PATH",
        help="KB folder or file (default: the bundled demo KB).",
        exists=True,
    ),
]
"""``--kb`` of the commands that run a server (serve, demo)."""


USAGE_CODES: frozenset[str] = frozenset({"invalid_option", "no_token"})
"""Error codes of a usage mistake (an option's value refused, a needed option missing):
their error line is followed by the command's ``--help`` hint."""


def help_hint(code: str, ctx: click.Context | None = None) -> None:
    """After a usage mistake (``code`` in :data:`USAGE_CODES`) print, on stderr,
    ``Try 'handoff CMD --help' for help.`` naming ``ctx``'s command (default: the
    command running now). Prints nothing for another code or outside a command."""
    ctx = ctx if ctx is not None else get_current_context(silent=True)
    if code in USAGE_CODES and ctx is not None:
        echo(f"Try '{ctx.command_path} --help' for help.", err=True)


def fail(message: str, code: str = "error", exit_code: int = 2) -> NoReturn:
    """Print ``error[code]: message`` to stderr (and the ``--help`` hint after a usage
    mistake, see :func:`help_hint`) and exit with ``exit_code``. The message may quote
    input: its control characters are shown as escapes."""
    echo(f"error[{code}]: ", message, err=True)
    help_hint(code)
    raise typer.Exit(exit_code)


def fail_if_not_ready(status: int) -> None:
    """Exit with ``not_ready`` when a handshake got HTTP 503: the server listens but is
    still building its AI index (``/readyz`` says when it is done)."""
    if status == 503:
        fail("the server is still starting (building its AI index); try again shortly", "not_ready")


def settings_from(config: Path | None, overrides: dict[str, Any] | None = None) -> Settings:
    """Load settings or exit with a ``bad_config`` error listing every problem."""
    try:
        return load_settings(config, overrides)
    except ConfigError as exc:
        fail(str(exc), exc.code)


def print_json(obj: Any) -> None:
    """Print one JSON value on one line (see :func:`~handoff_cli.output.json_line`)."""
    sys.stdout.write(json_line(obj) + "\n")
    sys.stdout.flush()


def key_values(items: list[str], option: str) -> dict[str, str]:
    """Parse repeated ``KEY=VALUE`` options into a dict; exits with ``invalid_option``
    naming ``option`` for an item without ``=`` or with an empty key."""
    out: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            fail(f"{option} takes KEY=VALUE, got {item!r}", "invalid_option")
        out[key.strip()] = value
    return out


def handoff_error(exc: HandoffError) -> NoReturn:
    """Exit on a :class:`HandoffError` with its code."""
    fail(exc.detail, exc.code)
