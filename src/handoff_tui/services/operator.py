"""The operator's requests: each gets a ``request_id``; the answer carrying it (or the
``error`` refusing it) goes back to the widget that asked.

:class:`OperatorRequests` numbers the requests (``op-1``, ``op-2``, …), remembers who
asked each one, and sends the frame in the background. The app's handlers call
:meth:`OperatorRequests.answered` / :meth:`OperatorRequests.refused` for frames that
carry a ``request_id``; they post :class:`~handoff_tui.messages.OperatorReply` or
:class:`~handoff_tui.messages.OperatorRefused` to the asker. When the link drops,
:meth:`OperatorRequests.fail_all` refuses every request still waiting (the server will
never answer it on the new connection).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any, Protocol

from pydantic import BaseModel

from handoff_tui.messages import OperatorRefused, OperatorReply

__all__ = ["Asker", "OperatorRequests"]


class Asker(Protocol):
    """Anything a reply can be posted to (a Textual widget or screen)."""

    def post_message(self, message: Any) -> bool:
        """Queue ``message`` for it; False when it is gone."""
        ...


class OperatorRequests:
    """Operator requests in flight. ``send(frame)`` sends in the background; ``connected()``
    says whether the link is up."""

    def __init__(self, send: Callable[[BaseModel], object], connected: Callable[[], bool]) -> None:
        self._send = send
        self.connected = connected
        """Whether the link is up now."""
        self._ids = itertools.count(1)
        self._waiting: dict[str, tuple[str, Asker]] = {}

    def ask(self, asker: Asker, frame_type: type[BaseModel], **fields: Any) -> str:
        """Send ``frame_type(**fields)`` with a fresh ``request_id``; its answer goes to
        ``asker``. Returns the request id. Refused at once (``not_connected``) while the
        link is down. Raises ``pydantic.ValidationError`` for fields the frame refuses."""
        request_id = f"op-{next(self._ids)}"
        frame = frame_type(request_id=request_id, **fields)
        kind = str(getattr(frame, "type", frame_type.__name__))
        if not self.connected():
            asker.post_message(
                OperatorRefused("not_connected", "not connected to the server", request_id)
            )
            return request_id
        self._waiting[request_id] = (kind, asker)
        self._send(frame)
        return request_id

    def send(self, frame: BaseModel) -> None:
        """Send a frame that is no request (an ``open`` to read a conversation), in the
        background."""
        self._send(frame)

    def waiting(self, kind: str | None = None) -> int:
        """Requests not answered yet (of frame type ``kind``, when given)."""
        return sum(1 for k, _ in self._waiting.values() if kind is None or k == kind)

    def answered(self, request_id: str, frame: BaseModel) -> bool:
        """``frame`` answers ``request_id``: tell whoever asked. False when no request
        of ours has that id (another client's id, or one already failed)."""
        entry = self._waiting.pop(request_id, None)
        if entry is None:
            return False
        entry[1].post_message(OperatorReply(frame, request_id))
        return True

    def refused(self, request_id: str, code: str, detail: str) -> bool:
        """The server refused ``request_id``: tell whoever asked (False: not ours)."""
        entry = self._waiting.pop(request_id, None)
        if entry is None:
            return False
        entry[1].post_message(OperatorRefused(code, detail, request_id))
        return True

    def fail_all(self, detail: str) -> int:
        """The link went down: refuse every waiting request as ``not_connected``.
        Returns how many there were."""
        waiting, self._waiting = self._waiting, {}
        for request_id, (_, asker) in waiting.items():
            asker.post_message(OperatorRefused("not_connected", detail, request_id))
        return len(waiting)
