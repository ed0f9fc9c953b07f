"""``handoff`` — the command-line entry point.

Each group of commands lives in its own module and is registered here.
"""

from __future__ import annotations

import typer

app = typer.Typer(
    name="handoff",
    help="AI-to-human support handoff: serve, chat as a visitor, work the queue, tune the AI.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
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
    """Console-script entry point."""
    app()
