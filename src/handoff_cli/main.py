"""``handoff`` — the command-line entry point.

Each group of commands lives in its own module and is registered here. Help is plain
text (``rich_markup_mode=None``): docstrings are re-wrapped to the terminal's width,
flags show no value placeholder, and no help text is parsed as markup.
"""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Callable
from typing import Annotated, Any

import typer
import typer._click as click
import typer._click._textwrap as click_textwrap
from typer.core import TyperArgument, TyperGroup

from handoff_cli.common import USAGE_CODES, fail, help_hint
from handoff_cli.output import (
    GuardedStdout,
    OutputClosed,
    OutputFailed,
    VisibleStream,
    echo,
    stdout_closed,
)
from handoff_server.ai.index_cache import package_version
from handoff_server.errors import Code, HandoffError


class _WholeWords(click_textwrap.TextWrapper):
    """Click's help wrapper, never breaking a hyphenated word across lines ("out-of-" /
    "scope"): the click that typer bundles wraps with textwrap's default
    ``break_on_hyphens=True`` and has no setting for it, so its wrapper class is replaced
    once, here."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        kwargs["break_on_hyphens"] = False
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]


click_textwrap.TextWrapper = _WholeWords  # type: ignore[misc]


class _PlainArgument(TyperArgument):
    """An argument shown by its uppercase metavar alone (``PATH``; ``[PATH]`` when
    optional), like every option's value: not typer's ``{PATH}`` usage and ``PATH <path>``
    help forms."""

    def _usage_display_name(self) -> str:
        name = self.display_name_raw if self.required else f"[{self.display_name_raw}]"
        return name + ("..." if self.nargs != 1 else "")

    def display_type_rich(self, ctx: click.Context) -> str | None:
        return None


class _HandoffGroup(TyperGroup):
    """The ``handoff`` group: every command's arguments below it are shown plainly."""

    def __init__(self, **attrs: object) -> None:
        super().__init__(**attrs)  # type: ignore[arg-type]
        _plain_arguments(self)


def _plain_arguments(command: click.Command) -> None:
    """Show ``command``'s arguments, and its subcommands', as :class:`_PlainArgument`;
    report a usage mistake a command raises as :func:`~handoff_cli.common.fail` does."""
    for param in command.params:
        if type(param) is TyperArgument:
            param.__class__ = _PlainArgument
    if command.callback is not None and not hasattr(command.callback, "__handoff_usage__"):
        command.callback = _usage_errors_hinted(command.callback)
    for sub in getattr(command, "commands", {}).values():
        _plain_arguments(sub)


def _usage_errors_hinted(callback: Callable[..., Any]) -> Callable[..., Any]:
    """``callback``, reporting a :class:`HandoffError` with a usage code it raises while
    its command's context is still current: the error line, then the ``--help`` hint."""

    @functools.wraps(callback)
    def run(*args: Any, **kwargs: Any) -> Any:
        try:
            return callback(*args, **kwargs)
        except HandoffError as exc:
            if exc.code in USAGE_CODES:
                fail(exc.detail, exc.code)
            raise

    run.__handoff_usage__ = True  # type: ignore[attr-defined]
    return run


app = typer.Typer(
    cls=_HandoffGroup,
    name="handoff",
    help="AI-to-human support handoff: serve, chat as a visitor, work the queue, tune the AI.",
    no_args_is_help=True,
    add_completion=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)


def _version(value: bool) -> None:
    if value:
        echo(f"handoff {package_version()}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option(
            "--version",
            help="Print the installed version and exit.",
            callback=_version,
            is_eager=True,
        ),
    ] = False,
) -> None:
    """AI-to-human support handoff: serve, chat as a visitor, work the queue, tune the AI.

    Shell completion: handoff --install-completion (bash, zsh, fish, PowerShell).
    """


