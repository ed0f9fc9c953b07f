"""Rounds of push offers: a queued conversation everyone has passed on is offered again.

In a push team a queued conversation is offered to one agent at a time, and an agent who
passed on it (declined, let the offer expire, went away) is offered it no more in that
round (:mod:`.assignment`). A round is over when nobody who has not passed can take it;
left there, it would wait for a claim however long, with its agents idle. So the next
round starts ``[assignment] reoffer_after_seconds`` after the last one ended: everyone
may be offered it again, in the same least-loaded order, and the free slots of those
who passed count for its wait estimate again. ``"off"`` (``None``) keeps one round per
stay in the queue.

A round is counted by each node for the agents connected to it (they are the ones it
offers to); the offer lease shared by the nodes (:class:`~.board.OfferLeases`) still
keeps one offer of the conversation open at a time, so two nodes starting a round
together never offer it twice at once: the one refused the lease looks again when the
other's offer would have expired.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

__all__ = ["Rounds"]


class Rounds:
    """When the next round of offers of each conversation starts.

    ``interval``: seconds from the end of a round to the start of the next (``None``:
    no next round). ``start(conversation_id)`` is called, from the event loop, when a
    round starts: the caller forgets who passed and offers the conversation again."""

    def __init__(self, interval: float | None, start: Callable[[str], None]) -> None:
        self.interval = interval
        self._start = start
        self._due: dict[str, asyncio.TimerHandle] = {}

    def over(self, conversation_id: str) -> None:
        """Everyone who could take the conversation has passed: its next round starts
        ``interval`` seconds from now (unless one is due already, or rounds are off)."""
        if self.interval is None or conversation_id in self._due:
            return
        loop = asyncio.get_running_loop()
        self._due[conversation_id] = loop.call_later(self.interval, self._begin, conversation_id)

    def due(self, conversation_id: str) -> bool:
        """Whether a next round of the conversation is waiting to start."""
        return conversation_id in self._due

    def cancel(self, conversation_id: str) -> None:
        """No next round: it was offered to someone (the round goes on), left the queue,
        entered it anew or was erased."""
        handle = self._due.pop(conversation_id, None)
        if handle is not None:
            handle.cancel()

    def close(self) -> None:
        """Cancel every next round (the server is stopping)."""
        for handle in self._due.values():
            handle.cancel()
        self._due.clear()

    def _begin(self, conversation_id: str) -> None:
        self._due.pop(conversation_id, None)
        self._start(conversation_id)
