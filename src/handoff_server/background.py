"""One background task a server part runs from start to close (a periodic sweep, a
re-read), started once and cancelled and awaited on close."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Coroutine
from typing import Any

__all__ = ["BackgroundTask"]


class BackgroundTask:
    """Holds at most one running task; :meth:`close` cancels it and waits for it."""

    def __init__(self) -> None:
        self._task: asyncio.Task[None] | None = None

    def start(self, coro: Coroutine[Any, Any, None], name: str) -> None:
        """Run ``coro`` as the task called ``name`` (on the running loop)."""
        self._task = asyncio.create_task(coro, name=name)

    async def close(self) -> None:
        """Cancel the task, if any, and wait until it has ended."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
