"""Who may open a websocket: the handshake's origin check and an agent's handshake token.

:class:`Admission` answers a ``/v1/visitor`` or ``/v1/agent`` handshake before the
upgrade: HTTP 403 for an origin not on ``[server] allowed_origins``, 401 for a bad
handshake token, 429 ``rate_limited`` while the address has spent its failed sign-ins
(:class:`~handoff_server.guard.Gatekeeper`), a 400 naming a duplicated header
(:class:`~handoff_server.handshake.BadRequest`, raised by the header readers). An agent
whose handshake carried a valid token is kept until the gateway's handler takes it
(:meth:`Admission.take`).
"""

from __future__ import annotations

import http
import math
import weakref
from collections import Counter

from websockets.asyncio.server import ServerConnection
from websockets.datastructures import Headers
from websockets.http11 import Response

from handoff_server.agents import AgentDirectory
from handoff_server.config import ServerSettings
from handoff_server.guard import Gatekeeper
from handoff_server.guard.connections import peer_address
from handoff_server.handshake import bearer_token, query_token, single_header
from handoff_server.protocol import AgentInfo

__all__ = ["Admission"]


class Admission:
    """The handshake checks of the gateway (see the module). ``metrics``: the gateway's
    counters (``handshake_forbidden_origin``, ``handshake_unauthorized``)."""

    def __init__(
        self,
        settings: ServerSettings,
        guard: Gatekeeper,
        agents: AgentDirectory,
        metrics: Counter[str],
    ) -> None:
        self.settings = settings
        self.guard = guard
        self.agents = agents
        self.metrics = metrics
        self._signed_in: weakref.WeakKeyDictionary[ServerConnection, AgentInfo] = (
            weakref.WeakKeyDictionary()
        )

    async def check(
        self, connection: ServerConnection, headers: Headers, path: str, query: str
    ) -> Response | None:
        """``None`` to go on with the upgrade, else the HTTP answer refusing it. Raises
        :class:`~handoff_server.handshake.BadRequest` for a duplicated header."""
        origin = single_header(headers, "Origin")
        allowed = self.settings.allowed_origins
        if allowed and origin is not None and origin not in allowed:
            self.metrics["handshake_forbidden_origin"] += 1
            return connection.respond(http.HTTPStatus.FORBIDDEN, "origin not allowed\n")
        if path == "/v1/agent":
            token = bearer_token(headers) or query_token(query)
            if token is not None:
                return await self._token(connection, token)
        return None

    def take(self, connection: ServerConnection) -> AgentInfo | None:
        """The agent the connection's handshake signed in (once), else ``None``."""
        return self._signed_in.pop(connection, None)

    async def _token(self, connection: ServerConnection, token: str) -> Response | None:
        """Sign in the agent whose handshake carried ``token``: HTTP 401 for a bad token,
        429 ``rate_limited`` while the address has spent its failed attempts, with
        ``Retry-After``: the seconds until it may try again."""
        address = peer_address(connection.transport)
        agent = await self.guard.sign_in(address, token, self.agents.authenticate)
        if agent == "rate_limited":
            refusal = connection.respond(http.HTTPStatus.TOO_MANY_REQUESTS, "rate_limited\n")
            wait = self.guard.auth_throttle.seconds_blocked(address)
            refusal.headers["Retry-After"] = str(max(1, math.ceil(wait)))
            return refusal
        if not isinstance(agent, AgentInfo):
            self.metrics["handshake_unauthorized"] += 1
            return connection.respond(http.HTTPStatus.UNAUTHORIZED, "invalid token\n")
        self._signed_in[connection] = agent
        return None
