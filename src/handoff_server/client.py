"""A small asyncio client for the v1 wire protocol, shared by the CLI, the TUI and tests.

Usage::

    async with await connect_visitor("ws://127.0.0.1:8765") as conn:
        await conn.send(VStart(type="start", visitor=VisitorInfo(name="Ada")))
        welcome = await conn.recv()

    async with await connect_agent("ws://127.0.0.1:8765", token) as conn:
        await conn.send(ASubscribeQueue(type="subscribe_queue"))

    link = VisitorLink("ws://127.0.0.1:8765", VisitorInfo(name="Ada"))
    async for frame in link.frames():      # survives dropped connections (resume)
        ...                                # and elsewhere: await link.send_message("hi")

``recv`` returns parsed :data:`~handoff_server.protocol.ServerFrame` models.
Errors: ``websockets.exceptions.InvalidStatus`` when the handshake is refused (401/403),
``websockets.exceptions.ConnectionClosed`` when the connection ends, ``TimeoutError``
from ``recv(timeout=...)``; :class:`MessageTooLong` before sending an over-long message;
:class:`LinkError` when a :class:`VisitorLink` gives up.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

from pydantic import BaseModel
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus

from handoff_server.errors import LinkError, MessageTooLong
from handoff_server.frames import parse_server_frame
from handoff_server.protocol import (
    SAck,
    SError,
    SEvent,
    SWelcome,
    VChooseFallback,
    VisitorInfo,
    VLeaveMessage,
    VMessage,
    VRequestCallback,
    VRequestHuman,
    VResume,
    VStart,
    dump_frame,
)
from handoff_server.retry_after import retry_after_header, retry_wait
from handoff_server.server_url import normalize_server_url

__all__ = [
    "MAX_MESSAGE_CHARS",
    "Connection",
    "HandshakeFailed",
    "LinkError",
    "MessageTooLong",
    "VisitorLink",
    "backoff_delay",
    "check_message_length",
    "connect_agent",
    "connect_visitor",
    "new_client_msg_id",
    "retry_after_header",
    "retry_wait",
]

SentFrame = VMessage | VRequestHuman | VChooseFallback | VRequestCallback | VLeaveMessage
"""A visitor frame carrying a ``client_msg_id``, resent until acknowledged."""

MAX_MESSAGE_CHARS = 4000
"""Longest message (visitor or agent), in characters, that a server on the default
``server.max_message_chars`` accepts: a client's limit only until the server's
``welcome``/``authenticated`` frame tells it the real one (``limits``)."""

CLOSE_MESSAGE_TOO_BIG = 1009
"""Websocket close code a server sends after a frame over its size limit."""


def new_client_msg_id() -> str:
    """A fresh client message id (random, 32 hex characters)."""
    return uuid.uuid4().hex


class Connection:
    """One websocket connection speaking protocol v1."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws

    async def send(self, frame: BaseModel | dict[str, Any] | str) -> None:
        """Send a frame model (or raw dict/str, for tests of bad input)."""
        if isinstance(frame, BaseModel):
            await self.ws.send(dump_frame(frame))
        elif isinstance(frame, dict):
            await self.ws.send(json.dumps(frame))
        else:
            await self.ws.send(frame)

    async def recv(self, timeout: float | None = None) -> Any:
        """Next server frame, parsed. ``timeout`` in seconds (``TimeoutError``)."""
        raw = await asyncio.wait_for(self.ws.recv(), timeout)
        return parse_server_frame(raw)

    async def recv_until(self, predicate: Any, timeout: float = 10.0) -> list[Any]:
        """Receive frames until ``predicate(frame)`` is true; returns all frames received,
        the matching one last. Raises ``TimeoutError`` after ``timeout`` seconds in all."""
        frames: list[Any] = []
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise TimeoutError(f"no matching frame within {timeout}s; got {frames!r}")
            frame = await self.recv(timeout=remaining)
            frames.append(frame)
            if predicate(frame):
                return frames

    async def frames(self) -> AsyncIterator[Any]:
        """Iterate over server frames until the connection closes."""
        async for raw in self.ws:
            yield parse_server_frame(raw)

    async def close(self) -> None:
        """Close the connection."""
        await self.ws.close()

    async def __aenter__(self) -> Connection:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()


class HandshakeFailed(ConnectionError):
    """The server's answer to the opening handshake was no WebSocket upgrade (the
    connection closed before an answer, a malformed answer, a missing or wrong header:
    another service on that port, a proxy, a server going down meanwhile). An
    ``OSError``, so every caller that retries or reports a connection that failed does
    so for this too; a refusal with an HTTP status stays ``InvalidStatus``."""


