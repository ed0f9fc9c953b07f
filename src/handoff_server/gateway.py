"""The websocket gateway: paths, auth, origin checks, limits, frame parsing, health.

Paths:

- ``/v1/visitor`` — visitors (first frame ``start`` or ``resume``).
- ``/v1/agent`` — agents and operators; token as ``Authorization: Bearer T`` or
  ``?token=T`` in the handshake (a bad token gets HTTP 401), or an ``auth`` frame first.
  Operator frames go to the :class:`~handoff_server.operator.OperatorDesk`, which
  refuses them from agents (``forbidden``).
- ``/healthz`` (process up), ``/readyz`` (store and AI loaded; a cluster node adds its database and bus), ``/metrics`` (Prometheus
  text format) over ``process_request``.
- ``/widget.js``, ``/widget.css`` (the web chat widget) and, with ``demo_page``, ``/demo``
  (a page embedding it), from :mod:`handoff_server.web`.

Limits: frames over ``max_frame_bytes`` close the connection (1009); messages over
``max_message_chars`` get ``message_too_long``, text with no visible character (see
:func:`~handoff_server.protocol.has_visible_text`) ``empty_message``; more than
``rate_limit_per_minute`` frames on a connection, ``rate_limit_per_ip_per_minute`` from
an address or ``rate_limit_per_conversation_per_minute`` in a conversation get
``rate_limited``; a ``start`` with visitor info over its bounds gets
``visitor_info_too_large``. A refused frame changes nothing and the connection stays
open. Connections over ``max_connections`` (or ``max_connections_per_ip``) get HTTP 503
``too_many_connections`` before any handshake; a handshake must finish within
``handshake_timeout_seconds``, a visitor send ``start``/``resume`` within
``first_frame_timeout_seconds``; an address past its failed sign-ins gets
``rate_limited`` (HTTP 429). Answers come in pages (transcripts by ``seq`` range, the
queue as a first page then its other rows) and each client's send queue is bounded in
bytes: see :mod:`handoff_server.guard`.

No business rules here: every decision is the conversation service's. The gateway owns
the connections: the :class:`~handoff_server.hub.Hub` with each client's send queue, to
which the service publishes.
"""

from __future__ import annotations

import asyncio
import contextlib
import http
import json
import logging
import re
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Protocol, TypeVar, cast
from urllib.parse import urlsplit

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from handoff_server.admission import Admission
from handoff_server.agents import AgentDirectory
from handoff_server.compression import server_extensions
from handoff_server.config import ServerSettings
from handoff_server.conversations import ConversationService, finish_task
from handoff_server.conversations.sink import Attach
from handoff_server.datadir import explain_os_error
from handoff_server.errors import ProtocolError, WireError
from handoff_server.frames import parse_agent_frame, parse_visitor_frame
from handoff_server.guard import (
    Gatekeeper,
    TokenBucket,
    check_visitor_info,
    guarded_connection,
    queue_answer,
    transcript_page,
)
from handoff_server.guard.connections import peer_address
from handoff_server.handshake import (
    BadRequest,
    bad_request,
    health_response,
    metrics_refusal,
    not_ready,
)
from handoff_server.hub import Hub, Subscriber
from handoff_server.metrics import exposition
from handoff_server.operator.desk import OperatorDesk, is_operator_frame
from handoff_server.protocol import (
    AAccept,
    AAnswerOffline,
    AAuth,
    ACallbackDone,
    AClose,
    ADecline,
    AgentFrame,
    AgentInfo,
    AOpen,
    APresence,
    ASubscribeQueue,
    ATransfer,
    ATyping,
    ErrorCode,
    Limits,
    SAuthenticated,
    SConversation,
    SError,
    SEvent,
    SWelcome,
    VChooseFallback,
    VisitorLimits,
    VLeaveMessage,
    VMessage,
    VRequestCallback,
    VRequestHuman,
    VResume,
    VStart,
    VTyping,
    has_visible_text,
)
from handoff_server.routing.desk import Desk
from handoff_server.store import AsyncStore
from handoff_server.storehealth import is_storage_error
from handoff_server.tokens import close_refused
from handoff_server.web import WEB_PATHS, web_response

