"""The cap on open connections, in all and per IP address.

Counted from the TCP accept (a :class:`~websockets.asyncio.server.ServerConnection`
subclass made by :func:`guarded_connection`), not from the websocket handshake: a
connection that never says anything holds a file descriptor as much as a busy one. A
connection over a cap is answered ``HTTP 503`` with the body ``too_many_connections``
and closed at once, before any handshake, so a flood of silent connections can neither
exhaust the process's file descriptors (``EMFILE``: then every new client is locked
out) nor fill the log.
"""

from __future__ import annotations

import asyncio
import resource
from collections import Counter
from collections.abc import Callable
from typing import cast

from websockets.asyncio.server import ServerConnection

__all__ = ["REFUSAL", "ConnectionLimiter", "guarded_connection", "peer_address"]

FD_RESERVE = 64
"""File descriptors kept for everything but client connections (the store, logs, the
listening sockets, webhook deliveries)."""

REFUSAL = (
    b"HTTP/1.1 503 Service Unavailable\r\n"
    b"Content-Type: text/plain; charset=utf-8\r\n"
    b"Retry-After: 5\r\n"
    b"Connection: close\r\n"
    b"Content-Length: 21\r\n\r\n"
    b"too_many_connections\n"
)
"""The whole answer to a connection over a cap."""


def _fd_limit() -> int | None:
    try:
        soft, _hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    except (OSError, ValueError):
        return None
    return None if soft == resource.RLIM_INFINITY else soft


class ConnectionLimiter:
    """Open connections: at most ``total`` (lowered to the file-descriptor limit minus
    :data:`FD_RESERVE` when that is smaller) and ``per_address`` from one IP address.
    ``on_refused(address)`` is called for each refusal."""

    def __init__(
        self, total: int, per_address: int, on_refused: Callable[[str], None] | None = None
    ) -> None:
        fds = _fd_limit()
        self.total = min(total, max(1, fds - FD_RESERVE)) if fds is not None else total
        self.per_address = per_address
        self.on_refused = on_refused
        self.open = 0
        self.by_address: Counter[str] = Counter()

    def admit(self, address: str) -> bool:
        """Count a new connection from ``address``; False (nothing counted) when it is
        over a cap."""
        if self.open >= self.total or self.by_address[address] >= self.per_address:
            if self.on_refused is not None:
                self.on_refused(address)
            return False
        self.open += 1
        self.by_address[address] += 1
        return True

    def release(self, address: str) -> None:
        """Uncount a connection from ``address`` that :meth:`admit` counted."""
        self.open -= 1
        self.by_address[address] -= 1
        if self.by_address[address] <= 0:
            del self.by_address[address]


def peer_address(transport: asyncio.BaseTransport) -> str:
    """The IP address of the transport's peer ("" when unknown, e.g. a Unix socket)."""
    peer = transport.get_extra_info("peername")
    if isinstance(peer, tuple | list) and peer:
        return str(peer[0])
    return ""


def guarded_connection(limiter: ConnectionLimiter) -> type[ServerConnection]:
    """A :class:`ServerConnection` class for ``serve(create_connection=...)`` that counts
    each connection in ``limiter`` from its accept to its end, and answers one over a
    cap with :data:`REFUSAL` and closes it."""

    class GuardedConnection(ServerConnection):
        address = ""
        admitted = False

        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            self.address = peer_address(transport)
            self.admitted = limiter.admit(self.address)
            super().connection_made(transport)
            if not self.admitted:
                # uvloop's TCP transport writes but is no asyncio.WriteTransport
                # subclass: an isinstance check would refuse it (no 503, a reset).
                cast(asyncio.WriteTransport, transport).write(REFUSAL)
                transport.close()

        def connection_lost(self, exc: Exception | None) -> None:
            if self.admitted:
                self.admitted = False
                limiter.release(self.address)
            super().connection_lost(exc)

    return GuardedConnection
