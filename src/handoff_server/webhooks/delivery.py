"""Posting outbox rows: one shared ``httpx.AsyncClient``, back-off with full jitter,
``Retry-After``, refusal of private addresses. Runs as one background task, so a slow
or dead endpoint never holds up a conversation.

Rows are claimed before they are posted (:meth:`~handoff_server.store.Store.claim_outbox`):
with several nodes on one store, each due row goes to one node's deliverer, and one
conversation's rows for one endpoint to one deliverer at a time, posted in order. A
claim lasts :func:`lease_seconds`; a node that dies mid-delivery leaves its rows to
another node once it lapses (the row being posted then may be posted twice: receivers
de-duplicate by ``webhook-id``)."""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import ipaddress
import logging
import random
import socket
import uuid
from datetime import datetime, timedelta

import httpx

from handoff_server.background import BackgroundTask
from handoff_server.config import WebhookEndpoint, WebhookSettings
from handoff_server.store import AsyncStore, OutboxRow, outbox_conversation, utcnow
from handoff_server.webhooks.bodies import body_for, signed_headers
from handoff_server.webhooks.outbox import Outbox

log = logging.getLogger(__name__)

POLL_SECONDS = 5.0
"""Longest sleep between looks at the outbox (rows due after a restart are found so)."""
BATCH = 50
"""(Endpoint, conversation) pairs claimed at once (each with its due rows)."""
RETRY_AFTER_CAP_SECONDS = 86400.0
"""Longest ``Retry-After`` obeyed (one day)."""


