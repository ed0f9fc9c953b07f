"""``handoff`` — the command-line entry point.

Each group of commands lives in its own module and is registered here. Help is plain
text (``rich_markup_mode=None``): docstrings are re-wrapped to the terminal's width,
flags show no value placeholder, and no help text is parsed as markup.
"""

from __future__ import annotations

import sys

import typer

from handoff_cli.output import VisibleStream

app = typer.Typer(
    name="handoff",
    help="AI-to-human support handoff: serve, chat as a visitor, work the queue, tune the AI.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)

# Command modules register themselves on `app`; one import line each.
from handoff_cli import client_commands, server_commands  # noqa: E402

server_commands.register(app)
client_commands.register(app)
from handoff_cli import kb_commands  # noqa: E402

kb_commands.register(app)
from handoff_cli import policy_commands, triage_command  # noqa: E402

policy_commands.register(app)
triage_command.register(app)
from handoff_cli import agent_commands  # noqa: E402

agent_commands.register(app)


def main() -> None:
    """Console-script entry point: run ``app`` and exit with its status.

    Usage errors quote the command line, which can carry any character: they are
    printed with control characters shown as escapes (exit 2, as click does).
    """
    try:
        status = app(standalone_mode=False)
    except typer.TyperException as exc:
        show = getattr(exc, "show", None)
        if show is None:
            raise
        show(file=VisibleStream(sys.stderr))
        sys.exit(exc.exit_code)
    except typer.Abort:
        typer.echo("Aborted!", err=True)
        sys.exit(1)
    sys.exit(status if isinstance(status, int) else 0)
