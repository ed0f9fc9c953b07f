"""How the app reaches the server: a small interface the real client and fakes share.

The app only needs ``await client.connect()`` returning something with ``send(frame)``,
``frames()`` (an async iterator of parsed server frames ending when the connection
closes) and ``close()`` — which :class:`handoff_server.client.Connection` already is.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any, Protocol

from pydantic import BaseModel

from handoff_server.client import connect_agent

__all__ = ["AgentClient", "AgentConnection", "ServerClient"]


class AgentConnection(Protocol):
    """One open agent connection."""

    async def send(self, frame: BaseModel) -> None:
        """Send a frame; raises ``ConnectionClosed`` (or ``OSError``) if the link is gone."""
        ...

    def frames(self) -> AsyncIterator[Any]:
        """Parsed server frames until the connection closes."""
        ...

    async def close(self) -> None:
        """Close the connection."""
        ...


class AgentClient(Protocol):
    """Opens agent connections."""

    url: str
    """Where the server is, for people (shown in the connection banner)."""

    async def connect(self) -> AgentConnection:
        """Open a connection. Raises ``OSError``/``TimeoutError`` when the server is
        unreachable, ``websockets.exceptions.InvalidStatus`` (401) for a bad token."""
        ...


class ServerClient:
    """Connects to a real server at ``url`` with ``token``."""

    def __init__(self, url: str, token: str | None) -> None:
        self.url = url
        self.token = token

    async def connect(self) -> AgentConnection:
        """Open ``/v1/agent`` (see :func:`handoff_server.client.connect_agent`)."""
        return await connect_agent(self.url, self.token)