def retry_after_seconds(value: str | None, now: datetime) -> float | None:
    """A ``Retry-After`` header as seconds from ``now``: delta-seconds or an HTTP date;
    ``None`` when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, (when - now).total_seconds())


async def refusal(endpoint: WebhookEndpoint) -> str | None:
    """Why ``endpoint`` may not be called (its host resolves to a private, loopback,
    link-local or otherwise non-global address and ``allow_private`` is false), or
    ``None``. Raises ``OSError`` when the host does not resolve."""
    if endpoint.allow_private:
        return None
    url = httpx.URL(endpoint.url)
    infos = await asyncio.get_running_loop().getaddrinfo(
        url.host, url.port or (443 if url.scheme == "https" else 80), type=socket.SOCK_STREAM
    )
    for info in infos:
        address = ipaddress.ip_address(str(info[4][0]).split("%")[0])
        if not address.is_global:
            return (
                f"refused: {url.host} resolves to {address}, a private, loopback or"
                " link-local address (set allow_private = true on the endpoint to allow it)"
            )
    return None


def lease_seconds(timeout: float) -> float:
    """How long a claim on due rows lasts (seconds), for posts that time out after
    ``timeout`` seconds: a minute, or three posts' time if longer. A deliverer posts a
    claimed row only while a whole post still fits in its claim, and hands the rest
    back."""
    return max(60.0, 3 * timeout)


TEST_EVENT_TYPE = "webhook.test"
"""The type of the event ``handoff webhooks test`` sends (never sent otherwise)."""


async def send_test_event(endpoint: WebhookEndpoint, timeout: float) -> tuple[int | None, str]:
    """POST one signed ``webhook.test`` event to ``endpoint`` (its format, its secret)
    with a client of its own; returns ``(HTTP status, reason)``, or ``(None, why)`` when
    the endpoint is refused (a private address without ``allow_private``) or cannot be
    reached. Nothing is stored."""
    try:
        refused = await refusal(endpoint)
    except OSError as exc:
        return None, f"cannot resolve the host: {exc}"
    if refused:
        return None, refused
    now = utcnow()
    event_id = "msg_test_" + uuid.uuid4().hex
    payload = {
        "id": event_id,
        "type": TEST_EVENT_TYPE,
        "timestamp": now.isoformat(),
        "data": {"message": "A test event from `handoff webhooks test`."},
    }
    body = body_for(endpoint, payload)
    headers = signed_headers(endpoint, event_id, body, now)
    async with httpx.AsyncClient(timeout=timeout, follow_redirects=False) as client:
        try:
            response = await client.post(endpoint.url, content=body, headers=headers)
        except httpx.HTTPError as exc:
            return None, f"{type(exc).__name__}: {exc}"
    return response.status_code, response.reason_phrase


class Deliverer:
    """The background task posting due outbox rows.

    ``store``: the server's store; ``settings``: ``[webhooks]``; ``outbox``: woken when
    rows are written. ``start()`` begins, ``close()`` stops, hands back the rows claimed
    and not yet posted, and closes the client. A row being posted when the server stops
    stays pending and is posted again (at least once; receivers de-duplicate by
    ``webhook-id``)."""

    def __init__(self, store: AsyncStore, settings: WebhookSettings, outbox: Outbox) -> None:
        self._store = store
        self._db = store.store
        self.settings = settings
        self.outbox = outbox
        self._endpoints = {ep.url: ep for ep in settings.endpoints}
        self._client: httpx.AsyncClient | None = None
        self._task = BackgroundTask()
        self._claimed: set[tuple[str, str]] = set()
        """(id, endpoint) of the rows claimed here and not yet posted."""

    def start(self) -> None:
        """Open the shared client and start the task."""
        self._client = httpx.AsyncClient(
            timeout=self.settings.timeout_seconds, follow_redirects=False
        )
        self._task.start(self._run(), "webhooks")

    async def close(self) -> None:
        """Stop the task and close the client. Idempotent."""
        await self._task.close()
        await self._release()
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def _release(self, keys: list[tuple[str, str]] | None = None) -> None:
        """Hand back claimed rows not posted (``keys``; all of them when ``None``)."""
        keys = list(self._claimed) if keys is None else keys
        self._claimed.difference_update(keys)
        if keys:
            try:
                await self._store.call(self._db.release_outbox, keys)
            except Exception:  # their claims lapse by themselves
                log.exception("could not hand back %d webhook rows", len(keys))

    async def _run(self) -> None:
        while True:
            self.outbox.wake.clear()
            try:
                now = utcnow()
                until = now + timedelta(seconds=lease_seconds(self.settings.timeout_seconds))
                due = await self._store.call(self._db.claim_outbox, now, BATCH, until)
                self._claimed.update((r.id, r.endpoint) for r in due)
                groups = in_order(due)
                await asyncio.gather(*(self._deliver_in_order(rows, until) for rows in groups))
            except Exception:
                log.exception("webhook delivery round failed")
                groups = []
            if len(groups) < BATCH:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.outbox.wake.wait(), POLL_SECONDS)

    async def _deliver_in_order(self, rows: list[OutboxRow], until: datetime) -> None:
        """Deliver one conversation's rows for one endpoint one after another, while a
        whole post still fits in the claim (ending ``until``); hand back the rest."""
        for i, row in enumerate(rows):
            if utcnow() + timedelta(seconds=self.settings.timeout_seconds) >= until:
                await self._release([(r.id, r.endpoint) for r in rows[i:]])
                return
            try:
                await self._deliver(row)
            finally:
                self._claimed.discard((row.id, row.endpoint))

    async def _deliver(self, row: OutboxRow) -> None:
        attempts = row.attempts + 1
        endpoint = self._endpoints.get(row.endpoint)
        if endpoint is None:
            await self._fail(row, attempts, "the endpoint is no longer configured")
            return
        try:
            refused = await refusal(endpoint)
        except OSError as exc:
            await self._retry(row, attempts, f"cannot resolve the host: {exc}", None)
            return
        if refused:
            await self._fail(row, attempts, refused)
            return
        await self._post(row, endpoint, attempts)

    async def _post(self, row: OutboxRow, endpoint: WebhookEndpoint, attempts: int) -> None:
        assert self._client is not None
        now = utcnow()
        body = body_for(endpoint, row.payload)
        headers = signed_headers(endpoint, row.id, body, now)
        try:
            response = await self._client.post(endpoint.url, content=body, headers=headers)
        except httpx.HTTPError as exc:
            await self._retry(row, attempts, f"{type(exc).__name__}: {exc}", None)
            return
        if response.is_success:
            await self._store.call(self._db.outbox_delivered, row.id, row.endpoint, attempts)
            return
        wait = retry_after_seconds(response.headers.get("retry-after"), utcnow())
        await self._retry(row, attempts, f"HTTP {response.status_code}", wait)

    async def _retry(
        self, row: OutboxRow, attempts: int, error: str, retry_after: float | None
    ) -> None:
        schedule = self.settings.retry_schedule_seconds
        if attempts > len(schedule):
            await self._fail(row, attempts, f"{error} (gave up after {attempts} tries)")
            return
        # Full jitter spreads retries of many rows; a Retry-After is a floor, capped by
        # a day so an endpoint cannot park a row for ever.
        delay = random.uniform(0, schedule[attempts - 1])
        if retry_after is not None:
            delay = max(delay, min(retry_after, RETRY_AFTER_CAP_SECONDS))
        at = utcnow() + timedelta(seconds=delay)
        log.info("webhook %s to %s: %s; retry in %.1f s", row.id, row.endpoint, error, delay)
        await self._store.call(self._db.outbox_retry, row.id, row.endpoint, attempts, at, error)
        asyncio.get_running_loop().call_later(delay, self.outbox.kick)

    async def _fail(self, row: OutboxRow, attempts: int, error: str) -> None:
        log.warning("webhook %s to %s failed: %s", row.id, row.endpoint, error)
        await self._store.call(self._db.outbox_failed, row.id, row.endpoint, attempts, error)


def in_order(rows: list[OutboxRow]) -> list[list[OutboxRow]]:
    """``rows`` (due, oldest first) grouped by endpoint and conversation, each group in
    its order: a receiver gets one conversation's events in the order they happened
    (escalated, assigned, resolved) while other conversations' go out alongside. A row
    that fails and is retried may still arrive after later ones; each carries its
    ``timestamp``."""
    groups: dict[tuple[str, str], list[OutboxRow]] = {}
    for row in rows:
        key = (row.endpoint, outbox_conversation(row.payload) or row.id)
        groups.setdefault(key, []).append(row)
    return list(groups.values())
