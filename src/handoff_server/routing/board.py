"""Shared presence: the agents connected to each node, as every node sees them.

A node publishes a :class:`PresenceRow` for each agent with a connection open on it and
reads the rows the other nodes published (:class:`PresenceBoard`), through
:class:`PresenceSync`: every ``heartbeat`` seconds, and at once when one of its own
agents connects, says ``online`` or ``away``, or leaves. A row counts while its node's
last heartbeat is younger than the board's time-to-live: the agents of a node that dies
stop counting on the others within ``ttl`` + ``heartbeat`` seconds.

:class:`LocalBoard` is one node's (nothing to share: the node's own
:class:`~.presence.Presence` is all there is); the PostgreSQL board is
:class:`~handoff_server.cluster.presence.PgPresenceBoard` (``docs/scaling.md`` says why
PostgreSQL rather than a NATS key-value bucket).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

from handoff_server.protocol import AgentRole, PresenceStatus

__all__ = ["LocalBoard", "OfferLeases", "PresenceBoard", "PresenceRow", "PresenceSync"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class PresenceRow:
    """One agent on one node: who they are (so a node that never saw them sign in knows
    their teams and capacity), their ``status`` there (``offline`` when only connections
    that never said their presence are open) and whether a connection that said it is
    open (``connected``). ``node`` is the publishing node's id (set by the board)."""

    agent_id: str
    name: str
    role: AgentRole
    teams: tuple[str, ...]
    capacity: int | None
    status: PresenceStatus
    connected: bool
    node: str = ""


class PresenceBoard(Protocol):
    """Where nodes publish their agents' presence."""

    shared: bool
    """Whether other nodes read it (``False``: one node, nothing to sync)."""

    async def beat(self, rows: Sequence[PresenceRow]) -> list[PresenceRow]:
        """Replace this node's rows with ``rows`` (their heartbeat is now) and return every
        other node's rows whose heartbeat is within the time-to-live. Raises the
        backend's error when it cannot be reached."""
        ...

    async def leave(self) -> None:
        """Delete this node's rows (it is stopping)."""
        ...


class OfferLeases(Protocol):
    """One open push offer of a conversation at a time across nodes: a node takes the
    conversation's lease before it sends an offer and ends it with the offer."""

    async def take(self, conversation_id: str, agent_id: str, seconds: float) -> bool:
        """Take the lease for an offer to ``agent_id`` lasting ``seconds`` (it expires by
        itself after that, whatever becomes of this node); ``False`` when another
        node's lease is in force. Raises the backend's error when it cannot be reached."""
        ...

    async def end(self, conversation_id: str, agent_id: str) -> None:
        """End this node's lease for the offer to ``agent_id``, if it holds it."""
        ...


class LocalBoard:
    """One node: no other node to tell or hear."""

    shared = False

    async def beat(self, rows: Sequence[PresenceRow]) -> list[PresenceRow]:
        """Nobody else: no rows."""
        return []

    async def leave(self) -> None:
        """Nothing to delete."""


class PresenceSync:
    """Publishes ``rows()`` to ``board`` and hands the other nodes' rows to ``apply``
    every ``heartbeat`` seconds, and soon after :meth:`kick`, with when they were read
    (UTC, taken before the read: every row another node wrote before then is in them).
    When the board cannot be reached the other nodes' rows are kept until ``ttl``
    seconds after the last successful beat, then dropped (nobody elsewhere is counted on
    stale news)."""

    def __init__(
        self,
        board: PresenceBoard,
        rows: Callable[[], list[PresenceRow]],
        apply: Callable[[list[PresenceRow], datetime], None],
        heartbeat: float,
        ttl: float,
    ) -> None:
        self.board = board
        self.rows = rows
        self.apply = apply
        self.heartbeat = heartbeat
        self.ttl = ttl
        self._kicked = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._last_ok = time.monotonic()

    def start(self) -> None:
        """Start beating in a background task (nothing for a board that is not shared)."""
        if self.board.shared:
            self._task = asyncio.create_task(self._loop())

    def kick(self) -> None:
        """Beat soon: this node's agents changed."""
        self._kicked.set()

    async def beat(self) -> None:
        """One heartbeat: write this node's rows, apply the others'. Raises the board's
        error (the caller logs it)."""
        read_at = datetime.now(UTC)
        others = await self.board.beat(self.rows())
        self._last_ok = time.monotonic()
        self.apply(others, read_at)

    async def _loop(self) -> None:
        while True:
            self._kicked.clear()
            try:
                await self.beat()
            except Exception as exc:  # noqa: BLE001 - the database may come back
                log.warning("presence heartbeat failed: %s", exc)
                if time.monotonic() - self._last_ok > self.ttl:
                    self.apply([], datetime.now(UTC))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._kicked.wait(), self.heartbeat)

    async def close(self) -> None:
        """Stop beating and delete this node's rows (best effort: they expire anyway)."""
        if self._task is None:
            return
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        try:
            await asyncio.wait_for(self.board.leave(), 5)
        except Exception as exc:  # noqa: BLE001 - they expire after the ttl
            log.warning("could not delete this node's presence rows: %s", exc)