__all__ = ["Gateway", "TokenBucket"]

log = logging.getLogger(__name__)


class _Typed(Protocol):
    @property
    def type(self) -> str: ...


F = TypeVar("F", bound=_Typed)


def checked_text(text: str | None, limit: int, *, required: bool = True) -> str | None:
    """A client's text as the server keeps it (stripped), or ``WireError``:
    ``empty_message`` when it is missing (and ``required``) or has no visible character,
    ``message_too_long`` past ``limit`` characters. ``None`` stays ``None`` when optional."""
    if text is None:
        if required:
            raise WireError("text is required", code="empty_message")
        return None
    if not has_visible_text(text):
        raise WireError("message has no visible character", code="empty_message")
    if len(text) > limit:
        raise WireError(
            f"message is {len(text)} characters; the limit is {limit}", code="message_too_long"
        )
    return text.strip()


def _metrics_response(connection: ServerConnection, gateway: Gateway) -> Response:
    """``/metrics`` in the Prometheus text format: agents online, connections open and
    the frames counted per kind (``gateway``'s), then what ``prometheus_client`` keeps."""
    connections = len(gateway.server.connections) if gateway.server else 0
    lines = [
        "# TYPE handoff_agents_online gauge",
        f"handoff_agents_online {gateway.hub.agents_online}",
        "# TYPE handoff_connections_open gauge",
        f"handoff_connections_open {connections}",
        "# TYPE handoff_frames_total counter",
    ]
    for key, value in sorted(gateway.metrics.items()):
        lines.append(f'handoff_frames_total{{kind="{key}"}} {value}')
    lines.append(exposition())  # metrics kept with prometheus_client (the llm engine's)
    resp = connection.respond(http.HTTPStatus.OK, "\n".join(lines) + "\n")
    del resp.headers["Content-Type"]  # respond() set text/plain; utf-8
    resp.headers["Content-Type"] = "text/plain; version=0.0.4"
    return resp


def _closer(ws: ServerConnection) -> Callable[[int, str], None]:
    """A callable closing ``ws`` (websocket close code, reason) without blocking."""

    def close(code: int, reason: str) -> None:
        asyncio.ensure_future(ws.close(code, reason))

    return close


