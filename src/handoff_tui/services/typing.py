"""The agent's typing indicator: said once when they start typing, unsaid when idle."""

from __future__ import annotations

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
    ) -> None:
        self.idle_seconds = idle_seconds
        """After this long without a keystroke the indicator goes off."""
        self._set_timer = set_timer
        self._send = send
        self._timers: dict[str, Timer] = {}

    def typed(self, cid: str) -> None:
        """The agent typed in ``cid``'s reply box: say so, and stop saying so when idle."""
        timer = self._timers.get(cid)
        if timer is None:
            self._send(ATyping(type="typing", conversation_id=cid, active=True))
        else:
            timer.stop()
        self._timers[cid] = self._set_timer(self.idle_seconds, lambda: self.stop(cid))

    def stop(self, cid: str) -> None:
        """The agent sent, closed the conversation or went idle: no longer typing."""
        timer = self._timers.pop(cid, None)
        if timer is not None:
            timer.stop()
            self._send(ATyping(type="typing", conversation_id=cid, active=False))
