"""Sign-in tokens that can expire and be revoked, and a running server that notices.

A token belongs to one agent record (:class:`~handoff_server.store.AgentRecord`); it
works while the record exists, is not revoked (``revoked_at``) and has not expired
(``expires_at``). ``handoff token revoke`` writes ``revoked_at`` straight into the store
while the server runs in another process, so the server must notice by itself:

- :class:`TokenGuard` keeps, for every live agent connection, its agent's expiry and
  revocation as last read; it re-reads the agents table every ``interval`` seconds
  (``server.token_check_seconds``, 1 s by default) while any agent is connected: one
  indexed read of a small table on the store thread. A revoked, expired or deleted
  agent's connections get an ``error`` frame (``unauthorized``) and are closed (1008)
  at once.
- Every frame an agent sends is checked against that cached state first (a dictionary
  look-up and a clock read): an expired token fails on its first frame after the
  expiry, to the second.
- Every re-read goes to :attr:`TokenGuard.on_read`: routing takes the agents whose
  token stopped working off the roster and puts their conversations back in the queue
  (:meth:`~handoff_server.routing.desk.Desk.tokens_read`).

So a revocation takes effect on open connections within ``interval`` seconds plus one
store round trip (measured in ``tests/server/test_tokens.py``), and on new sign-ins at
once (:meth:`~handoff_server.agents.AgentDirectory.authenticate` reads the store).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from websockets.asyncio.server import ServerConnection

from handoff_server.background import BackgroundTask
from handoff_server.protocol import SError
from handoff_server.store import AgentRecord, AsyncStore, utcnow

__all__ = [
    "TokenGuard",
    "TokenState",
    "close_refused",
    "parse_duration",
    "refusal",
    "token_state",
]

log = logging.getLogger(__name__)

CLOSE_POLICY = 1008
"""Websocket close code for a connection whose token stopped working (policy violation)."""

_DURATION = re.compile(r"(\d+(?:\.\d+)?)([smhdw])")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def parse_duration(text: str) -> timedelta:
    """``30d``, ``12h``, ``90m``, ``45s``, ``2w`` (one number and unit) as a timedelta.
    Raises ``ValueError`` for anything else or a zero duration."""
    m = _DURATION.fullmatch(text.strip())
    if m is None:
        raise ValueError(f"{text!r} is not a duration like 30d, 12h, 90m, 45s or 2w")
    seconds = float(m.group(1)) * _UNIT_SECONDS[m.group(2)]
    if seconds <= 0:
        raise ValueError("a duration must be more than zero")
    return timedelta(seconds=seconds)


def refusal(record: AgentRecord | None, now: datetime) -> str | None:
    """Why this agent's token does not work at ``now`` (UTC): ``"token revoked"``,
    ``"token expired"``, ``"unknown token"`` (no record); ``None`` when it works."""
    if record is None:
        return "unknown token"
    if record.revoked_at is not None and record.revoked_at <= now:
        return "token revoked"
    if record.expires_at is not None and record.expires_at <= now:
        return "token expired"
    return None


TokenState = Literal["active", "expired", "revoked"]
"""A token's state as the CLI lists it."""


def token_state(record: AgentRecord, now: datetime) -> TokenState:
    """``record``'s token at ``now`` (UTC): ``revoked``, ``expired`` or ``active``
    (:func:`refusal`'s reading)."""
    reason = refusal(record, now)
    if reason == "token revoked":
        return "revoked"
    return "expired" if reason == "token expired" else "active"


@dataclass
class _Seen:
    """An agent as last read, and their open connections."""

    record: AgentRecord | None
    connections: set[ServerConnection]


class TokenGuard:
    """Closes the connections of agents whose token stopped working (see the module).

    ``store``: where agents are read. ``interval``: seconds between re-reads while any
    agent is connected (the revocation delay bound). ``clock``: UTC now (tests fix it).
    ``start()`` runs the re-reads as a background task; ``close()`` stops it.
    :attr:`on_read` gets every re-read's agents (routing takes the agents whose token
    stopped working off the roster)."""

    def __init__(
        self,
        store: AsyncStore,
        interval: float = 1.0,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._store = store
        self.interval = interval
        self._clock = clock
        self._seen: dict[str, _Seen] = {}
        self._task = BackgroundTask()
        self.on_read: Callable[[dict[str, AgentRecord], datetime], None] = lambda r, now: None
        """Called with each re-read's agents (id → record) and the time it was applied."""

    def now(self) -> datetime:
        """The guard's clock: UTC now."""
        return self._clock()

    def know(self, record: AgentRecord) -> None:
        """Remember the record of an agent signing in (read from the store just now)."""
        seen = self._seen.get(record.id)
        if seen is None:
            self._seen[record.id] = _Seen(record, set())
        else:
            seen.record = record

    def watch(self, agent_id: str, ws: ServerConnection) -> None:
        """Track ``ws`` as a connection signed in as ``agent_id``."""
        self._seen.setdefault(agent_id, _Seen(None, set())).connections.add(ws)

    def forget(self, agent_id: str, ws: ServerConnection) -> None:
        """``ws`` ended."""
        # The record stays (one per agent): a reconnect's new connection, signed in
        # before the old one ended, still finds it.
        seen = self._seen.get(agent_id)
        if seen is not None:
            seen.connections.discard(ws)

    def refused(self, agent_id: str) -> str | None:
        """Why ``agent_id``'s token no longer works, by the state last read (cheap: for
        every frame), or ``None``."""
        seen = self._seen.get(agent_id)
        return refusal(seen.record if seen else None, self._clock())

    def start(self) -> None:
        """Start re-reading the agents every ``interval`` seconds."""
        self._task.every(self.interval, self._reread, "re-reading agents' tokens")

    async def close(self) -> None:
        """Stop the re-reads."""
        await self._task.close()

    async def _reread(self) -> None:
        if any(seen.connections for seen in self._seen.values()):
            records = await self._store.call(self._store.store.list_agents)
            self.check({r.id: r for r in records})

    def check(self, records: dict[str, AgentRecord]) -> int:
        """Apply the agents as read now (id → record; an agent missing was deleted):
        close the connections of those whose token no longer works. Returns how many
        connections are being closed."""
        now = self._clock()
        self.on_read(records, now)
        closing = 0
        for agent_id, seen in list(self._seen.items()):
            seen.record = records.get(agent_id)
            reason = refusal(seen.record, now)
            if reason is None:
                continue
            for ws in list(seen.connections):
                asyncio.ensure_future(close_refused(ws, reason))
                closing += 1
        return closing


async def close_refused(ws: ServerConnection, reason: str) -> None:
    """Tell the client why (``error``, code ``unauthorized``) and close with 1008."""
    log.info("closing an agent connection: %s", reason)
    with contextlib.suppress(Exception):
        await ws.send(SError(code="unauthorized", detail=reason).model_dump_json())
    with contextlib.suppress(Exception):
        await ws.close(CLOSE_POLICY, reason)
