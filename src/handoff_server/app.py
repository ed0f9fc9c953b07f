"""Assemble and run a server: store + KB + answerer + conversation service + hub + gateway.

``start_server(settings)`` is what ``handoff serve`` and the tests run.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import signal
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from handoff_server import heap, logredact
from handoff_server.agents import AgentDirectory
from handoff_server.ai import Answerer
from handoff_server.ai.courtesy_layer import with_courtesy
from handoff_server.ai.factory import index_path
from handoff_server.answering import configured_answerer, index_engine
from handoff_server.cluster.node import ClusterNode, open_node
from handoff_server.config import Settings, index_cache_dir
from handoff_server.conversations import ConversationService
from handoff_server.datadir import diagnose_data_dir, explain_os_error
from handoff_server.errors import DataDirError, ListenError
from handoff_server.event_loop import loop_name
from handoff_server.forgetting import ServerMemory
from handoff_server.gateway import Gateway
from handoff_server.hub import Hub
from handoff_server.kb.models import KnowledgeBase
from handoff_server.kb.served import load_served_kb
from handoff_server.operator import OperatorDesk, build_operator_desk
from handoff_server.progress import NO_PROGRESS, LogProgress, ProgressSink
from handoff_server.retention import ErasureWatch, RetentionSweep
from handoff_server.routing.desk import Desk, RoutedSink
from handoff_server.routing.fallbacks import unkeepable
from handoff_server.routing.presence import Presence
from handoff_server.store import AsyncStore, open_store, utcnow
from handoff_server.storehealth import is_storage_error
from handoff_server.tokens import TokenGuard
from handoff_server.warmup import (
    BUILDING,
    NotReadyAnswerer,
    in_daemon_thread,
    log_build_start,
)
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
    tokens: TokenGuard | None = None
    retention: RetentionSweep | None = None
    erasures: ErasureWatch | None = None
    """Forgets conversations erased from the store beside the server."""
    closed: bool = False
    warming: asyncio.Task[None] | None = None
    """The first index build when it runs in the background (``start_server(...,
    build_in_background=True)``); done once ``/readyz`` says ready."""

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
        if self.warming is not None and not self.warming.done():
            self.warming.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.warming
        if self.tokens is not None:
            await self.tokens.close()
        if self.retention is not None:
            await self.retention.close()
        if self.erasures is not None:
            await self.erasures.close()
        await self.gateway.close()
        await self.desk.close()
        await self.service.waiting.close()
        if self.operator is not None:
            await self.operator.close()
        await self.webhooks.close()
        if self.node is not None:
            await self.node.close()
        await self.store.close()


def build_answerer(settings: Settings, progress: ProgressSink = NO_PROGRESS) -> Answerer:
    """Load the KB named in the settings (the bundled demo KB when unset), with the
    entries operators added (:func:`~handoff_server.kb.served.load_served_kb`), and
    build the configured engine (``llm``: :func:`~handoff_server.ai.llm.make_llm_answerer`),
    using the index cache (``[ai] cache_dir``, else ``cache`` in the data dir).

    Raises :class:`~handoff_server.errors.KBError` for a bad KB,
    :class:`~handoff_server.errors.UnknownEngine` for an unknown engine.
    """
    kb = load_served_kb(settings.ai.kb, settings.store.data_dir)
    return configured_answerer(kb, settings, progress)


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
    board = node.board if node is not None else None
    desk = Desk(
        service,
        store,
        settings.assignment,
        presence=presence,
        board=board,
        cluster=settings.cluster,
    )
    service.seats = presence
    service.waiting.passed = desk.offers.passed
    service.waiting.unkeepable = unkeepable(settings.webhooks)
    if service.waiting.unkeepable:
        log.info(
            "offline messages are not offered to visitors: no webhook endpoint receives"
            " offline_message.replied, which carries the agent's answer to the team's mail"
            " system (docs/routing.md)"
        )
    desk.offers.on_passed = service.waiting.refresh_soon
    sink.observers.append(desk.observe)
    if node is not None:
        node.sink.on_queue = desk.observe  # other nodes' rows: who holds what, offers
        desk.offers.leases = node.leases
    return service, desk


def _retention(store: AsyncStore, settings: Settings, held: ServerMemory) -> RetentionSweep | None:
    """The retention sweep, started, when ``[store] retain_days`` is set; what it deletes
    leaves what the server holds in memory too (``held``)."""
    if settings.store.retain_days is None:
        return None
    sweep = RetentionSweep(
        store,
        settings.store.retain_days,
        settings.store.retention_sweep_seconds,
        on_erased=held.forget,
    )
    sweep.start()
    return sweep


def _data_dir_error(exc: BaseException, settings: Settings) -> DataDirError:
    """A start-up step failed on the store or the disk: the error naming the data dir
    and the real cause (read-only, full, permission)."""
    cause = diagnose_data_dir(settings.store.data_dir) or explain_os_error(exc)
    return DataDirError(f"the data dir {settings.store.data_dir}: {cause}")


async def _listen(gateway: Gateway, settings: Settings) -> None:
    """Bind the gateway; raises :class:`~handoff_server.errors.ListenError` naming the
    host, port and cause (only the bind is a listen failure)."""
    try:
        await gateway.start()
    except OSError as exc:
        where = f"{settings.server.host}:{settings.server.port}"
        raise ListenError(f"cannot listen on {where}: {exc.strerror or exc}") from exc


async def _first_answerer(
    settings: Settings, answerer: Answerer | None, build_in_background: bool
) -> tuple[Answerer, KnowledgeBase | None]:
    """``(answerer, None)``: the given one, or the configured one built now; with
    ``build_in_background``, ``(placeholder, KB to build for)`` (the KB is loaded now, so
    a bad one fails at once)."""
    if answerer is not None:
        return answerer, None
    if build_in_background:
        kb = await asyncio.to_thread(load_served_kb, settings.ai.kb, settings.store.data_dir)
        return NotReadyAnswerer(), kb
    return await asyncio.to_thread(build_answerer, settings), None


async def _close_started(
    service: ConversationService | None,
    operator: OperatorDesk | None,
    webhooks: Deliverer,
    node: ClusterNode | None,
    store: AsyncStore,
) -> None:
    """Close what a start that failed had started (``None``: not started yet)."""
    if service is not None:
        await service.waiting.close()
    if operator is not None:
        await operator.close()
    await webhooks.close()
    if node is not None:
        await node.close()
    await store.close()


async def start_server(
    settings: Settings,
    answerer: Answerer | None = None,
    *,
    clock: Callable[[], datetime] = utcnow,
    build_in_background: bool = False,
) -> RunningServer:
    """Open the store, build the answerer (unless given; either way behind the courtesy
    layer, see :mod:`~handoff_server.ai.courtesy_layer`), finish interrupted AI turns,
    and start listening. Port 0 picks a free port (see ``RunningServer.port``).

    The store opens first, so a data dir that cannot be used fails at once
    (:class:`~handoff_server.errors.DataDirError`), before the index is built; if a
    later step fails the store is closed again. Webhook delivery (``[webhooks]``) runs
    as a background task of its own. ``clock`` (UTC) times the conversations' changes
    and the waiting room's business hours (tests fix it).

    ``build_in_background`` (what ``handoff serve`` does): load the KB (a bad one fails
    here), start listening at once with ``/readyz`` at 503 and handshakes refused, and
    build the index and finish starting in ``RunningServer.warming``
    (:mod:`~handoff_server.warmup`)."""
    logredact.install()
    store = AsyncStore(open_store(settings.store))
    outbox = Outbox(settings.webhooks)
    webhooks = Deliverer(store, settings.webhooks, outbox)
    operator: OperatorDesk | None = None
    service: ConversationService | None = None
    node: ClusterNode | None = None
    guard = TokenGuard(store, settings.server.token_check_seconds)
    try:
        answerer, kb = await _first_answerer(settings, answerer, build_in_background)
        hub = Hub(typing_expiry=settings.server.typing_expiry_seconds)
        node = await open_node(settings, store, hub)
        parts = _Parts(store, hub, outbox, webhooks, guard, node)
        running = _assemble(settings, answerer, clock, parts)
        service, operator = running.service, running.operator
        if kb is None:
            await _finish_start(running)
        else:
            running.gateway.warming = BUILDING
        await _listen(running.gateway, settings)
        _warn_open_metrics(settings)
        guard.start()
        held = ServerMemory(service, running.desk, hub, node.sink if node is not None else None)
        running.retention = _retention(store, settings, held)
        running.erasures = ErasureWatch(store, held.held_ids, held.erased)
        running.erasures.start()
    except BaseException as exc:
        await guard.close()
        await _close_started(service, operator, webhooks, node, store)
        if settings.store.url is None and (is_storage_error(exc) or isinstance(exc, sqlite3.Error)):
            raise _data_dir_error(exc, settings) from exc
        raise
    if kb is not None:
        running.warming = asyncio.create_task(_warm(running, settings, kb))
    return running


@dataclass
class _Parts:
    """What :func:`start_server` opened before assembling the server."""

    store: AsyncStore
    hub: Hub
    outbox: Outbox
    webhooks: Deliverer
    guard: TokenGuard
    node: ClusterNode | None


def _assemble(
    settings: Settings, answerer: Answerer, clock: Callable[[], datetime], parts: _Parts
) -> RunningServer:
    """The service, routing desk, agents' sign-in, operator desk and gateway around
    ``parts`` (nothing started yet)."""
    store, hub, node = parts.store, parts.hub, parts.node
    service, desk = _routed_service(settings, store, hub, answerer, parts.outbox, clock, node)
    agents = AgentDirectory(store, on_sign_in=desk.presence.know, guard=parts.guard)
    parts.guard.on_read = desk.tokens_read
    operator = build_operator_desk(service, store, settings)
    gateway = Gateway(service, hub, agents, settings.server, desk, operator, store=store)
    gateway.readiness = node.readiness if node is not None else None
    return RunningServer(
        gateway=gateway,
        service=service,
        store=store,
        host=settings.server.host,
        webhooks=parts.webhooks,
        desk=desk,
        operator=operator,
        node=node,
        tokens=parts.guard,
    )


async def _finish_start(server: RunningServer) -> None:
    """What needs the answerer: finish interrupted AI turns, start routing, webhook
    delivery and the operator desk."""
    await server.service.initialise()
    if server.node is not None:
        await server.node.start(server.service)
    await server.desk.start()
    server.webhooks.start()
    if server.operator is not None:
        server.operator.start()


async def _warm(server: RunningServer, settings: Settings, kb: KnowledgeBase) -> None:
    """Build the index in a daemon thread (progress in the log), put the answerer in
    place, finish starting, and mark the gateway ready. Raises what the build raises;
    a store that fails while finishing is a
    :class:`~handoff_server.errors.DataDirError`, as at start."""
    engine, cache_dir = index_engine(settings), index_cache_dir(settings)
    started = time.monotonic()
    progress = LogProgress(log, "building the index")

    url = server.url

    def build() -> Answerer:  # all of it off the event loop: /healthz keeps answering
        log_build_start(kb, engine, index_path(kb, engine, cache_dir), url)
        return configured_answerer(kb, settings, progress)

    answerer = await in_daemon_thread(build)
    server.service.answerer = with_courtesy(answerer)
    try:
        await _finish_start(server)
    except Exception as exc:
        if is_storage_error(exc) or isinstance(exc, sqlite3.Error):
            raise _data_dir_error(exc, settings) from exc
        raise
    server.gateway.warming = None
    log.info("index ready in %.1f s; /readyz answers 200", time.monotonic() - started)


async def run_forever(settings: Settings, *, announce: bool = True) -> None:
    """Run until SIGTERM or SIGINT, then shut down gracefully (exit status 0).

    Binds the port first and builds the index in the background (the log says so, with
    the URL, the estimate and the progress; ``/healthz`` answers, ``/readyz`` is 503
    until ready). Prints ``handoff listening on ws://HOST:PORT`` once ready: scripts read
    the port from it when they pass port 0, and may connect as soon as they see it. A
    failed build stops the server and raises its error. Then prints ``demo page on
    http://HOST:PORT/demo`` when ``server.demo_page`` is on.
    """
    server = await start_server(settings, build_in_background=True)
    _log_where(settings)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    try:
        if server.warming is not None:  # its task logged "bound …; not ready until …"
            await _ready_or_stopped(stop, server.warming)
        if not stop.is_set():
            frozen = heap.settle()
            log.debug("%d start-up objects moved out of the cyclic GC's reach", frozen)
        if announce and not stop.is_set():
            print(f"handoff listening on {server.url}", flush=True)
            if settings.server.demo_page:
                print(f"demo page on http://{server.host}:{server.port}/demo", flush=True)
        await stop.wait()
    finally:
        log.info("shutting down")
        await server.close()
        log.info("stopped")


def _warn_open_metrics(settings: Settings) -> None:
    """Warn when ``/metrics`` is open (``[server] metrics_token`` unset) and the server
    listens beyond loopback: anyone who reaches the port can read it."""
    host = settings.server.host
    if settings.server.metrics_token is not None or host == "localhost":
        return
    with contextlib.suppress(ValueError):  # a host name: may be reachable from outside
        if ipaddress.ip_address(host).is_loopback:
            return
    log.warning(
        "/metrics is open to anyone who reaches %s:%d (agents online, connections, frame"
        " counts); set [server] metrics_token to require a bearer token",
        host,
        settings.server.port,
    )


def _log_where(settings: Settings) -> None:
    """Log the data dir (and the store), the KB, the engine and the event loop
    (:mod:`~handoff_server.event_loop`) of a started server:
    'handoff token create' and the other store commands must be given the same data dir
    (or store) to act on its agents and conversations."""
    log.info(
        "data dir %s (%s; 'handoff token create' and the other commands need the same "
        "--data-dir); KB: %s; engine: %s; event loop: %s",
        settings.store.data_dir,
        "a PostgreSQL store" if settings.store.url else "SQLite store there",
        settings.ai.kb or "the bundled demo KB",
        settings.ai.engine,
        loop_name(asyncio.get_running_loop()),
    )


async def _ready_or_stopped(stop: asyncio.Event, warming: asyncio.Task[None]) -> None:
    """Wait until ``warming`` (the first build) is done or ``stop`` is set; raise what a
    failed build raised."""
    stopping = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait({stopping, warming}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopping.cancel()
    if warming.done() and not warming.cancelled():
        error = warming.exception()
        if error is not None:
            raise error
