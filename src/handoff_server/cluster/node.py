"""One node of several sharing a PostgreSQL store: its conversation locks, its bus, its
fan-out and its recovery of interrupted turns, opened and closed together."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from handoff_server.cluster.bus import Bus, InProcessBus, NatsBus
from handoff_server.cluster.fanout import ClusterSink
from handoff_server.cluster.locks import PgLocks
from handoff_server.cluster.presence import PgOfferLeases, PgPresenceBoard
from handoff_server.cluster.recovery import TurnRecovery
from handoff_server.config import Settings
from handoff_server.conversations import ConversationService
from handoff_server.errors import DataDirError
from handoff_server.hub import Hub
from handoff_server.store import AsyncStore

__all__ = ["ClusterNode", "open_node"]


@dataclass
class ClusterNode:
    """This node's share of the cluster: ``locks`` (across nodes), ``bus``, ``sink`` (the
    hub behind the fan-out), ``board`` (the agents' shared presence, synced by the
    routing desk), ``leases`` (push offers' leases) and ``recovery`` (started with :meth:`start`)."""

    locks: PgLocks
    bus: Bus
    sink: ClusterSink
    store: AsyncStore
    every: float
    board: PgPresenceBoard
    leases: PgOfferLeases
    recovery: TurnRecovery | None = field(default=None)

    async def start(self, service: ConversationService) -> None:
        """Connect the bus and start the fan-out's catch-up and the turn recovery."""
        await self.sink.start()
        self.recovery = TurnRecovery(service, self.every)
        self.recovery.start()

    async def readiness(self) -> dict[str, bool]:
        """``{"database": ..., "bus": ...}``: whether each answers now."""
        ping = getattr(self.store.store, "ping", None)
        try:
            if ping is not None:
                await asyncio.wait_for(self.store.call(ping), timeout=2)
            database = True
        except Exception:
            database = False
        return {"database": database, "bus": self.bus.ready}

    async def close(self) -> None:
        """Stop the recovery and the fan-out, release the locks' connections."""
        if self.recovery is not None:
            await self.recovery.close()
        await self.sink.close()
        await self.locks.close()


async def open_node(settings: Settings, store: AsyncStore, hub: Hub) -> ClusterNode | None:
    """The node's cluster parts when the store is PostgreSQL (``store.url``), else
    ``None`` (one node: in-process locks and bus). Raises
    :class:`~handoff_server.errors.DataDirError` (``store_failed``) when the lock pool
    cannot connect."""
    url = settings.store.url
    if url is None:
        return None
    locks = PgLocks(url)
    try:
        await locks.open()
    except Exception as exc:
        await locks.close()
        raise DataDirError(
            f"cannot open the conversation locks: {exc}", code="store_failed"
        ) from None
    bus: Bus = NatsBus(settings.cluster.bus) if settings.cluster.bus else InProcessBus()
    sink = ClusterSink(hub, store, bus, locks, settings.cluster.catch_up_seconds)
    board = PgPresenceBoard(store, bus.node, settings.cluster.presence_ttl_seconds)
    leases = PgOfferLeases(store, bus.node)
    every = settings.cluster.recover_after_seconds
    return ClusterNode(locks, bus, sink, store, every, board, leases)