class Gateway:
    """Serves the protocol for one :class:`ConversationService`.

    ``hub``: the connections (the sink the service publishes to). ``agents``: signs
    agents in. ``desk``: routing (presence, offers, transfers). ``store``: whose
    writability ``/readyz`` reports with ``ready``. ``start()`` binds (port 0 picks a
    free port, see ``port``); ``close()`` stops accepting, closes connections (1001)
    and waits. ``warming``: why it is not ready although it listens (the first index
    build, :mod:`~handoff_server.warmup`); ``readiness``: a cluster node's more parts.
    """

    def __init__(
        self,
        service: ConversationService,
        hub: Hub,
        agents: AgentDirectory,
        settings: ServerSettings,
        desk: Desk,
        operator: OperatorDesk | None = None,
        *,
        store: AsyncStore,
    ) -> None:
        self.service = service
        self.hub = hub
        self.agents = agents
        self.desk = desk
        self.settings = settings
        self.store = store
        self.operator = operator if operator is not None else OperatorDesk({})
        self.server: Server | None = None
        self.ready = False
        self.warming: str | None = None
        self.readiness: Callable[[], Awaitable[dict[str, bool]]] | None = None
        self.metrics: Counter[str] = Counter()
        self.guard = Gatekeeper(settings, self.metrics)
        self.admission = Admission(settings, self.guard, agents, self.metrics)

    @property
    def port(self) -> int:
        """The bound TCP port."""
        assert self.server is not None
        port: int = self.server.sockets[0].getsockname()[1]
        return port

    async def start(self) -> None:
        """Bind and start serving."""
        self.server = await serve(
            self._handler,
            self.settings.host,
            self.settings.port,
            process_request=self._process_request,
            max_size=self.settings.max_frame_bytes,
            server_header="handoff",
            compression=None,
            extensions=server_extensions(),
            open_timeout=self.settings.handshake_timeout_seconds,
            create_connection=guarded_connection(self.guard.limiter),
        )
        self.ready = True

    async def close(self) -> None:
        """Graceful shutdown: stop accepting, close every connection, wait for handlers."""
        self.ready = False
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()

    # ------------------------------------------------------------------ HTTP

    async def _process_request(
        self, connection: ServerConnection, request: Request
    ) -> Response | None:
        url = urlsplit(request.path)
        path = url.path
        if path in ("/healthz", "/readyz"):
            return await health_response(
                connection, path, self.store, self.ready, self.warming, self.readiness
            )
        if path == "/metrics":
            refusal = metrics_refusal(connection, request.headers, self.settings.metrics_token)
            return refusal or _metrics_response(connection, self)
        # The web widget's files and the demo page (handoff_server.web).
        if path in WEB_PATHS:
            web = web_response(connection, path, demo_page=self.settings.demo_page)
            if web is not None:
                return web
        if path not in ("/v1/visitor", "/v1/agent"):
            return connection.respond(http.HTTPStatus.NOT_FOUND, "not found\n")
        if self.warming is not None:
            return not_ready(connection, self.warming)
        try:
            return await self.admission.check(connection, request.headers, path, url.query)
        except BadRequest as exc:
            self.metrics["handshake_bad_request"] += 1
            return bad_request(connection, exc)

    # ------------------------------------------------------------------ websocket

    async def _handler(self, ws: ServerConnection) -> None:
        path = urlsplit(ws.request.path).path if ws.request else ""
        sub = Subscriber(
            role="visitor" if path == "/v1/visitor" else "agent",
            max_bytes=self.settings.send_queue_bytes,
            address=peer_address(ws.transport),
        )

        close = sub.close_connection = _closer(ws)
        sub.on_overflow = lambda: close(1013, "client too slow; resume")
        writer = asyncio.create_task(_writer(ws, sub))
        try:
            if path == "/v1/visitor":
                await self._visitor(ws, sub)
            else:
                await self._agent(ws, sub)
        except ConnectionClosed:
            pass
        finally:
            self.hub.drop(sub)
            if sub.agent is not None:
                self.desk.unlinked(sub.agent, sub)
            self.operator.drop(sub)
            writer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await writer

    async def _frames(
        self, ws: ServerConnection, sub: Subscriber, parse: Callable[[str | bytes], F]
    ) -> AsyncIterator[F]:
        """Yield parsed frames; answer bad ones with an error frame and go on. The next
        frame is read only once the client's send queue has room (see
        :meth:`Subscriber.wait_for_room`); each spends a token of the connection's and of
        its address's bucket."""
        bucket = self.guard.connection_bucket()
        while True:
            await sub.wait_for_room()
            raw = await ws.recv()
            if not self.guard.take_frame(bucket, sub.address):
                sub.push(_refusal(raw, "rate_limited", "too many frames; slow down"))
                continue
            try:
                frame = parse(raw)
            except ProtocolError as exc:
                self.metrics["invalid"] += 1
                sub.push(_refusal(raw, exc.code, exc.detail))
                continue
            self.metrics[frame.type] += 1
            yield frame

    def _check_text(self, text: str | None, *, required: bool = True) -> str | None:
        return checked_text(text, self.settings.max_message_chars, required=required)

    async def _visitor(self, ws: ServerConnection, sub: Subscriber) -> None:
        conversation_id: str | None = None
        deadline = _FirstFrameDeadline(ws, self.settings.first_frame_timeout_seconds)
        try:
            async for frame in self._frames(ws, sub, parse_visitor_frame):
                client_msg_id = getattr(frame, "client_msg_id", None)
                with _errors_as_frames(sub, client_msg_id, conversation_id):
                    if isinstance(frame, VStart | VResume):
                        if conversation_id is not None:
                            raise WireError(
                                "this connection already has a conversation",
                                code="already_started",
                            )
                        deadline.cancel()
                        conversation_id = await self._welcome(frame, sub)
                        continue
                    if conversation_id is None:
                        raise WireError("send 'start' or 'resume' first", code="not_started")
                    self.guard.take_conversation(conversation_id)
                    await self._visitor_frame(frame, conversation_id, sub)
                if conversation_id is None:
                    deadline.arm()
        finally:
            deadline.cancel()

    async def _welcome(self, frame: VStart | VResume, sub: Subscriber) -> str:
        """Start or resume the connection's conversation; returns its id."""
        if isinstance(frame, VStart):
            limits = self.settings
            check_visitor_info(
                frame.visitor, limits.max_visitor_fields, limits.max_visitor_info_bytes
            )
            conv, token, events = await self.service.start(frame.visitor, _attach(self.hub, sub))
            last_seq = 0
        else:
            conv, events = await self.service.resume(
                frame.conversation_id, frame.resume_token, frame.last_seq, _attach(self.hub, sub)
            )
            token, last_seq = frame.resume_token, conv.last_seq
        welcome = SWelcome(
            conversation_id=conv.id,
            resume_token=token,
            status=conv.status,
            last_seq=last_seq,
            limits=VisitorLimits(max_message_chars=self.settings.max_message_chars),
        )
        # Queued before any await: live events published from now on come after these.
        sub.answer([welcome, *(SEvent(event=ev) for ev in events)])
        sub.answer(await self.service.waiting.resume_frames(conv))
        return conv.id

    async def _visitor_frame(
        self, frame: _VisitorAction, conversation_id: str, sub: Subscriber
    ) -> None:
        if isinstance(frame, VChooseFallback | VRequestCallback | VLeaveMessage):
            limit = self.settings.max_message_chars
            await _fallback_choice(self.service, frame, conversation_id, limit, sub)
        elif isinstance(frame, VMessage):
            text = self._check_text(frame.text)
            assert text is not None
            self.hub.stop_typing(conversation_id, sub)
            await self.service.visitor_message(conversation_id, frame.client_msg_id, text, sub.push)
        elif isinstance(frame, VRequestHuman):
            text = self._check_text(frame.text, required=False)
            self.hub.stop_typing(conversation_id, sub)
            await self.service.request_human(conversation_id, frame.client_msg_id, text, sub.push)
        else:
            self.hub.typing(conversation_id, sub, frame.active)

    async def _agent(self, ws: ServerConnection, sub: Subscriber) -> None:
        agent = self.admission.take(ws)
        if agent is None:
            agent = await _auth_frame(ws, self.guard, self.agents)
            if agent is None:
                return
        sub.agent = agent
        guard = self.agents.guard
        guard.watch(agent.id, ws)
        try:
            sub.push(SAuthenticated(agent=agent, limits=await self._limits()))
            self.hub.add_agent(sub)
            self.desk.linked(agent)
            await self._agent_frames(ws, sub, agent)
        finally:
            guard.forget(agent.id, ws)

    async def _agent_frames(self, ws: ServerConnection, sub: Subscriber, agent: AgentInfo) -> None:
        """Handle a signed-in agent's frames until the connection ends or their token
        stops working (checked before each frame, see :mod:`handoff_server.tokens`)."""
        async for frame in self._frames(ws, sub, parse_agent_frame):
            reason = self.agents.guard.refused(agent.id)
            if reason is not None:
                await close_refused(ws, reason)
                return
            if is_operator_frame(frame):
                await self.operator.handle(frame, agent, sub)
                continue
            client_msg_id = getattr(frame, "client_msg_id", None)
            conversation_id = getattr(frame, "conversation_id", None)
            with _errors_as_frames(sub, client_msg_id, conversation_id):
                await self._agent_frame(cast(AgentFrame, frame), agent, sub)

    async def _limits(self) -> Limits:
        return Limits(
            max_message_chars=self.settings.max_message_chars,
            threshold=await self.service.threshold(),
        )

    async def _agent_frame(self, frame: AgentFrame, agent: AgentInfo, sub: Subscriber) -> None:
        if isinstance(frame, AAuth):
            raise WireError("already authenticated", code="invalid_state")
        if isinstance(frame, ASubscribeQueue):
            # Register first, then snapshot: an update racing the snapshot is sent
            # after it, and later rows replace earlier ones, so the view converges.
            self.hub.watch_queue(sub, frame.statuses)
            items = await self.desk.queue(agent, frame.statuses)
            sub.answer(queue_answer(items, self.settings.queue_page_rows, self.settings.page_bytes))
        elif isinstance(frame, AOpen):
            attach = _attach(self.hub, sub) if frame.subscribe else None
            packet = await self.service.packet(frame.conversation_id, frame.last_seq, attach)
            page = transcript_page(packet, self.settings.page_bytes)
            sub.answer([SConversation(packet=page)])
        elif isinstance(frame, AClose):
            self.hub.stop_typing(frame.conversation_id, sub)
            self.hub.unsubscribe(frame.conversation_id, sub)
        elif isinstance(frame, ATyping):
            # Typing needs the right to reply; stopping ends only typing one started.
            if frame.active:
                await self.service.check_may_reply(agent, frame.conversation_id)
                self.hub.typing(frame.conversation_id, sub, True)
            else:
                self.hub.stop_typing(frame.conversation_id, sub)
        elif isinstance(frame, APresence | ATransfer | AAccept | ADecline):
            await self.desk.handle(frame, agent, sub, self._check_text)
        elif isinstance(frame, ACallbackDone | AAnswerOffline):
            text = self._check_text(frame.text, required=isinstance(frame, AAnswerOffline))
            await finish_task(self.service, agent, frame, text, sub.push)
        else:
            text = getattr(frame, "text", None)
            if frame.type in ("reply", "note"):
                text = self._check_text(text)
            elif text is not None:
                text = self._check_text(text, required=False)
            self.hub.stop_typing(frame.conversation_id, sub)
            details = frame.model_dump(include={"resolution", "ai_verdict"}, exclude_none=True)
            cid, cmid = frame.conversation_id, frame.client_msg_id
            await self.service.agent_action(agent, frame.type, cid, cmid, text, sub.push, details)


