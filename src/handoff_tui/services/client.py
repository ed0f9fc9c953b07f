"""How the app reaches the server: a small protocol the real client and the tests' fakes share.

The app only needs ``await client.connect()`` returning something with ``send(frame)``,
``frames()`` (an async iterator of parsed server frames ending when the connection
closes) and ``close()``. :class:`ServerClient` opens a real connection with
:func:`handoff_server.client.connect_agent` and reads its frames with :func:`parse_frame`,
which knows the operator's answers (:mod:`handoff_server.protocol_operator`) as well as
the agent's frames.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from typing import Annotated, Any, Protocol

from pydantic import BaseModel, Field, TypeAdapter, ValidationError

from handoff_server.client import Connection, connect_agent
from handoff_server.protocol import ServerFrame
from handoff_server.protocol_operator import OperatorServerFrame

__all__ = ["AgentClient", "AgentConnection", "ServerClient", "parse_frame"]

log = logging.getLogger(__name__)

_AnyServerFrame = Annotated[ServerFrame | OperatorServerFrame, Field(discriminator="type")]
"""Every frame the server sends an agent or operator: one list, the protocol's own."""
_adapter: TypeAdapter[Any] = TypeAdapter(_AnyServerFrame)


def parse_frame(raw: str | bytes) -> BaseModel | None:
    """A server frame (agent or operator) from its JSON text; ``None`` for one this client
    does not know (a newer server's frame, or a malformed one: logged, never fatal)."""
    try:
        return _adapter.validate_python(json.loads(raw))
    except (ValueError, ValidationError) as exc:
        log.warning("ignored a server frame this client cannot read: %s", exc)
        return None


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


class _OperatorAwareConnection:
    """A :class:`handoff_server.client.Connection` whose frames are read with
    :func:`parse_frame`."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    async def send(self, frame: BaseModel) -> None:
        """Send ``frame``."""
        await self._conn.send(frame)

    async def frames(self) -> AsyncIterator[Any]:
        """Parsed frames until the connection closes; unknown ones are skipped."""
        async for raw in self._conn.ws:
            frame = parse_frame(raw)
            if frame is not None:
                yield frame

    async def close(self) -> None:
        """Close the connection."""
        await self._conn.close()


class ServerClient:
    """Connects to a real server at ``url`` with ``token``."""

    def __init__(self, url: str, token: str | None) -> None:
        self.url = url
        self.token = token

    async def connect(self) -> AgentConnection:
        """Open ``/v1/agent`` (see :func:`handoff_server.client.connect_agent`)."""
        return _OperatorAwareConnection(await connect_agent(self.url, self.token))
