"""The agents' shared presence on PostgreSQL (issue 17), mixed into
:class:`~handoff_server.storage.postgres.PostgresStore`: one ``agent_presence`` row per
agent and node with a connection of theirs, written by that node's heartbeat
(:class:`~handoff_server.cluster.presence.PgPresenceBoard`); and one ``offer_leases``
row per conversation offered (push) now, taken by conditional upsert
(:class:`~handoff_server.cluster.presence.PgOfferLeases`).

Times are the database's (``now()``), never a node's clock: nodes whose clocks disagree
still agree on which rows are live.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from handoff_server.storage.pg_base import PgBase, jsonb, loads

__all__ = ["PgPresence"]

_COLUMNS = ("agent_id", "name", "role", "teams", "capacity", "status", "connected")
"""What a node writes of each agent (with its node id and the heartbeat time)."""


class PgPresence(PgBase):
    """The ``agent_presence`` table."""

    def presence_beat(
        self, node: str, rows: Sequence[dict[str, Any]], ttl_seconds: float
    ) -> list[dict[str, Any]]:
        """One heartbeat of ``node``, in one transaction: its rows replaced by ``rows``
        (dicts of ``agent_id``, ``name``, ``role``, ``teams`` (list), ``capacity``,
        ``status``, ``connected``) stamped now; rows of any node older than
        ``ttl_seconds`` deleted; every other node's remaining rows returned (the same
        dicts, with ``node``)."""
        with self._tx() as cur:
            cur.execute("DELETE FROM agent_presence WHERE node = %s", (node,))
            if rows:
                cur.executemany(
                    "INSERT INTO agent_presence (agent_id, name, role, teams, capacity,"
                    " status, connected, node, heartbeat_at)"
                    " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, now())",
                    [
                        (*(jsonb(r[c]) if c == "teams" else r[c] for c in _COLUMNS), node)
                        for r in rows
                    ],
                )
            cur.execute(
                "DELETE FROM agent_presence WHERE heartbeat_at < now() - make_interval(secs => %s)",
                (ttl_seconds,),
            )
            cur.execute(
                "SELECT agent_id, name, role, teams, capacity, status, connected, node"
                " FROM agent_presence WHERE node <> %s ORDER BY agent_id, node",
                (node,),
            )
            found = cur.fetchall()
        for row in found:
            row["teams"] = loads(row["teams"])
        return found

    def presence_leave(self, node: str) -> int:
        """Delete ``node``'s rows (it is stopping); returns how many there were."""
        return self._exec("DELETE FROM agent_presence WHERE node = %s", (node,))

    def offer_lease_take(
        self, conversation_id: str, agent_id: str, node: str, seconds: float
    ) -> bool:
        """Take the conversation's offer lease for ``node``'s offer to ``agent_id``, until
        ``seconds`` from now: only when no lease is in force, or the one in force is
        ``node``'s own (one statement: two nodes taking it at once, one wins)."""
        rows = self._rows(
            "INSERT INTO offer_leases (conversation_id, agent_id, node, expires_at)"
            " VALUES (%s, %s, %s, now() + make_interval(secs => %s))"
            " ON CONFLICT (conversation_id) DO UPDATE SET agent_id = excluded.agent_id,"
            " node = excluded.node, expires_at = excluded.expires_at"
            " WHERE offer_leases.expires_at < now() OR offer_leases.node = excluded.node"
            " RETURNING conversation_id",
            (conversation_id, agent_id, node, seconds),
        )
        return bool(rows)

    def offer_lease_end(self, conversation_id: str, agent_id: str, node: str) -> int:
        """End ``node``'s lease for its offer to ``agent_id`` (not a later one); returns
        how many rows went (0 or 1). Expired leases of any node go too."""
        return self._exec(
            "DELETE FROM offer_leases WHERE (conversation_id = %s AND agent_id = %s"
            " AND node = %s) OR expires_at < now() - interval '1 minute'",
            (conversation_id, agent_id, node),
        )
