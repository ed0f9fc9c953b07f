"""Clocks the app reads "now" from, so tests and screenshots can fix time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Protocol

__all__ = ["Clock", "FixedClock", "SystemClock"]


class Clock(Protocol):
    """Anything that tells the current time as an aware UTC ``datetime``."""

    def now(self) -> datetime:
        """The current time (UTC)."""
        ...


class SystemClock:
    """The real wall clock."""

    def now(self) -> datetime:
        """The current time (UTC)."""
        return datetime.now(UTC)


class FixedClock:
    """A clock that only moves when told to (tests, snapshots, benchmarks)."""

    def __init__(self, at: datetime) -> None:
        if at.tzinfo is None:
            raise ValueError("FixedClock needs an aware datetime")
        self._at = at

    def now(self) -> datetime:
        """The fixed time (UTC)."""
        return self._at

    def advance(self, seconds: float) -> None:
        """Move the clock forward by ``seconds``."""
        self._at += timedelta(seconds=seconds)
