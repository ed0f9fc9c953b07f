"""Progress of long work, as a small callback protocol the library code reports to.

The KB loader, the index build and the evaluation say what they are doing through a
:class:`ProgressSink`; whoever runs them decides what to show. The CLI plugs ``rich``
progress bars into it (``handoff_cli.progress``), the server a log line
(:class:`LogProgress`), tests a list. The library never imports ``rich`` and never
prints.

A sink sees a sequence of steps: ``start(step, total)`` opens one (``total``: how many
units it has, ``None`` when unknown) and ends the previous one; ``advance(n)`` reports
``n`` more units done in the current step. Nothing is reported after the work ends;
the runner closes its own display.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Protocol, runtime_checkable

__all__ = ["NO_PROGRESS", "LogProgress", "NullProgress", "ProgressSink"]


@runtime_checkable
class ProgressSink(Protocol):
    """Where long work reports its progress. Implementations must be cheap and must not
    raise: they are called from inside the work, possibly from a worker thread."""

    def start(self, step: str, total: int | None) -> None:
        """A new step begins: ``step`` is a short phrase ("cross-validation folds"),
        ``total`` the number of units it will report (``None``: unknown)."""
        ...

    def advance(self, n: int = 1) -> None:
        """``n`` more units of the current step are done."""
        ...


class NullProgress:
    """A :class:`ProgressSink` that shows nothing (the default everywhere)."""

    def start(self, step: str, total: int | None) -> None:
        """Ignore the step."""

    def advance(self, n: int = 1) -> None:
        """Ignore the advance."""


NO_PROGRESS: ProgressSink = NullProgress()
"""The shared do-nothing sink."""


class LogProgress:
    """A :class:`ProgressSink` writing log lines: one when a step starts, then at most one
    every ``every`` seconds with ``done/total``. ``prefix`` opens each line (e.g.
    ``"building the index"``); ``clock`` is monotonic seconds (tests fix it)."""

    def __init__(
        self,
        logger: logging.Logger,
        prefix: str,
        *,
        every: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._log = logger
        self._prefix = prefix
        self._every = every
        self._clock = clock
        self._step = ""
        self._total: int | None = None
        self._done = 0
        self._last = clock()

    def start(self, step: str, total: int | None) -> None:
        """Log the new step."""
        self._step, self._total, self._done = step, total, 0
        self._last = self._clock()
        of = f" (0/{total})" if total else ""
        self._log.info("%s: %s%s", self._prefix, step, of)

    def advance(self, n: int = 1) -> None:
        """Count ``n`` units; log ``done/total`` when ``every`` seconds have passed."""
        self._done += n
        now = self._clock()
        if now - self._last >= self._every:
            self._last = now
            of = f"/{self._total}" if self._total else ""
            self._log.info("%s: %s %d%s", self._prefix, self._step, self._done, of)