async def _auth_frame(
    ws: ServerConnection, guard: Gatekeeper, agents: AgentDirectory
) -> AgentInfo | None:
    """The agent of the connection's first frame, ``auth``; None (the connection
    refused and closed, 1008) when it is late, not ``auth``, its token is bad, or the
    address has spent its failed attempts (``rate_limited``)."""
    address = peer_address(ws.transport)
    try:
        raw = await asyncio.wait_for(ws.recv(), guard.settings.auth_timeout_seconds)
    except TimeoutError:
        await _refuse_auth(ws, "unauthorized", "no auth frame in time")
        return None
    try:
        frame = parse_agent_frame(raw)
    except ProtocolError as exc:
        await _refuse_auth(ws, exc.code, exc.detail)
        return None
    if not isinstance(frame, AAuth):
        await _refuse_auth(ws, "unauthorized", "send 'auth' first")
        return None
    agent = await guard.sign_in(address, frame.token, agents.authenticate)
    if not isinstance(agent, AgentInfo):
        detail = "invalid token" if agent == "unauthorized" else "too many failed sign-ins"
        await _refuse_auth(ws, agent, detail)
        return None
    return agent


def _attach(hub: Hub, sub: Subscriber) -> Attach:
    """The service's way to subscribe this client to a conversation."""
    return lambda conversation_id: hub.subscribe(conversation_id, sub)


