"""The agent's typing indicator: said when they start typing, said again every few seconds
while they go on (the server lets one ``typing active=true`` hold only a few seconds), and
unsaid when idle."""

from __future__ import annotations

import time
from collections.abc import Callable

from pydantic import BaseModel
from textual.timer import Timer

from handoff_server.protocol import ATyping

__all__ = ["TypingSignal"]


class TypingSignal:
    """Sends ``typing`` frames for the agent's reply boxes. ``set_timer(seconds, callback)``
    is the app's timer; ``send(frame)`` sends in the background (a lost frame is fine:
    the indicator is advisory)."""

    def __init__(
        self,
        idle_seconds: float,
        set_timer: Callable[[float, Callable[[], None]], Timer],
        send: Callable[[BaseModel], object],
        *,
        refresh_seconds: float = 3.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.idle_seconds = idle_seconds
        """After this long without a keystroke the indicator goes off."""
        self.refresh_seconds = refresh_seconds
        """While the agent keeps typing, ``active=true`` is sent again this often (seconds):
        below the server's typing expiry (``server.typing_expiry_seconds``, 6 s)."""
        self._set_timer = set_timer
        self._send = send
        self._clock = clock
        self._timers: dict[str, Timer] = {}
        self._said_at: dict[str, float] = {}

    def typed(self, cid: str) -> None:
        """The agent typed in ``cid``'s reply box: say so, and stop saying so when idle."""
        timer = self._timers.get(cid)
        if timer is not None:
            timer.stop()
        now = self._clock()
        if timer is None or now - self._said_at.get(cid, now) >= self.refresh_seconds:
            self._send(ATyping(type="typing", conversation_id=cid, active=True))
            self._said_at[cid] = now
        self._timers[cid] = self._set_timer(self.idle_seconds, lambda: self.stop(cid))

    def forget(self, cid: str) -> None:
        """``cid`` is gone (erased): stop its timer and say nothing to the server."""
        timer = self._timers.pop(cid, None)
        self._said_at.pop(cid, None)
        if timer is not None:
            timer.stop()

    def stop(self, cid: str) -> None:
        """The agent sent, closed the conversation or went idle: no longer typing."""
        timer = self._timers.pop(cid, None)
        self._said_at.pop(cid, None)
        if timer is not None:
            timer.stop()
            self._send(ATyping(type="typing", conversation_id=cid, active=False))
