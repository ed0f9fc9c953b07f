"""One place for the gateway's bounds: connection caps, rate limits per connection,
address and conversation, the throttle on failed sign-ins, and the overload log."""

from __future__ import annotations

from collections import Counter
from collections.abc import Awaitable, Callable

from handoff_server.config import ServerSettings
from handoff_server.errors import WireError
from handoff_server.guard.connections import ConnectionLimiter
from handoff_server.guard.overload import OverloadLog
from handoff_server.guard.rates import AuthThrottle, KeyedBuckets, TokenBucket
from handoff_server.protocol import AgentInfo, ErrorCode

__all__ = ["Gatekeeper"]


class Gatekeeper:
    """The bounds of one server, from ``settings`` (``[server]``). Refusals are counted
    in ``metrics`` (by code) and logged once per interval (:class:`OverloadLog`)."""

    def __init__(self, settings: ServerSettings, metrics: Counter[str]) -> None:
        self.settings = settings
        self.metrics = metrics
        self.overload = OverloadLog(settings.overload_log_interval_seconds)
        self.limiter = ConnectionLimiter(
            settings.max_connections, settings.max_connections_per_ip, self.refused
        )
        self.per_ip = KeyedBuckets(settings.rate_limit_per_ip_per_minute)
        self.per_conversation = KeyedBuckets(settings.rate_limit_per_conversation_per_minute)
        self.auth_throttle = AuthThrottle(settings.auth_failures_per_ip_per_minute)

    def refused(self, where: str, code: str = "too_many_connections") -> None:
        """Count a refusal of ``code`` (from address or conversation ``where``)."""
        self.metrics[code] += 1
        self.overload.note(code, where)

    def connection_bucket(self) -> TokenBucket:
        """A new connection's own bucket (``rate_limit_per_minute``)."""
        return TokenBucket(self.settings.rate_limit_per_minute)

    def take_frame(self, bucket: TokenBucket, address: str) -> bool:
        """Spend a token of the connection's bucket and of its address's; False (the
        refusal counted) when either has none left."""
        if bucket.take() and self.per_ip.take(address):
            return True
        self.refused(address, "rate_limited")
        return False

    def take_conversation(self, conversation_id: str) -> None:
        """Spend a token of the conversation's bucket, shared by every visitor connection
        to it; ``WireError`` ``rate_limited`` when none is left."""
        if not self.per_conversation.take(conversation_id):
            self.refused(conversation_id, "rate_limited")
            raise WireError("too many frames in this conversation; slow down", code="rate_limited")

    async def sign_in(
        self,
        address: str,
        token: str,
        authenticate: Callable[[str], Awaitable[AgentInfo | None]],
    ) -> AgentInfo | ErrorCode:
        """The agent of ``token``, or the refusal: ``rate_limited`` while ``address`` has
        spent its failed attempts (the token is not even checked), ``unauthorized`` for
        a bad token (counted as a failed attempt)."""
        if self.auth_throttle.blocked(address):
            self.refused(address, "rate_limited")
            return "rate_limited"
        agent = await authenticate(token)
        if agent is None:
            self.auth_throttle.failed(address)
            return "unauthorized"
        return agent