async def _connect(url: str, **kwargs: Any) -> Connection:
    try:
        ws = await connect(url, **kwargs)
    except InvalidStatus:
        raise
    except InvalidHandshake as exc:
        raise HandshakeFailed(f"{url}: no WebSocket handshake answer ({exc})") from exc
    return Connection(ws)


async def connect_visitor(server_url: str, *, origin: str | None = None) -> Connection:
    """Open ``/v1/visitor`` on ``server_url`` (``ws://host:port``, or any form
    :func:`~handoff_server.server_url.normalize_server_url` accepts; raises its
    ``InvalidServerURL``, a ``ValueError``, for one it refuses). Raises
    ``websockets.exceptions.InvalidStatus`` for an HTTP refusal (503 not ready, 403
    origin), :class:`HandshakeFailed` (an ``OSError``) for an answer that is no
    handshake, ``OSError`` for a connection that fails."""
    kwargs: dict[str, Any] = {"open_timeout": 10}
    if origin:
        kwargs["origin"] = origin
    return await _connect(normalize_server_url(server_url) + "/v1/visitor", **kwargs)


async def connect_agent(server_url: str, token: str | None) -> Connection:
    """Open ``/v1/agent`` with ``token`` as a bearer token (``None``: send ``auth`` later).

    Raises ``websockets.exceptions.InvalidStatus`` (401) for a bad token, and as
    :func:`connect_visitor` does otherwise.
    """
    headers = {"Authorization": f"Bearer {token}"} if token else None
    return await _connect(
        normalize_server_url(server_url) + "/v1/agent", additional_headers=headers, open_timeout=10
    )


def check_message_length(text: str, limit: int = MAX_MESSAGE_CHARS) -> None:
    """Raise :class:`MessageTooLong` when ``text`` has more than ``limit`` characters
    (the server would refuse it, or close the connection if the frame is too big)."""
    if len(text) > limit:
        raise MessageTooLong(f"the message is {len(text)} characters; the limit is {limit}")


def backoff_delay(
    attempt: int,
    *,
    initial: float = 0.5,
    maximum: float = 10.0,
    rng: random.Random | None = None,
) -> float:
    """Seconds to wait before reconnect ``attempt`` (1-based): ``initial`` doubled per
    attempt, capped at ``maximum``, then a uniform draw between half of that and all
    of it ("equal jitter"), so clients dropped together do not all return at once."""
    base = min(maximum, initial * 2 ** (max(attempt, 1) - 1))
    return (rng or random).uniform(base / 2, base)


