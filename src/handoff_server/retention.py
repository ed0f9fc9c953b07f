"""Retention and erasure of visitor data.

Retention (``[store] retain_days``): :class:`RetentionSweep`, a background task of the
server, deletes every resolved conversation whose last change is older than that, with
all stored of it (:meth:`~handoff_server.store.Store.erase_conversations`: events, AI
turns, webhook deliveries, the conversation with its visitor, fallbacks and tasks). It
runs at start and then every ``retention_sweep_seconds``, in batches of
:data:`BATCH` conversations (one transaction each, so the store thread is never held
long). A conversation still open (with the AI, queued, assigned) is never deleted by
age: it is deleted once it has been resolved that long.

Erasure (``handoff erase --email``): :func:`erase_email` finds every conversation
holding an email address (the visitor's, or one given in a callback request or an
offline message) and deletes it the same way; ``dry_run`` only counts what it would
delete (conversations, and rows per table), changing nothing.

An erasure made beside a running server (``handoff erase`` works on the store directly)
reaches the server through :class:`ErasureWatch`: every ``interval`` seconds (2) it asks
the store which of the conversations the server holds in memory are still stored, and
the server forgets the others everywhere (:class:`~handoff_server.forgetting.ServerMemory`:
its memory of recent conversations, routing's holders and offers, the subscriptions),
so it no longer serves them (a transcript, a resume), their holders have their slots
back and a visitor's next message to one gets ``not_found``; the connected agents are
told first (``queue_item`` with ``erased``: :meth:`ServerMemory.erased
<handoff_server.forgetting.ServerMemory.erased>`), so the row leaves every agent's view.

Reports (``handoff report``, the operator's analytics) count only what is kept.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from handoff_server.background import BackgroundTask
from handoff_server.store import AsyncStore, Store, utcnow

__all__ = ["BATCH", "Erasure", "ErasureWatch", "RetentionSweep", "erase_email"]

log = logging.getLogger(__name__)

BATCH = 200
"""Conversations deleted per transaction."""


@dataclass
class Erasure:
    """What an erasure found and deleted: the ``conversations`` (ids) and the rows per
    table (``deleted``); for a ``dry_run``, the rows it would delete (nothing was)."""

    conversations: list[str]
    deleted: dict[str, int] = field(default_factory=dict)
    dry_run: bool = False


def erase_email(store: Store, email: str, *, dry_run: bool = False) -> Erasure:
    """Delete every conversation holding ``email`` (see the module); with ``dry_run``,
    only find them and count the rows a real run would delete (the same tables, the
    same batches: :meth:`~handoff_server.store.Store.erasure_counts`). ``email`` is matched against what was stored, exactly but for case
    (Unicode case-folded, :func:`~handoff_server.protocol.email_key`) and surrounding
    blanks, whether or not it is a valid address (a visitor's hello keeps
    any text it gave as its email: it must be erasable too). Raises ``ValueError`` for an
    empty value; the store's error when it cannot write (nothing is deleted then)."""
    if not email.strip():
        raise ValueError("the email to erase is empty")
    ids = store.conversations_of_email(email)
    result = Erasure(conversations=ids, dry_run=dry_run)
    act = store.erasure_counts if dry_run else store.erase_conversations
    for start in range(0, len(ids), BATCH):
        counts = act(ids[start : start + BATCH])
        for table, n in counts.items():
            result.deleted[table] = result.deleted.get(table, 0) + n
    return result


class RetentionSweep:
    """Deletes resolved conversations older than ``retain_days`` (see the module), every
    ``interval`` seconds. ``clock``: UTC now (tests fix it). ``on_erased``: called with
    each deleted conversation's id (the server's memory of recent conversations forgets
    it)."""

    def __init__(
        self,
        store: AsyncStore,
        retain_days: float,
        interval: float = 3600.0,
        clock: Callable[[], datetime] = utcnow,
        on_erased: Callable[[str], None] | None = None,
    ) -> None:
        self._store = store
        self._on_erased = on_erased
        self.retain = timedelta(days=retain_days)
        self.interval = interval
        self._clock = clock
        self._task = BackgroundTask()

    async def sweep(self) -> int:
        """One sweep now; returns how many conversations were deleted."""
        cutoff = self._clock() - self.retain
        db = self._store.store
        deleted = 0
        while True:
            ids = await self._store.call(db.resolved_before, cutoff, BATCH)
            if not ids:
                break
            counts = await self._store.call(db.erase_conversations, ids)
            deleted += counts.get("conversations", 0)
            if self._on_erased is not None:
                for conversation_id in ids:
                    self._on_erased(conversation_id)
            if len(ids) < BATCH:
                break
        if deleted:
            log.info("retention: deleted %d resolved conversations before %s", deleted, cutoff)
        return deleted

    def start(self) -> None:
        """Run a sweep now and every ``interval`` seconds."""
        self._task.every(self.interval, self.sweep, "retention sweep", at_once=True)

    async def close(self) -> None:
        """Stop sweeping."""
        await self._task.close()


class ErasureWatch:
    """Notices conversations erased from the store behind the server's back (see the
    module): every ``interval`` seconds, those of ``held()`` (the ids the server keeps
    in memory) no longer stored are passed to ``forget``."""

    def __init__(
        self,
        store: AsyncStore,
        held: Callable[[], list[str]],
        forget: Callable[[str], None],
        interval: float = 2.0,
    ) -> None:
        self._store = store
        self._held = held
        self._forget = forget
        self.interval = interval
        self._task = BackgroundTask()

    async def check(self) -> list[str]:
        """One check now; returns the ids forgotten."""
        ids = self._held()
        if not ids:
            return []
        present = await self._store.call(self._store.store.conversations_present, ids)
        gone = [cid for cid in ids if cid not in present]
        for conversation_id in gone:
            self._forget(conversation_id)
        if gone:
            log.info("erasure: %d conversation(s) erased from the store, forgotten", len(gone))
        return gone

    def start(self) -> None:
        """Check every ``interval`` seconds."""
        self._task.every(self.interval, self.check, "erasure check")

    async def close(self) -> None:
        """Stop checking."""
        await self._task.close()
