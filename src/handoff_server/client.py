"""A small asyncio client for the v1 wire protocol, shared by the CLI, the TUI and tests.

Usage::

    async with await connect_visitor("ws://127.0.0.1:8765") as conn:
        await conn.send(VStart(type="start", visitor=VisitorInfo(name="Ada")))
        welcome = await conn.recv()

    async with await connect_agent("ws://127.0.0.1:8765", token) as conn:
        await conn.send(ASubscribeQueue(type="subscribe_queue"))

``recv`` returns parsed :data:`~handoff_server.protocol.ServerFrame` models.
Errors: ``websockets.exceptions.InvalidStatus`` when the handshake is refused (401/403),
``websockets.exceptions.ConnectionClosed`` when the connection ends, ``TimeoutError``
from ``recv(timeout=...)``.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

from pydantic import BaseModel
from websockets.asyncio.client import ClientConnection, connect

from handoff_server.frames import parse_server_frame
from handoff_server.protocol import dump_frame

__all__ = ["Connection", "connect_agent", "connect_visitor", "new_client_msg_id"]


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
            import json

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


def _http_to_ws(url: str) -> str:
    url = url.rstrip("/")
    if url.startswith("http://"):
        return "ws://" + url[len("http://") :]
    if url.startswith("https://"):
        return "wss://" + url[len("https://") :]
    return url


async def connect_visitor(server_url: str, *, origin: str | None = None) -> Connection:
    """Open ``/v1/visitor`` on ``server_url`` (``ws://host:port``)."""
    kwargs: dict[str, Any] = {"open_timeout": 10}
    if origin:
        kwargs["origin"] = origin
    ws = await connect(_http_to_ws(server_url) + "/v1/visitor", **kwargs)
    return Connection(ws)


async def connect_agent(server_url: str, token: str | None) -> Connection:
    """Open ``/v1/agent`` with ``token`` as a bearer token (``None``: send ``auth`` later).

    Raises ``websockets.exceptions.InvalidStatus`` (401) for a bad token.
    """
    headers = {"Authorization": f"Bearer {token}"} if token else None
    ws = await connect(
        _http_to_ws(server_url) + "/v1/agent", additional_headers=headers, open_timeout=10
    )
    return Connection(ws)