# Command modules register themselves on `app`; one import line each. Every `handoff` run
# imports them all, so each stays cheap to import: what only its command needs
# (scikit-learn, SciPy, NumPy, the server's AI, Textual) is imported inside the function
# that runs it (tests/cli/test_cli_start.py; docs/benchmarks.md, "CLI start-up").
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
from handoff_cli import webhook_commands  # noqa: E402

webhook_commands.register(app)
from handoff_cli import roster_commands  # noqa: E402

roster_commands.register(app)
from handoff_cli import token_commands  # noqa: E402

token_commands.register(app)
from handoff_cli import erase_command  # noqa: E402

erase_command.register(app)
from handoff_cli.simulate import command as simulate_command  # noqa: E402

simulate_command.register(app)
from handoff_cli import report_command  # noqa: E402

report_command.register(app)


_PARAM_CODES: dict[str, Code] = {
    "kb": "bad_kb",
    "config": "bad_config",
    "data_dir": "bad_data_dir",
}
"""Code of a refused option value, by parameter name; others are ``invalid_option``."""


def _usage_error(exc: typer.TyperException) -> None:
    """Print a usage error (click's ``UsageError``, exit status 2, which typer does not
    export) as ``error[code]: ...``: the refused option's code, else ``invalid_option``;
    then the command's ``--help`` hint."""
    name = getattr(getattr(exc, "param", None), "name", None) or ""
    code = _PARAM_CODES.get(name, "invalid_option")
    # typer checks a value with pydantic, whose message for a refused choice starts with
    # its own "Value error, ": that is pydantic's wording, not the person's mistake.
    message = exc.format_message().replace(": Value error, ", ": ", 1)
    echo(f"error[{code}]: ", message, err=True)
    help_hint("invalid_option", getattr(exc, "ctx", None))


def _output_closed() -> None:
    """Standard output's reader has gone (``| head``): exit 1 without a word, as Python
    recommends for ``EPIPE`` (https://docs.python.org/3/library/signal.html#note-on-sigpipe):
    standard output pointed at ``/dev/null`` so the interpreter's last flush does not
    fail again."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    sys.exit(1)


def _output_failed(exc: OutputFailed) -> None:
    """Standard output cannot be written (disk full): say so on stderr as
    ``error[io_error]`` and exit 2, standard output pointed at ``/dev/null`` so the
    interpreter's last flush does not fail again (its pending bytes are lost anyway)."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    echo("error[io_error]: ", f"cannot write to standard output: {exc.reason}", err=True)
    sys.exit(2)


def main() -> None:
    """Console-script entry point: run ``app`` and exit with its status.

    Every mistake is one ``error[code]: ...`` line on stderr and exit status 2: a usage
    error (bad option value, unknown option or command; the line after it names the
    command's --help) and any :class:`~handoff_server.errors.HandoffError` a command
    lets through. The command line can carry any character: it is printed with control
    characters shown as escapes.
    """
    if not isinstance(sys.stdout, GuardedStdout):
        sys.stdout = GuardedStdout(sys.stdout)  # type: ignore[assignment]
    try:
        status = app(standalone_mode=False)
    except (OutputClosed, BrokenPipeError) as exc:
        if isinstance(exc, BrokenPipeError) and not stdout_closed():
            raise
        _output_closed()
    except OutputFailed as exc:
        _output_failed(exc)
    except HandoffError as exc:
        echo(f"error[{exc.code}]: ", exc.detail, err=True)
        sys.exit(2)
    except typer.TyperException as exc:
        if exc.exit_code == 2 and hasattr(exc, "format_message"):
            _usage_error(exc)
            sys.exit(2)
        show = getattr(exc, "show", None)
        if show is None:
            raise
        show(file=VisibleStream(sys.stderr))
        sys.exit(exc.exit_code)
    except typer.Abort:
        typer.echo("Aborted!", err=True)
        sys.exit(1)
    sys.exit(status if isinstance(status, int) else 0)
