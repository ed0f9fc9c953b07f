"""The HTTP side of the gateway: ``/healthz`` and ``/readyz``
(:func:`health_response`), the ``503 not_ready`` of a handshake while the first index
builds (:func:`not_ready`), ``/metrics``' optional bearer token
(:func:`metrics_refusal`), and reading a websocket handshake's headers safely: the gateway's ``process_request`` reads
every header it uses through :func:`single_header`, so a request the server cannot read
(a header given twice, e.g. two ``Origin`` or two ``Authorization``) is answered
``400 Bad Request`` naming the header, never ``500`` with a traceback.

HTTP allows repeating a header only where its values form a list (RFC 9110, section
5.3); ``Origin`` (RFC 6454, section 7.3) and ``Authorization`` hold one value each, so
two copies are ambiguous and refused rather than guessed.
"""

from __future__ import annotations

import hmac
import http
from collections.abc import Awaitable, Callable
from urllib.parse import parse_qs

from websockets.asyncio.server import ServerConnection
from websockets.datastructures import Headers
from websockets.http11 import Response

from handoff_server.store import AsyncStore

__all__ = [
    "BadRequest",
    "bad_request",
    "bearer_token",
    "health_response",
    "metrics_refusal",
    "not_ready",
    "query_token",
    "single_header",
]


class BadRequest(Exception):
    """A handshake the server cannot read; ``detail`` says why (sent to the client)."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


def single_header(headers: Headers, name: str) -> str | None:
    """The value of header ``name`` (case-insensitive), ``None`` when absent. Raises
    :class:`BadRequest` when it is given more than once."""
    values = headers.get_all(name)
    if len(values) > 1:
        raise BadRequest(f"duplicate {name} header")
    return values[0] if values else None


def bearer_token(headers: Headers) -> str | None:
    """The token of ``Authorization: Bearer T``, or ``None``. Raises
    :class:`BadRequest` for a duplicate ``Authorization`` header."""
    value = single_header(headers, "Authorization")
    if value and value.lower().startswith("bearer "):
        return value[7:].strip() or None
    return None


def query_token(query: str) -> str | None:
    """The ``token`` query parameter, or ``None``. Raises :class:`BadRequest` when it is
    given more than once."""
    tokens = parse_qs(query).get("token")
    if tokens and len(tokens) > 1:
        raise BadRequest("duplicate token parameter")
    return tokens[0] if tokens else None


def metrics_refusal(
    connection: ServerConnection, headers: Headers, token: str | None
) -> Response | None:
    """``None`` when a ``/metrics`` request may read the metrics: always when ``token`` is
    ``None`` (``[server] metrics_token`` unset), else only with ``Authorization: Bearer``
    and that token (compared in constant time). Else its refusal: ``401 Unauthorized``
    with the ``WWW-Authenticate: Bearer`` challenge (RFC 6750, section 3), or ``400``
    for a duplicate ``Authorization`` header."""
    if token is None:
        return None
    try:
        given = bearer_token(headers)
    except BadRequest as exc:
        return bad_request(connection, exc)
    if given is not None and hmac.compare_digest(given.encode(), token.encode()):
        return None
    response = connection.respond(
        http.HTTPStatus.UNAUTHORIZED,
        "unauthorized: /metrics needs Authorization: Bearer <[server] metrics_token>\n",
    )
    response.headers["WWW-Authenticate"] = 'Bearer realm="metrics"'
    return response


def bad_request(connection: ServerConnection, exc: BadRequest) -> Response:
    """``400 Bad Request`` with the reason as plain text."""
    return connection.respond(http.HTTPStatus.BAD_REQUEST, exc.detail + "\n")


async def health_response(
    connection: ServerConnection,
    path: str,
    store: AsyncStore,
    ready: bool,
    warming: str | None = None,
    readiness: Callable[[], Awaitable[dict[str, bool]]] | None = None,
) -> Response:
    """``/healthz``: 200 unless the store is known to fail (no probe); ``/readyz``: 200
    when ``ready`` (started), not ``warming``, a probe (at most one a second) finds the
    store writable and every part ``readiness`` names is up (a cluster node's
    ``database`` and ``bus``: one ``NAME: ok|down`` line each). A 503 names every cause:
    ``not ready: building index`` while the first index builds (``warming``,
    :mod:`~handoff_server.warmup`), ``store unavailable: ...`` when the store cannot
    write (:mod:`handoff_server.storehealth`), joined by ``; `` when several hold."""
    health = store.health
    parts = await readiness() if path == "/readyz" and readiness is not None else {}
    if path == "/healthz" or not all(parts.values()):
        failure = health.failure  # a part is down (the database, say): no probe to wait on
    else:
        failure = await health.check(lambda: store.call(store.store.probe_write))
    if path == "/healthz":
        if failure is not None:
            return connection.respond(
                http.HTTPStatus.SERVICE_UNAVAILABLE, f"store unavailable: {failure}\n"
            )
        return connection.respond(http.HTTPStatus.OK, "ok\n")
    reasons = []
    if warming is not None:
        reasons.append(f"not ready: {warming}")
    if failure is not None:
        reasons.append(f"store unavailable: {failure}")
    lines = "".join(f"{name}: {'ok' if up else 'down'}\n" for name, up in parts.items())
    if reasons:
        body = "; ".join(reasons) + "\n" + lines
        return connection.respond(http.HTTPStatus.SERVICE_UNAVAILABLE, body)
    ok = ready and all(parts.values())
    return connection.respond(
        http.HTTPStatus.OK if ok else http.HTTPStatus.SERVICE_UNAVAILABLE,
        ("ready\n" if ok else "not ready\n") + lines,
    )


def not_ready(connection: ServerConnection, why: str) -> Response:
    """HTTP 503 for a handshake while the server warms up (:mod:`~handoff_server.warmup`):
    stable code ``not_ready`` first in the body, ``Retry-After`` in seconds."""
    response = connection.respond(
        http.HTTPStatus.SERVICE_UNAVAILABLE, f"not_ready: {why}; try again in a few seconds\n"
    )
    response.headers["Retry-After"] = "5"
    return response
