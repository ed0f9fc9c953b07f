"""Assemble and run a server: store + KB + answerer + conversation service + hub + gateway.

``start_server(settings)`` is what ``handoff serve`` and the tests run.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from handoff_server.agents import AgentDirectory
from handoff_server.ai import Answerer, make_answerer
from handoff_server.ai.courtesy_layer import with_courtesy
from handoff_server.config import Settings
from handoff_server.conversations import ConversationService
from handoff_server.gateway import Gateway
from handoff_server.hub import Hub
from handoff_server.kb import load_kb
from handoff_server.routing import ConnectedStaffing
from handoff_server.store import AsyncStore, open_store, utcnow
from handoff_server.webhooks import Deliverer, Outbox

__all__ = ["RunningServer", "build_answerer", "run_forever", "start_server"]

log = logging.getLogger(__name__)


@dataclass
class RunningServer:
    """A started server. ``url`` is ``ws://host:port``; ``close()`` shuts it down cleanly."""

    gateway: Gateway
    service: ConversationService
    store: AsyncStore
    host: str
    webhooks: Deliverer
    closed: bool = False

    @property
    def port(self) -> int:
        """The bound TCP port."""
        return self.gateway.port

    @property
    def url(self) -> str:
        """Base websocket URL, e.g. ``ws://127.0.0.1:8765``."""
        return f"ws://{self.host}:{self.port}"

    async def close(self) -> None:
        """Stop accepting, close connections, close the store. Idempotent."""
        if self.closed:
            return
        self.closed = True
        await self.gateway.close()
        await self.service.waiting.close()
        await self.webhooks.close()
        await self.store.close()


def build_answerer(settings: Settings) -> Answerer:
    """Load the KB named in the settings (the bundled demo KB when unset) and build the
    configured engine, using the index cache under the data dir.

    Raises :class:`~handoff_server.errors.KBError` for a bad KB,
    :class:`~handoff_server.errors.UnknownEngine` for an unknown engine.
    """
    kb = load_kb(settings.ai.kb)
    return make_answerer(kb, settings.ai.engine, cache_dir=settings.store.data_dir / "cache")


async def connected_staffing(store: AsyncStore, hub: Hub, capacity: int) -> ConnectedStaffing:
    """The stand-in staffing: agents connected to ``hub``, each holding up to
    ``capacity`` conversations, loaded with those assigned to them in ``store``."""
    staffing = ConnectedStaffing(hub.online_agent_ids, capacity)
    assigned = await store.call(store.store.list_conversations, ["assigned"])
    staffing.seed((c.id, c.assigned_agent_id) for c in assigned if c.assigned_agent_id)
    hub.on_agent_online.append(staffing.agent_online)
    return staffing


async def start_server(
    settings: Settings,
    answerer: Answerer | None = None,
    *,
    clock: Callable[[], datetime] = utcnow,
) -> RunningServer:
    """Open the store, build the answerer (unless given; either way behind the courtesy
    layer, see :mod:`~handoff_server.ai.courtesy_layer`), finish interrupted AI turns,
    and start listening. Port 0 picks a free port (see ``RunningServer.port``).

    The store opens first, so a data dir that cannot be used fails at once
    (:class:`~handoff_server.errors.DataDirError`), before the index is built; if a
    later step fails the store is closed again. Webhook delivery (``[webhooks]``) runs
    as a background task of its own. ``clock`` (UTC) times the conversations' changes
    and the waiting room's business hours (tests fix it)."""
    store = AsyncStore(open_store(settings.store))
    outbox = Outbox(settings.webhooks)
    webhooks = Deliverer(store, settings.webhooks, outbox)
    service: ConversationService | None = None
    try:
        if answerer is None:
            answerer = await asyncio.to_thread(build_answerer, settings)
        hub = Hub(typing_expiry=settings.server.typing_expiry_seconds)
        staffing = await connected_staffing(store, hub, settings.waiting.capacity)
        service = ConversationService(
            store,
            with_courtesy(answerer),
            hub,
            default_policy=settings.policy,
            ai_timeout=settings.server.ai_timeout_seconds,
            outbox=outbox,
            clock=clock,
            staffing=staffing,
            waiting=settings.waiting,
        )
        service.waiting.observers.append(
            lambda conv: staffing.track(conv.id, conv.status, conv.assigned_agent_id)
        )
        await service.initialise()
        gateway = Gateway(service, hub, AgentDirectory(store), settings.server)
        await gateway.start()
        webhooks.start()
    except BaseException:
        if service is not None:
            await service.waiting.close()
        await webhooks.close()
        await store.close()
        raise
    return RunningServer(
        gateway=gateway,
        service=service,
        store=store,
        host=settings.server.host,
        webhooks=webhooks,
    )


async def run_forever(settings: Settings, *, announce: bool = True) -> None:
    """Run until SIGTERM or SIGINT, then shut down gracefully (exit status 0).

    Prints ``handoff listening on ws://HOST:PORT`` once ready (scripts read the port from
    it when they pass port 0).
    """
    server = await start_server(settings)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    if announce:
        print(f"handoff listening on {server.url}", flush=True)
    try:
        await stop.wait()
    finally:
        log.info("shutting down")
        await server.close()
