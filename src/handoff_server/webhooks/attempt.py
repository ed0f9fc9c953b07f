"""One try of one webhook delivery: the refusal of private addresses, the signed POST
under one overall deadline, at most :data:`RESPONSE_BYTES` of the answer read, and the
answer's ``Retry-After``.

httpx's own time-out bounds each phase (connect, one read, one write), not the whole
request: a receiver that trickles a byte a second would hold a try for ever. So the
whole try runs under ``asyncio.timeout``; and the answer's body is streamed and cut
short, so a receiver cannot fill the server's memory with it."""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import socket
from dataclasses import dataclass
from typing import Any

import httpx

from handoff_server.config import WebhookEndpoint
from handoff_server.retry_after import retry_after_seconds
from handoff_server.store import utcnow
from handoff_server.webhooks.bodies import body_for, signed_headers

RESPONSE_BYTES = 4096
"""Most bytes of an answer's body read (the rest is never read; the connection is
closed instead of reused)."""
EXCERPT_CHARS = 200
"""Most characters of a failed answer's body kept in the delivery's ``last_error``."""


@dataclass(frozen=True)
class Outcome:
    """What one try came to."""

    status: int | None = None
    """The answer's HTTP status; ``None`` when there was no answer."""
    reason: str = ""
    """The answer's reason phrase, or why there was no answer."""
    excerpt: str = ""
    """The start of the answer's body (printable characters only, at most
    :data:`EXCERPT_CHARS`)."""
    retry_after: float | None = None
    """The answer's ``Retry-After`` in seconds from now (``None``: absent, unreadable or a
    2xx answer)."""
    refused: bool = False
    """The endpoint may not be called (a private address): trying again will not help."""

    @property
    def ok(self) -> bool:
        """Whether the receiver answered 2xx."""
        return self.status is not None and 200 <= self.status < 300

    @property
    def error(self) -> str:
        """One line saying why the try failed (``HTTP 500: <body start>``, a time-out, a
        refused connection...), as kept in ``last_error``."""
        if self.status is None:
            return self.reason
        said = f"HTTP {self.status}"
        return f"{said}: {self.excerpt}" if self.excerpt else said


@dataclass(frozen=True)
class Target:
    """Where one try connects: the endpoint's host resolved once, so the address checked
    is the address called (a host whose DNS answers a public address to the check and a
    private one to the connection, DNS rebinding, cannot reach the private one)."""

    url: httpx.URL
    """The endpoint's URL with the host replaced by the address."""
    host: str
    """The endpoint's host: sent as ``Host`` and, for https, as the TLS server name the
    certificate is checked against."""
    refused: str | None = None
    """Why the endpoint may not be called (a non-global address), or ``None``."""

    def request_extras(self, headers: dict[str, str]) -> tuple[dict[str, str], dict[str, Any]]:
        """The headers with ``Host``, and the request extensions (the TLS server name)."""
        port = self.url.port
        host = self.host if ":" not in self.host else f"[{self.host}]"
        with_host = {**headers, "host": host if port is None else f"{host}:{port}"}
        extensions = {"sni_hostname": self.host} if self.url.scheme == "https" else {}
        return with_host, extensions


async def resolve(endpoint: WebhookEndpoint) -> Target:
    """``endpoint``'s host resolved once, checked unless ``allow_private`` (refused when
    any address it resolves to is private, loopback, link-local or otherwise not
    global). A host given as an address is used as it is. Raises ``OSError`` when the
    host does not resolve."""
    url = httpx.URL(endpoint.url)
    infos = await asyncio.get_running_loop().getaddrinfo(
        url.host, url.port or (443 if url.scheme == "https" else 80), type=socket.SOCK_STREAM
    )
    addresses = [ipaddress.ip_address(str(info[4][0]).split("%")[0]) for info in infos]
    if not addresses:
        raise OSError(f"{url.host} resolves to no address")
    if not endpoint.allow_private:
        for address in addresses:
            if not address.is_global:
                return Target(
                    url,
                    url.host,
                    f"refused: {url.host} resolves to {address}, a private, loopback or"
                    " link-local address (set allow_private = true on the endpoint to allow it)",
                )
    return Target(url.copy_with(host=str(addresses[0])), url.host)


async def try_once(
    client: httpx.AsyncClient,
    endpoint: WebhookEndpoint,
    event_id: str,
    payload: dict[str, Any],
    timeout: float,
) -> Outcome:
    """POST ``payload`` (event ``event_id``) to ``endpoint``, signed, in its format, with
    ``client``; the whole try (resolving the host, connecting, sending, the answer's
    headers and up to :data:`RESPONSE_BYTES` of its body) within ``timeout`` seconds.
    Never raises for what the network or the receiver does: a refused address, an
    unresolvable host, a time-out or a broken connection is an :class:`Outcome` without
    ``status``."""
    now = utcnow()
    body = body_for(endpoint, payload)
    headers = {**signed_headers(endpoint, event_id, body, now), "accept-encoding": "identity"}
    try:
        async with asyncio.timeout(timeout):
            try:
                target = await resolve(endpoint)
            except OSError as exc:
                return Outcome(reason=f"cannot resolve the host: {exc}")
            if target.refused:
                return Outcome(reason=target.refused, refused=True)
            return await _post(client, target, body, headers)
    except TimeoutError:
        return Outcome(reason=f"no answer within {timeout:g} s (timeout_seconds)")
    except (httpx.HTTPError, httpx.InvalidURL) as exc:
        return Outcome(reason=f"{type(exc).__name__}: {exc}")


async def _post(
    client: httpx.AsyncClient, target: Target, body: str, headers: dict[str, str]
) -> Outcome:
    """The POST itself, to the resolved address: the answer's status, reason, body start
    and ``Retry-After``."""
    headers, extensions = target.request_extras(headers)
    request = client.build_request(
        "POST", target.url, content=body, headers=headers, extensions=extensions
    )
    async with contextlib.aclosing(await client.send(request, stream=True)) as response:
        start = await _read_start(response)
    ok = response.is_success
    return Outcome(
        status=response.status_code,
        reason=response.reason_phrase,
        excerpt="" if ok else excerpt(start),
        retry_after=None
        if ok
        else retry_after_seconds(response.headers.get("retry-after"), utcnow()),
    )


async def _read_start(response: httpx.Response) -> bytes:
    """Up to :data:`RESPONSE_BYTES` of ``response``'s body as sent (not decoded)."""
    start = bytearray()
    async for chunk in response.aiter_raw():
        start += chunk[: RESPONSE_BYTES - len(start)]
        if len(start) >= RESPONSE_BYTES:
            break  # the rest stays unread: leaving ``stream`` closes the connection
    return bytes(start)


def excerpt(body: bytes) -> str:
    """The start of an answer's ``body`` for a log line and ``last_error``: decoded as
    UTF-8 (bad bytes replaced), every run of whitespace or unprintable characters one
    space (a receiver cannot move an operator's terminal cursor), at most
    :data:`EXCERPT_CHARS` characters."""
    text = body.decode("utf-8", errors="replace")
    cleaned = "".join(c if c.isprintable() else " " for c in text)
    return " ".join(cleaned.split())[:EXCERPT_CHARS]