async def _writer(ws: ServerConnection, sub: Subscriber) -> None:
    # One writer per connection: a slow client only fills its own queue.
    try:
        while True:
            frame = await sub.next_frame()
            await ws.send(frame)
    except ConnectionClosed:
        pass
    finally:
        sub.closed()


async def _refuse_auth(ws: ServerConnection, code: ErrorCode, detail: str) -> None:
    """Refuse an agent connection's sign-in: an ``error`` frame, then close (1008)."""
    await ws.send(SError(code=code, detail=detail).model_dump_json())
    await ws.close(1008, "unauthorized")


class _FirstFrameDeadline:
    """Closes a visitor connection (1008) that has no conversation ``seconds`` after it
    opened or after its last refused ``start``/``resume``: silent connections would
    otherwise hold a file descriptor each for ever. Paused while a ``start`` or
    ``resume`` is being served (a busy server may take longer than the deadline)."""

    def __init__(self, ws: ServerConnection, seconds: float) -> None:
        self.ws = ws
        self.seconds = seconds
        self._timer: asyncio.TimerHandle | None = None
        self.arm()

    def arm(self) -> None:
        """Start the countdown, unless it runs."""
        if self._timer is None:
            self._timer = asyncio.get_running_loop().call_later(self.seconds, self._close)

    def cancel(self) -> None:
        """Stop the countdown."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _close(self) -> None:
        asyncio.ensure_future(self.ws.close(1008, "send 'start' or 'resume' first"))


_VisitorAction = (
    VMessage | VRequestHuman | VTyping | VChooseFallback | VRequestCallback | VLeaveMessage
)
"""A visitor's frame once the conversation is started or resumed."""