class VisitorLink:
    """A visitor's conversation that outlives its connections.

    :meth:`frames` opens ``/v1/visitor``, sends ``start`` (later ``resume`` with the
    conversation id, resume token and last ``seq`` seen), and yields server frames: each
    event once (by ``seq``), each ack once, errors for this link's messages once; a
    ``welcome`` starts every connection. When the connection drops it reconnects with
    :func:`backoff_delay` and resends every unacknowledged message with its original
    client message id (the server stores a retried message once). ``on_reconnecting``
    is called with (attempt, delay in seconds, reason) before each wait.
    ``max_message_chars`` is the limit until a ``welcome`` carries the server's.

    The first connection is not retried (its ``OSError``/``InvalidStatus`` propagates);
    later ones are retried for ``retry_for`` seconds, then :class:`LinkError`.
    """

    def __init__(
        self,
        server_url: str,
        visitor: VisitorInfo,
        *,
        origin: str | None = None,
        retry_for: float = 60.0,
        initial_backoff: float = 0.5,
        max_backoff: float = 10.0,
        max_message_chars: int = MAX_MESSAGE_CHARS,
        on_reconnecting: Callable[[int, float, str], None] | None = None,
    ) -> None:
        self.server_url = server_url
        self.visitor = visitor
        self.origin = origin
        self.retry_for = retry_for
        self.initial_backoff = initial_backoff
        self.max_backoff = max_backoff
        self.max_message_chars = max_message_chars
        self.on_reconnecting = on_reconnecting
        self.conversation_id: str | None = None
        self.resume_token: str | None = None
        self.last_seq = 0
        """Highest event ``seq`` yielded: where a resume starts."""
        self.unacked: dict[str, SentFrame] = {}
        """Messages (presses of "talk to a person", answers to a fallback offer) sent, or
        waiting to be, and not yet acknowledged, oldest first."""
        self.generation = 0
        """How many connections have been opened: changes on every reconnect."""
        self._conn: Connection | None = None
        self._lock = asyncio.Lock()
        self._closed = False

    @property
    def connected(self) -> bool:
        """Whether a connection is open now."""
        return self._conn is not None

    async def send_message(self, text: str, client_msg_id: str | None = None) -> str:
        """Queue ``text`` as a visitor message and send it if connected (else it goes on
        the next connection); returns its client message id (``client_msg_id``, else a
        new one). Raises :class:`MessageTooLong` before anything is queued."""
        check_message_length(text, self.max_message_chars)
        cmid = client_msg_id or new_client_msg_id()
        msg = VMessage(type="message", client_msg_id=cmid, text=text)
        async with self._lock:
            self.unacked[msg.client_msg_id] = msg
            if self._conn is not None:
                # A failed send is resent on the next connection.
                with contextlib.suppress(ConnectionClosed, OSError):
                    await self._conn.send(msg)
        return cmid

    async def send_frame(self, frame: SentFrame) -> str:
        """Queue a frame carrying a ``client_msg_id`` (a press of "talk to a person", an
        answer to a fallback offer) and
        send it if connected, resent like messages until acknowledged; returns its id."""
        async with self._lock:
            self.unacked[frame.client_msg_id] = frame
            if self._conn is not None:
                with contextlib.suppress(ConnectionClosed, OSError):
                    await self._conn.send(frame)
        return frame.client_msg_id

    async def close(self) -> None:
        """Stop: close the connection; :meth:`frames` ends."""
        self._closed = True
        if self._conn is not None:
            await self._conn.close()

    async def drop(self) -> None:
        """Close the current connection as a network failure would (for simulations and
        tests): :meth:`frames` reconnects at once and resumes the conversation."""
        if self._conn is not None:
            await self._conn.close()

    async def frames(self) -> AsyncIterator[Any]:
        """Server frames, as described in the class docstring, until :meth:`close`."""
        down_since: float | None = None
        attempt = 0
        loop = asyncio.get_running_loop()
        while not self._closed:
            try:
                conn = await self._open()
            except (OSError, TimeoutError, ConnectionClosed, InvalidStatus) as exc:
                if self.conversation_id is None and self.generation == 0:
                    raise
                down_since = down_since if down_since is not None else loop.time()
                attempt += 1
                await self._wait_to_retry(exc, attempt, loop.time() - down_since)
                continue
            attempt, down_since = 0, None
            try:
                async for frame in conn.frames():
                    out = self._accept(frame)
                    if out is not None:
                        yield out
            except (ConnectionClosed, OSError):
                pass
            finally:
                self._conn = None
                await conn.close()
            if conn.ws.close_code == CLOSE_MESSAGE_TOO_BIG:
                raise LinkError(
                    "message_too_long",
                    "the server closed the connection (1009): a frame was over its size limit",
                )
            down_since = loop.time()

    async def _open(self) -> Connection:
        conn = await connect_visitor(self.server_url, origin=self.origin)
        try:
            if self.conversation_id is None or self.resume_token is None:
                await conn.send(VStart(type="start", visitor=self.visitor))
            else:
                await conn.send(
                    VResume(
                        type="resume",
                        conversation_id=self.conversation_id,
                        resume_token=self.resume_token,
                        last_seq=self.last_seq,
                    )
                )
            async with self._lock:
                for msg in list(self.unacked.values()):
                    await conn.send(msg)
                self._conn = conn
        except BaseException:
            await conn.close()
            raise
        self.generation += 1
        return conn

    async def _wait_to_retry(self, exc: BaseException, attempt: int, down_for: float) -> None:
        reason = str(exc) or type(exc).__name__
        if isinstance(exc, InvalidStatus) and exc.response.status_code < 500:
            raise LinkError("connect_failed", f"the server refused the connection: {reason}")
        if down_for >= self.retry_for:
            raise LinkError(
                "connect_failed", f"no connection for {down_for:.0f} s; last error: {reason}"
            )
        delay = backoff_delay(attempt, initial=self.initial_backoff, maximum=self.max_backoff)
        if isinstance(exc, InvalidStatus):  # 503: never sooner than the server asked
            delay = retry_wait(delay, retry_after_header(exc.response.headers))
        if self.on_reconnecting is not None:
            self.on_reconnecting(attempt, delay, reason)
        await asyncio.sleep(delay)

    def _accept(self, frame: Any) -> Any:
        """Track ``frame``; returns it, or ``None`` when it was already delivered."""
        if isinstance(frame, SWelcome):
            self.conversation_id = frame.conversation_id
            self.resume_token = frame.resume_token
            if frame.limits is not None:
                self.max_message_chars = frame.limits.max_message_chars
        elif isinstance(frame, SEvent):
            if frame.event.seq <= self.last_seq:
                return None
            self.last_seq = frame.event.seq
        elif isinstance(frame, SAck):
            if self.unacked.pop(frame.client_msg_id, None) is None:
                return None
        elif isinstance(frame, SError):
            if frame.code == "bad_resume_token":
                raise LinkError(frame.code, frame.detail)
            if frame.client_msg_id is not None and frame.client_msg_id not in self.unacked:
                return None
            self.unacked.pop(frame.client_msg_id or "", None)
        return frame
