"""Small helpers the operator panes share to put numbers and untrusted text in tables."""

from __future__ import annotations

from datetime import UTC, datetime

from rich.text import Text

from handoff_tui.model import format_wait
from handoff_tui.text import visible

__all__ = ["cell", "num", "pct", "seconds", "utc"]


def cell(text: object, style: str = "") -> Text:
    """A table cell holding ``text`` as data (never markup), on one line."""
    return Text(visible(str(text), one_line=True), style=style)


def num(value: int | float | None, style: str = "") -> Text:
    """A right-aligned number (``—`` for none)."""
    shown = "—" if value is None else f"{value:,}" if isinstance(value, int) else f"{value:.2f}"
    return Text(shown, style=style, justify="right")


def pct(rate: float | None, style: str = "") -> Text:
    """A 0–1 rate as a right-aligned percentage with one decimal."""
    return Text("—" if rate is None else f"{rate * 100:.1f}%", style=style, justify="right")


def seconds(value: float | None) -> Text:
    """A duration in seconds for people (``3m05s``), right-aligned."""
    return Text("—" if value is None else format_wait(value), justify="right")


def utc(at: datetime | None) -> str:
    """``2026-03-02 14:30`` in UTC (``now`` for an open end)."""
    return "now" if at is None else at.astimezone(UTC).strftime("%Y-%m-%d %H:%M")
