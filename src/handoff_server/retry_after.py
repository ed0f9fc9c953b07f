"""``Retry-After`` (RFC 9110, section 10.2.3), read and obeyed by every HTTP client the
product runs: the webhook deliveries (:mod:`handoff_server.webhooks`) and the visitors'
and agents' reconnects (:class:`~handoff_server.client.VisitorLink`, the agent UI's
link), so a server that says when to come back (``503 not_ready`` while it starts,
``503 too_many_connections``, ``429 rate_limited``) is not asked again sooner."""

from __future__ import annotations

import email.utils
from datetime import UTC, datetime

from websockets.datastructures import Headers

__all__ = ["CLIENT_CAP_SECONDS", "retry_after_header", "retry_after_seconds", "retry_wait"]

CLIENT_CAP_SECONDS = 60.0
"""Longest ``Retry-After`` a reconnecting client waits (seconds): past it, a mistaken or
hostile answer would keep an agent or visitor away for longer than a person waits."""


def retry_after_seconds(value: str | None, now: datetime) -> float | None:
    """A ``Retry-After`` header as seconds from ``now`` (aware, UTC): delta-seconds (ASCII
    digits only) or an HTTP date (one without a zone counts as UTC); ``None`` when absent
    or unreadable. Never raises."""
    if not value:
        return None
    value = value.strip()
    # str.isdigit() takes '²' or '٣' too, which float() refuses.
    if value.isascii() and value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when.tzinfo is None:  # "-0000": UTC, the zone unknown (RFC 5322)
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - now).total_seconds())


def retry_wait(backoff: float, value: str | None, cap: float = CLIENT_CAP_SECONDS) -> float:
    """Seconds to wait before a reconnect: the client's own ``backoff``, or the answer's
    ``Retry-After`` (``value``, the header as given; ``None``: absent) when longer,
    at most ``cap``."""
    after = retry_after_seconds(value, datetime.now(UTC))
    return backoff if after is None else max(backoff, min(after, cap))


def retry_after_header(response_headers: Headers) -> str | None:
    """The ``Retry-After`` value of a refused handshake's answer (``InvalidStatus``'s
    ``response.headers``), ``None`` when absent or given more than once."""
    values = response_headers.get_all("Retry-After")
    return values[0] if len(values) == 1 else None
