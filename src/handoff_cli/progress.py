"""Progress bars on stderr for long CLI work (``kb build``, ``eval``): ``rich.progress``
behind the library's :class:`~handoff_server.progress.ProgressSink`.

Shown only when stderr is a terminal and the command was not asked for ``--json`` or
``--quiet``; otherwise the sink does nothing, so stdout (and a piped stderr) carry exactly
what they carry without it. Step names come from the library, never from input, and are
still drawn without markup.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import IO

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from handoff_server.progress import NO_PROGRESS, ProgressSink

__all__ = ["RichProgress", "cli_progress", "progress_wanted"]


def progress_wanted(
    *, json_out: bool = False, quiet: bool = False, stream: IO[str] | None = None
) -> bool:
    """Whether to draw progress: not with ``--json`` or ``--quiet``, and only when
    ``stream`` (default stderr) is a terminal."""
    out = sys.stderr if stream is None else stream
    return not json_out and not quiet and out.isatty()


class RichProgress:
    """A :class:`~handoff_server.progress.ProgressSink` drawing one ``rich`` bar per step
    (a spinner when the step's total is unknown); starting a step completes the one
    before."""

    def __init__(self, progress: Progress) -> None:
        self._progress = progress
        self._task: TaskID | None = None

    def start(self, step: str, total: int | None) -> None:
        """Close the current bar and open one for ``step``."""
        self._close()
        self._task = self._progress.add_task(step, total=total)

    def advance(self, n: int = 1) -> None:
        """Move the current bar ``n`` units."""
        if self._task is not None:
            self._progress.advance(self._task, n)

    def _close(self) -> None:
        if self._task is not None:
            task = self._progress.tasks[-1]
            self._progress.update(self._task, total=task.total or 1, completed=task.total or 1)
        self._task = None

    def finish(self) -> None:
        """Complete the last bar."""
        self._close()


@contextmanager
def cli_progress(enabled: bool) -> Iterator[ProgressSink]:
    """A sink for the duration of a command: ``rich`` bars on stderr when ``enabled``
    (see :func:`progress_wanted`), else one that shows nothing."""
    if not enabled:
        yield NO_PROGRESS
        return
    # Enabled means stderr is a terminal (progress_wanted): draw as on one.
    console = Console(file=sys.stderr, highlight=False, force_terminal=True)
    columns = (
        SpinnerColumn(),
        TextColumn("{task.description}", markup=False),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    )
    # No redirection of sys.stdout/sys.stderr: what a command prints stays where it goes.
    with Progress(*columns, console=console, redirect_stdout=False, redirect_stderr=False) as bars:
        sink = RichProgress(bars)
        try:
            yield sink
        finally:
            sink.finish()