async def _fallback_choice(
    service: ConversationService,
    frame: VChooseFallback | VRequestCallback | VLeaveMessage,
    conversation_id: str,
    limit: int,
    sub: Subscriber,
) -> None:
    """The visitor's answer to a fallback offer, its texts checked like messages."""
    text = None
    if isinstance(frame, VLeaveMessage):
        text = checked_text(frame.text, limit)
    elif isinstance(frame, VRequestCallback) and frame.note is not None:
        checked_text(frame.note, limit)
    await service.waiting.choose(conversation_id, frame, text, sub.push)


@contextlib.contextmanager
def _errors_as_frames(
    sub: Subscriber, client_msg_id: str | None, conversation_id: str | None
) -> Iterator[None]:
    """Answer a refused frame with an ``error`` frame; the connection stays open. A
    storage error (disk full, read-only) is ``unavailable``; an error after the frame
    was acknowledged never says "nothing was stored"."""
    sub.last_ack = None
    try:
        yield
    except WireError as exc:
        sub.push(
            SError(
                code=exc.code,
                detail=exc.detail,
                client_msg_id=client_msg_id,
                conversation_id=conversation_id,
            )
        )
    except Exception as exc:
        stored = client_msg_id is not None and sub.last_ack == client_msg_id
        if is_storage_error(exc):
            log.error("frame failed: the store cannot write: %s", explain_os_error(exc))
            code: ErrorCode = "unavailable"
            detail = "the server cannot store anything right now; try again later"
        else:
            log.exception("frame failed")
            code, detail = "internal", "internal error"
        after = "; your message was stored, what follows it was not" if stored else ""
        sub.push(
            SError(
                code=code,
                detail=detail + (after or "; nothing was stored"),
                client_msg_id=client_msg_id,
            )
        )


def _refusal(raw: str | bytes, code: ErrorCode, detail: str) -> SError:
    """The ``error`` refusing the raw frame ``raw``, with its ids if it has plausible ones."""
    return SError(
        code=code,
        detail=detail,
        client_msg_id=_client_msg_id(raw),
        request_id=_client_msg_id(raw, "request_id"),
    )


_PLAUSIBLE_ID = re.compile(r"[A-Za-z0-9_.:-]{1,64}")
"""What a ``client_msg_id`` or ``request_id`` looks like (as ``protocol.ClientMsgId``)."""


def _client_msg_id(raw: str | bytes, key: str = "client_msg_id") -> str | None:
    """The frame's ``client_msg_id`` (or ``key``: ``request_id``) if it has a plausible
    one (the ids' own pattern: 1-64 of ``A-Z a-z 0-9 _ . : -``, so nothing unsendable,
    such as a lone surrogate, is ever echoed), without full validation."""
    try:
        data = json.loads(raw)
    except (ValueError, RecursionError):
        return None
    value = data.get(key) if isinstance(data, dict) else None
    return value if isinstance(value, str) and _PLAUSIBLE_ID.fullmatch(value) else None
