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
from handoff_server.cluster.node import ClusterNode, open_node
from handoff_server.config import Settings
from handoff_server.conversations import ConversationService
from handoff_server.gateway import Gateway
from handoff_server.hub import Hub
from handoff_server.kb.served import load_served_kb
from handoff_server.operator import OperatorDesk, build_operator_desk
from handoff_server.routing.desk import Desk, RoutedSink
from handoff_server.routing.presence import Presence
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
    desk: Desk
    operator: OperatorDesk | None = None
    node: ClusterNode | None = None
    """This node's cluster parts (a PostgreSQL store), else ``None``."""
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
        await self.desk.close()
        await self.service.waiting.close()
        if self.operator is not None:
            await self.operator.close()
        await self.webhooks.close()
        if self.node is not None:
            await self.node.close()
        await self.store.close()


def build_answerer(settings: Settings) -> Answerer:
    """Load the KB named in the settings (the bundled demo KB when unset), with the
    entries operators added (:func:`~handoff_server.kb.served.load_served_kb`), and
    build the configured engine, using the index cache under the data dir.

    Raises :class:`~handoff_server.errors.KBError` for a bad KB,
    :class:`~handoff_server.errors.UnknownEngine` for an unknown engine.
    """
    kb = load_served_kb(settings.ai.kb, settings.store.data_dir)
    return make_answerer(kb, settings.ai.engine, cache_dir=settings.store.data_dir / "cache")


def _routed_service(
    settings: Settings,
    store: AsyncStore,
    hub: Hub,
    answerer: Answerer,
    outbox: Outbox,
    clock: Callable[[], datetime],
    node: ClusterNode | None = None,
) -> tuple[ConversationService, Desk]:
    """The conversation service and the routing desk around one
    :class:`~handoff_server.routing.presence.Presence`: the desk's (agents' presence,
    capacity and offers), the service's seats, and the staffing its waiting room reads
    (wait estimates, the queue gate, fallbacks)."""
    sink = RoutedSink(node.sink if node is not None else hub)
    presence = Presence.from_settings(settings.assignment)
    service = ConversationService(
        store,
        with_courtesy(answerer),
        sink,
        default_policy=settings.policy,
        ai_timeout=settings.server.ai_timeout_seconds,
        outbox=outbox,
        clock=clock,
        staffing=presence,
        waiting=settings.waiting,
        locks=node.locks if node is not None else None,
    )
    desk = Desk(service, store, settings.assignment, presence=presence)
    service.seats = presence
    sink.observers.append(desk.observe)
    return service, desk


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
    operator: OperatorDesk | None = None
    service: ConversationService | None = None
    node: ClusterNode | None = None
    try:
        if answerer is None:
            answerer = await asyncio.to_thread(build_answerer, settings)
        hub = Hub(typing_expiry=settings.server.typing_expiry_seconds)
        node = await open_node(settings, store, hub)
        service, desk = _routed_service(settings, store, hub, answerer, outbox, clock, node)
        await service.initialise()
        if node is not None:
            await node.start(service)
        await desk.start()
        agents = AgentDirectory(store, on_sign_in=desk.presence.know)
        operator = build_operator_desk(service, store, settings)
        gateway = Gateway(service, hub, agents, settings.server, desk, operator)
        if node is not None:
            gateway.readiness = node.readiness
        await gateway.start()
        webhooks.start()
        operator.start()
    except BaseException:
        if service is not None:
            await service.waiting.close()
        if operator is not None:
            await operator.close()
        await webhooks.close()
        if node is not None:
            await node.close()
        await store.close()
        raise
    return RunningServer(
        gateway=gateway,
        service=service,
        store=store,
        host=settings.server.host,
        webhooks=webhooks,
        desk=desk,
        operator=operator,
        node=node,
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
