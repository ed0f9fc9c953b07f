"""Whether the store can write now: what ``/readyz`` and ``/healthz`` report, and what a
refused frame says.

A full disk or a read-only data dir makes every write fail while reads still work, so
"the process is up" says nothing. :class:`StoreHealth` learns it two ways:

- every store call that fails with a storage error (:func:`is_storage_error`: SQLite's
  ``database or disk is full``, ``attempt to write a readonly database``,
  ``disk I/O error``, or an ``OSError``) marks the store failing at once, with the cause;
- a probe (:meth:`~handoff_server.store.Store.probe_write`: a row of 8 KiB written and
  deleted in one committed transaction, so it needs free pages and journal space like a
  real write) runs when ``/readyz`` asks, at most once per ``probe_interval`` seconds
  (1 s), and is the only thing that marks a failing store healthy again.

So ``/readyz`` turns 503 (naming the cause) within one second of the disk filling up,
and 200 again within one second of space coming back.
"""

from __future__ import annotations

import logging
import sqlite3
import time
from collections.abc import Awaitable, Callable

from handoff_server.datadir import explain_os_error

__all__ = ["StoreHealth", "is_storage_error"]

log = logging.getLogger(__name__)


_PG_STORAGE_STATES = ("53", "58", "25006")
"""PostgreSQL SQLSTATEs (prefixes) saying the database cannot write: class 53
(insufficient resources: disk full, out of memory), class 58 (system error: I/O), and
25006 (read-only transaction: a standby). A lost connection is not one of them: a
cluster node's ``/readyz`` reports it as ``database: down``."""


def is_storage_error(exc: BaseException) -> bool:
    """Whether ``exc`` says the store cannot write (rather than a bug): SQLite's
    operational errors (full, read-only, I/O, locked), ``OSError``, and PostgreSQL's
    errors of :data:`_PG_STORAGE_STATES` (psycopg's ``sqlstate``)."""
    sqlstate = getattr(exc, "sqlstate", None)
    if isinstance(sqlstate, str) and sqlstate.startswith(_PG_STORAGE_STATES):
        return True
    return isinstance(exc, sqlite3.OperationalError | OSError) and not isinstance(
        exc, ConnectionError | TimeoutError
    )


class StoreHealth:
    """The store's writability as last seen (see the module). ``failure`` is ``None``
    when healthy, else the cause in words."""

    def __init__(self, probe_interval: float = 1.0) -> None:
        self.probe_interval = probe_interval
        self.failure: str | None = None
        self._probed_at = float("-inf")

    def failed(self, exc: BaseException) -> None:
        """A store call failed with ``exc``: if it is a storage error, the store is
        failing from now on, until a probe succeeds."""
        if not is_storage_error(exc):
            return
        cause = explain_os_error(exc)
        if self.failure is None:
            log.error("the store cannot write: %s", cause)
        self.failure = cause

    async def check(self, probe: Callable[[], Awaitable[object]]) -> str | None:
        """Run ``probe`` (a store's ``probe_write`` on its thread) if the last probe is
        older than ``probe_interval`` seconds; returns the failure (``None``: healthy)."""
        now = time.monotonic()
        if now - self._probed_at < self.probe_interval:
            return self.failure
        self._probed_at = now
        try:
            await probe()
        except Exception as exc:
            if not is_storage_error(exc):
                raise
            self.failed(exc)
            return self.failure
        if self.failure is not None:
            log.warning("the store can write again (was: %s)", self.failure)
        self.failure = None
        return None
