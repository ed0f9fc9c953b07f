"""Bounds on the times and durations CLI options take.

Python's ``datetime`` ends at year 9999 and ``timedelta`` at 999,999,999 days: a valid
ISO 8601 day such as ``9999-12-31`` or a duration such as ``99999999d`` overflows as soon
as a command adds a day or converts it to UTC, which printed a traceback. Every option
taking a time or a duration is checked here against generous bounds instead, and a value
outside them is a usage error (``error[invalid_option]``, exit status 2).
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from typing import Any

import typer

from handoff_cli.common import fail

__all__ = [
    "EARLIEST",
    "LATEST",
    "MAX_DURATION",
    "MAX_SECONDS",
    "checked_duration",
    "checked_moment",
    "finite_seconds",
    "seconds_option",
]

EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
"""The earliest time an option may name (nothing is stored before it)."""

LATEST = datetime(3000, 1, 1, tzinfo=UTC)
"""The latest time an option may name (far from ``datetime.max``: no overflow)."""

MAX_DURATION = timedelta(days=100 * 366)
"""The longest duration an option may give (about a century)."""

MAX_SECONDS = 7 * 24 * 3600.0
"""The most seconds a ``SECONDS`` option (waits, timeouts, run lengths) may give: a week."""


def checked_moment(moment: datetime, option: str) -> datetime:
    """``moment`` (aware) when it lies within [:data:`EARLIEST`, :data:`LATEST`]; else
    exits with ``invalid_option`` naming ``option``."""
    try:
        inside = EARLIEST <= moment.astimezone(UTC) <= LATEST
    except OverflowError:  # 0001-01-01T00:00+14:00 is before datetime.min in UTC
        inside = False
    if not inside:
        fail(
            f"{option}: give a time from {EARLIEST:%Y-%m-%d} to {LATEST:%Y-%m-%d}",
            "invalid_option",
        )
    return moment


def checked_duration(duration: timedelta, option: str) -> timedelta:
    """``duration`` when it is at most :data:`MAX_DURATION`; else exits with
    ``invalid_option`` naming ``option``."""
    if duration > MAX_DURATION:
        fail(f"{option}: give at most {MAX_DURATION.days} days", "invalid_option")
    return duration


def finite_seconds(value: float | None) -> float | None:
    """Callback of a ``SECONDS`` option: ``value`` when it is a finite number of at most
    :data:`MAX_SECONDS` (``nan``, ``inf`` and ``1e300`` are not); else raises
    ``typer.BadParameter`` (a usage error, ``invalid_option``)."""
    if value is not None and not (math.isfinite(value) and value <= MAX_SECONDS):
        raise typer.BadParameter(f"give a finite number of seconds up to {MAX_SECONDS:.0f}")
    return value


def seconds_option(help_: str, *names: str, minimum: float = 0) -> Any:
    """A ``typer.Option`` taking ``SECONDS`` (at least ``minimum``, at most
    :data:`MAX_SECONDS`, finite), with ``help_`` and the option ``names`` (default: from
    the parameter's name)."""
    return typer.Option(*names, help=help_, metavar="SECONDS", callback=finite_seconds, min=minimum)
