"""Assemble and run a server: store + KB + answerer + conversation service + hub + gateway.

``start_server(settings)`` is what ``handoff serve`` and the tests run.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from dataclasses import dataclass

from handoff_server.agents import AgentDirectory
from handoff_server.ai import Answerer, make_answerer
from handoff_server.ai.courtesy_layer import with_courtesy
from handoff_server.config import Settings
from handoff_server.conversations import ConversationService
from handoff_server.gateway import Gateway
from handoff_server.hub import Hub
from handoff_server.kb.served import load_served_kb
from handoff_server.operator import OperatorDesk, build_operator_desk
from handoff_server.store import AsyncStore, open_store
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
    operator: OperatorDesk | None = None
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
        if self.operator is not None:
            await self.operator.close()
        await self.webhooks.close()
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


async def start_server(settings: Settings, answerer: Answerer | None = None) -> RunningServer:
    """Open the store, build the answerer (unless given; either way behind the courtesy
    layer, see :mod:`~handoff_server.ai.courtesy_layer`), finish interrupted AI turns,
    and start listening. Port 0 picks a free port (see ``RunningServer.port``).

    The store opens first, so a data dir that cannot be used fails at once
    (:class:`~handoff_server.errors.DataDirError`), before the index is built; if a
    later step fails the store is closed again. Webhook delivery (``[webhooks]``) runs
    as a background task of its own."""
    store = AsyncStore(open_store(settings.store))
    outbox = Outbox(settings.webhooks)
    webhooks = Deliverer(store, settings.webhooks, outbox)
    operator: OperatorDesk | None = None
    try:
        if answerer is None:
            answerer = await asyncio.to_thread(build_answerer, settings)
        hub = Hub(typing_expiry=settings.server.typing_expiry_seconds)
        service = ConversationService(
            store,
            with_courtesy(answerer),
            hub,
            default_policy=settings.policy,
            ai_timeout=settings.server.ai_timeout_seconds,
            outbox=outbox,
        )
        await service.initialise()
        operator = build_operator_desk(service, store, settings)
        gateway = Gateway(service, hub, AgentDirectory(store), settings.server, operator)
        await gateway.start()
        webhooks.start()
        operator.start()
    except BaseException:
        if operator is not None:
            await operator.close()
        await webhooks.close()
        await store.close()
        raise
    return RunningServer(
        gateway=gateway,
        service=service,
        store=store,
        host=settings.server.host,
        webhooks=webhooks,
        operator=operator,
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
