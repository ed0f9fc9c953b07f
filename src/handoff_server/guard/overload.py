"""Refusals under overload, logged once per interval with their count.

A flood of refused connections or frames must not become a flood of log lines (one
line, let alone a traceback, per attempt fills a disk in minutes): each kind of refusal
is counted, and one WARNING per ``interval`` seconds says how many there were.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable

__all__ = ["OverloadLog"]

log = logging.getLogger("handoff_server.overload")


class OverloadLog:
    """Counts refusals by kind (``too_many_connections``, ``rate_limited``, ...) and logs
    them at most once per ``interval`` seconds: the first refusal after a quiet interval
    is logged at once, the others are summed into the next line."""

    def __init__(self, interval: float = 10.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.interval = interval
        self.clock = clock
        self.pending: Counter[str] = Counter()
        self._last = -float("inf")

    def note(self, kind: str, detail: str = "") -> None:
        """Count one refusal of ``kind``; log the counts if the interval has passed."""
        self.pending[kind] += 1
        now = self.clock()
        if now - self._last < self.interval:
            return
        self._last = now
        counts = ", ".join(f"{n} {k}" for k, n in sorted(self.pending.items()))
        log.warning("overload: refused %s in the last %.0f s%s", counts, self.interval,
                    f" (last: {detail})" if detail else "")  # fmt: skip
        self.pending.clear()
