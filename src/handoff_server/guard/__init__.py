"""Bounds on what one client, one address or one conversation can make the server hold
or do (``docs/architecture.md``, "Limits").

- :mod:`.rates`: token buckets, keyed by connection, address or conversation; the
  throttle on failed token attempts.
- :mod:`.connections`: the cap on open connections (in all and per address), counted
  from the TCP accept, so silent connections count too.
- :mod:`.overload`: refusals logged once per interval, with their count.
- :mod:`.gatekeeper`: all of them for one server, as the gateway uses them.
- :mod:`.paging`: answers cut to a size a client accepts: transcripts by ``seq`` range,
  the queue as a first page and its other rows; the visitor info bound.

Every refusal has a stable code (``too_many_connections``, ``rate_limited``,
``visitor_info_too_large``).
"""

from handoff_server.guard.connections import ConnectionLimiter, guarded_connection
from handoff_server.guard.gatekeeper import Gatekeeper
from handoff_server.guard.overload import OverloadLog
from handoff_server.guard.paging import check_visitor_info, queue_answer, transcript_page
from handoff_server.guard.rates import AuthThrottle, KeyedBuckets, TokenBucket

__all__ = [
    "AuthThrottle",
    "ConnectionLimiter",
    "Gatekeeper",
    "KeyedBuckets",
    "OverloadLog",
    "TokenBucket",
    "check_visitor_info",
    "guarded_connection",
    "queue_answer",
    "transcript_page",
]
