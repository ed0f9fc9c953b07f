"""Live progress of a simulation: a few counters redrawn in place with ``rich``.

Shown on stderr only when both stdout and stderr are terminals and ``--json`` is not
given, so scripts and pipes get the report alone. Nothing from the server is parsed as
markup: every cell is a ``rich.text.Text`` built from plain strings (trigger names go
through :func:`~handoff_cli.output.one_line`).
"""

from __future__ import annotations

import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from types import TracebackType

import numpy as np
from rich.console import Console
from rich.live import Live
from rich.table import Table
from rich.text import Text

from handoff_cli.output import one_line

__all__ = ["LiveProgress", "Tally", "progress_wanted"]


@dataclass
class Tally:
    """Running counts of a simulation: conversations ``started`` and ``finished``, of
    those finished how many never went to a person (``contained``), handoffs by
    trigger, errors by code, and the AI's reply times (seconds)."""

    started: int = 0
    finished: int = 0
    contained: int = 0
    escalated: Counter[str] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)
    ai_reply_seconds: list[float] = field(default_factory=list)
    started_at: float = field(default_factory=time.monotonic)

    def quantile(self, q: float) -> float | None:
        """The ``q`` (0–1) quantile of the AI's reply times so far, or ``None``."""
        if not self.ai_reply_seconds:
            return None
        return float(np.quantile(self.ai_reply_seconds, q))


def progress_wanted(as_json: bool) -> bool:
    """Whether to draw live progress: not with ``--json``, and only on a terminal."""
    return not as_json and sys.stdout.isatty() and sys.stderr.isatty()


def _seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f} s"


class LiveProgress:
    """Draws a :class:`Tally` on stderr four times a second while in its ``with``
    block; the lines go away at the end, where the report takes over."""

    def __init__(self, tally: Tally, title: str) -> None:
        self.tally = tally
        self.title = title
        console = Console(stderr=True, markup=False, highlight=False, emoji=False)
        self._live = Live(
            get_renderable=self._render, console=console, refresh_per_second=4, transient=True
        )

    def __enter__(self) -> LiveProgress:
        self._live.__enter__()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._live.__exit__(exc_type, exc, tb)

    def _render(self) -> Table:
        t = self.tally
        grid = Table.grid(padding=(0, 2))
        grid.add_column(style="bold")
        grid.add_column()
        elapsed = time.monotonic() - t.started_at
        grid.add_row(Text("simulating"), Text(f"{one_line(self.title)}  {elapsed:.0f} s"))
        in_flight = t.started - t.finished
        grid.add_row(
            Text("conversations"),
            Text(f"{t.started} started, {t.finished} finished, {in_flight} in flight"),
        )
        grid.add_row(Text("answered"), Text(f"{t.contained} without a person"))
        by_trigger = ", ".join(f"{one_line(k)} {v}" for k, v in t.escalated.most_common())
        grid.add_row(Text("escalated"), Text(f"{sum(t.escalated.values())}  {by_trigger}"))
        errors = ", ".join(f"{one_line(k)} {v}" for k, v in t.errors.most_common())
        grid.add_row(Text("errors"), Text(f"{sum(t.errors.values())}  {errors}"))
        grid.add_row(
            Text("AI replies"),
            Text(f"p50 {_seconds(t.quantile(0.5))}  p99 {_seconds(t.quantile(0.99))}"),
        )
        return grid
