"""Posting outbox rows: one shared ``httpx.AsyncClient``, back-off with full jitter,
``Retry-After``, refusal of private addresses (one try: :mod:`.attempt`). Runs as a
background task, so a slow or dead endpoint never holds up a conversation.

Rows are claimed before they are posted (:meth:`~handoff_server.store.Store.claim_outbox`):
with several nodes on one store, each due row goes to one node's deliverer, and one
conversation's rows for one endpoint to one deliverer at a time, posted in order. Each
claimed (endpoint, conversation) pair is posted by a task of its own, up to
:data:`BATCH` at once, so a slow receiver holds up only its own pairs. A claim lasts
:func:`lease_seconds`; a node that dies mid-delivery leaves its rows to another node
once it lapses (the row being posted then may be posted twice: receivers de-duplicate by
``webhook-id``)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import uuid
from datetime import datetime, timedelta

import httpx

from handoff_server.background import BackgroundTask
from handoff_server.config import WebhookEndpoint, WebhookSettings
from handoff_server.store import AsyncStore, OutboxRow, outbox_conversation, utcnow
from handoff_server.webhooks.attempt import try_once
from handoff_server.webhooks.outbox import Outbox

log = logging.getLogger(__name__)

POLL_SECONDS = 5.0
"""Longest sleep between looks at the outbox (rows due after a restart are found so)."""
BATCH = 50
"""Most (endpoint, conversation) pairs (each with its due rows) a deliverer holds and
posts at once, each in a task of its own."""
RETRY_AFTER_CAP_SECONDS = 86400.0
"""Longest ``Retry-After`` obeyed (one day)."""


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
    with a client of its own, within ``timeout`` seconds in all; returns ``(HTTP status,
    reason)``, or ``(None, why)`` when the endpoint is refused (a private address without
    ``allow_private``), cannot be reached or does not answer in time. Nothing is
    stored."""
    event_id = "msg_test_" + uuid.uuid4().hex
    payload = {
        "id": event_id,
        "type": TEST_EVENT_TYPE,
        "timestamp": utcnow().isoformat(),
        "data": {"message": "A test event from `handoff webhooks test`."},
    }
    async with httpx.AsyncClient(timeout=timeout, follow_redirects=False) as client:
        outcome = await try_once(client, endpoint, event_id, payload, timeout)
    return outcome.status, outcome.reason


class Deliverer:
    """The background task posting due outbox rows.

    ``store``: the server's store; ``settings``: ``[webhooks]``; ``outbox``: woken when
    rows are written. ``start()`` begins, ``close()`` stops, hands back the rows claimed
    and not yet posted, and closes the client. A row being posted when the server stops
    stays pending and is posted again (at least once; receivers de-duplicate by
    ``webhook-id``). Whatever goes wrong with one row is one failed try of it (counted,
    retried after a back-off), never the end of the task."""

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
        self._posting: set[asyncio.Task[None]] = set()
        """One task per claimed (endpoint, conversation) pair being posted."""

    def start(self) -> None:
        """Open the shared client and start the task."""
        self._client = httpx.AsyncClient(
            timeout=self.settings.timeout_seconds, follow_redirects=False
        )
        self._task.start(self._run(), "webhooks")

    async def close(self) -> None:
        """Stop the task and the posts under way, and close the client. Idempotent."""
        await self._task.close()
        posting = list(self._posting)
        for task in posting:
            task.cancel()
        await asyncio.gather(*posting, return_exceptions=True)
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
            free = BATCH - len(self._posting)
            started = await self._claim(free) if free > 0 else 0
            # All free places filled: more may be due. Otherwise wait for a new row, a
            # retry falling due or a pair finished (its next row may be due now).
            if free == 0 or started < free:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.outbox.wake.wait(), POLL_SECONDS)

    async def _claim(self, limit: int) -> int:
        """Claim the due rows of up to ``limit`` (endpoint, conversation) pairs and start
        a task posting each pair's; returns how many pairs."""
        try:
            now = utcnow()
            until = now + timedelta(seconds=lease_seconds(self.settings.timeout_seconds))
            due = await self._store.call(self._db.claim_outbox, now, limit, until)
            self._claimed.update((r.id, r.endpoint) for r in due)
            groups = in_order(due)
        except Exception:  # tried again after a wait; any claims lapse
            log.exception("could not claim webhook deliveries")
            return 0
        for rows in groups:
            task = asyncio.create_task(self._deliver_in_order(rows, until), name="webhook")
            self._posting.add(task)
            task.add_done_callback(self._posted)
        return len(groups)

    def _posted(self, task: asyncio.Task[None]) -> None:
        self._posting.discard(task)
        self.outbox.kick()

    async def _deliver_in_order(self, rows: list[OutboxRow], until: datetime) -> None:
        """Deliver one conversation's rows for one endpoint one after another, while a
        whole try still fits in the claim (ending ``until``); hand back the rest."""
        for i, row in enumerate(rows):
            if utcnow() + timedelta(seconds=self.settings.timeout_seconds) >= until:
                await self._release([(r.id, r.endpoint) for r in rows[i:]])
                return
            try:
                await self._deliver(row)
            except Exception as exc:
                await self._unexpected(row, exc)
            finally:
                self._claimed.discard((row.id, row.endpoint))

    async def _unexpected(self, row: OutboxRow, exc: Exception) -> None:
        """Count an exception while handling ``row`` as a failed try of it."""
        log.exception("webhook %s to %s: unexpected error", row.id, row.endpoint)
        try:
            await self._retry(row, row.attempts + 1, f"{type(exc).__name__}: {exc}", None)
        except Exception:  # the store too: the claim lapses and the row is tried again
            log.exception("webhook %s to %s: could not record the failed try", row.id, row.endpoint)

    async def _deliver(self, row: OutboxRow) -> None:
        attempts = row.attempts + 1
        endpoint = self._endpoints.get(row.endpoint)
        if endpoint is None:
            await self._fail(row, attempts, "the endpoint is no longer configured")
            return
        assert self._client is not None
        outcome = await try_once(
            self._client, endpoint, row.id, row.payload, self.settings.timeout_seconds
        )
        if outcome.ok:
            await self._store.call(self._db.outbox_delivered, row.id, row.endpoint, attempts)
        elif outcome.refused:
            await self._fail(row, attempts, outcome.error)
        else:
            await self._retry(row, attempts, outcome.error, outcome.retry_after)

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
