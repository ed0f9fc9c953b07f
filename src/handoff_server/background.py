"""One background task a server part runs from start to close (a periodic sweep, a
re-read), started once and cancelled and awaited on close."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

__all__ = ["BackgroundTask"]

log = logging.getLogger(__name__)


class BackgroundTask:
    """Holds at most one running task; :meth:`close` cancels it and waits for it."""

    def __init__(self) -> None:
        self._task: asyncio.Task[None] | None = None

    def start(self, coro: Coroutine[Any, Any, None], name: str) -> None:
        """Run ``coro`` as the task called ``name`` (on the running loop)."""
        self._task = asyncio.create_task(coro, name=name)

    def every(
        self,
        interval: float,
        step: Callable[[], Awaitable[object]],
        name: str,
        *,
        at_once: bool = False,
    ) -> None:
        """Run ``step()`` every ``interval`` seconds (first at once when ``at_once``, else
        after the first interval) as the task called ``name``, until :meth:`close`. A
        step that raises is logged as a warning ("``name`` failed: ...") and the next one
        runs as planned: the parts run so (sweeps, re-reads of the store) fail only when
        the store does, which ``/readyz`` reports."""
        self.start(_every(interval, step, name, at_once), name)

    async def close(self) -> None:
        """Cancel the task, if any, and wait until it has ended."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None


async def _every(
    interval: float, step: Callable[[], Awaitable[object]], name: str, at_once: bool
) -> None:
    if not at_once:
        await asyncio.sleep(interval)
    while True:
        try:
            await step()
        except Exception as exc:
            log.warning("%s failed: %s", name, exc)
        await asyncio.sleep(interval)
