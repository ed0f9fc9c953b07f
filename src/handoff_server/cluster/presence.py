"""The agents' shared presence on PostgreSQL: the
:class:`~handoff_server.routing.board.PresenceBoard` of nodes sharing a store.

Each node's heartbeat (every ``[cluster] presence_heartbeat_seconds``, and at once when
one of its agents connects, changes status or leaves) replaces its rows in
``agent_presence`` and reads the other nodes' rows younger than
``presence_ttl_seconds`` (the database's clock), in one transaction on the store's pool
(:mod:`handoff_server.storage.pg_presence`). A node that dies stops beating: its rows
stop counting after the time-to-live, and the next heartbeat of any node deletes them.

:class:`PgOfferLeases`: a push offer's lease, one per conversation across nodes, taken
by a conditional upsert and expiring with the offer (``offer_timeout_seconds``), so a
dead node's offer frees the conversation for the others on time.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict

from handoff_server.routing.board import PresenceRow
from handoff_server.store import AsyncStore

__all__ = ["PgOfferLeases", "PgPresenceBoard"]


class PgPresenceBoard:
    """Presence rows in the shared PostgreSQL store ``store`` (a
    :class:`~handoff_server.storage.postgres.PostgresStore` behind an
    :class:`~handoff_server.store.AsyncStore`), written as node ``node``, live for
    ``ttl`` seconds after their heartbeat. Raises ``psycopg`` errors when the database
    cannot be reached."""

    shared = True

    def __init__(self, store: AsyncStore, node: str, ttl: float) -> None:
        self.store = store
        self.node = node
        self.ttl = ttl

    async def beat(self, rows: Sequence[PresenceRow]) -> list[PresenceRow]:
        """Write this node's rows; the other nodes' live ones."""
        mine = [
            {k: (list(v) if k == "teams" else v) for k, v in asdict(r).items() if k != "node"}
            for r in rows
        ]
        db = self.store.store
        found = await self.store.call(db.presence_beat, self.node, mine, self.ttl)  # type: ignore[attr-defined]
        return [PresenceRow(**{**r, "teams": tuple(r["teams"])}) for r in found]

    async def leave(self) -> None:
        """Delete this node's rows."""
        db = self.store.store
        await self.store.call(db.presence_leave, self.node)  # type: ignore[attr-defined]


class PgOfferLeases:
    """Push offers' leases in the shared store ``store`` (as :class:`PgPresenceBoard`),
    taken as node ``node``. Raises ``psycopg`` errors when the database cannot be
    reached."""

    def __init__(self, store: AsyncStore, node: str) -> None:
        self.store = store
        self.node = node

    async def take(self, conversation_id: str, agent_id: str, seconds: float) -> bool:
        """Take the conversation's lease for an offer to ``agent_id``."""
        db = self.store.store
        return bool(
            await self.store.call(
                db.offer_lease_take,  # type: ignore[attr-defined]
                conversation_id,
                agent_id,
                self.node,
                seconds,
            )
        )

    async def end(self, conversation_id: str, agent_id: str) -> None:
        """End this node's lease for its offer to ``agent_id``."""
        db = self.store.store
        await self.store.call(db.offer_lease_end, conversation_id, agent_id, self.node)  # type: ignore[attr-defined]
