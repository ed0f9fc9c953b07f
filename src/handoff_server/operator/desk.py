"""The operator's desk: every operator frame on ``/v1/agent`` is answered here.

The gateway hands each parsed operator frame (:data:`OPERATOR_FRAMES`) to
:meth:`OperatorDesk.handle` with the signed-in person. Only operators may send them: an
agent's is refused with ``forbidden`` and changes nothing. The answer (or the ``error``
refusing the request) carries the request's ``request_id``; a connection's requests are
answered in the order they came, because the gateway handles a connection's frames one
after the other.

Never here: the websocket (the gateway), deciding turns (escalation), the numbers
themselves (:mod:`handoff_server.analytics`).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Awaitable, Callable, Iterator
from typing import Any, get_args

from pydantic import BaseModel

from handoff_server.errors import Forbidden, WireError
from handoff_server.hub import Subscriber
from handoff_server.protocol import AgentInfo, SError
from handoff_server.protocol_operator import OperatorFrame

__all__ = ["OPERATOR_FRAMES", "OperatorDesk", "is_operator_frame"]

log = logging.getLogger(__name__)

OPERATOR_FRAMES: tuple[type[BaseModel], ...] = get_args(get_args(OperatorFrame)[0])
"""The model classes of :data:`~handoff_server.protocol_operator.OperatorFrame`."""

Handler = Callable[[Any, AgentInfo, Subscriber], Awaitable[BaseModel | None]]
"""Answers one operator frame: ``(frame, operator, their connection) → answer``."""


def is_operator_frame(frame: object) -> bool:
    """Whether ``frame`` is one of the operator's frames."""
    return isinstance(frame, OPERATOR_FRAMES)


class OperatorDesk:
    """Dispatches operator frames to their handlers (frame ``type`` → handler, see
    :data:`Handler`) and turns refusals into ``error`` frames.

    ``on_start`` are called when the server starts, on its event loop; ``on_drop``
    with a connection that closed (to forget its subscriptions); ``on_close`` when the
    server stops."""

    def __init__(self, handlers: dict[str, Handler]) -> None:
        self.handlers = handlers
        self.on_start: list[Callable[[], None]] = []
        self.on_drop: list[Callable[[Subscriber], None]] = []
        self.on_close: list[Callable[[], Awaitable[None]]] = []

    def start(self) -> None:
        """Start the desk's background work (call on the running event loop)."""
        for begin in self.on_start:
            begin()

    async def handle(self, frame: Any, agent: AgentInfo, sub: Subscriber) -> None:
        """Answer ``frame`` from ``agent`` on ``sub``: its answer, or an ``error`` (with
        the frame's ``request_id`` and ``client_msg_id``): ``forbidden`` for anyone but
        an operator, the handler's refusal (a :class:`WireError`), ``internal`` for a
        failure (logged)."""
        with _refusals(sub, frame):
            if agent.role != "operator":
                raise Forbidden(f"'{frame.type}' is for operators; {agent.name} is an agent")
            handler = self.handlers.get(frame.type)
            if handler is None:
                raise WireError(f"'{frame.type}' is not served here", code="unknown_type")
            answer = await handler(frame, agent, sub)
            if answer is not None:
                sub.push(answer)

    def drop(self, sub: Subscriber) -> None:
        """A connection closed: forget it everywhere."""
        for forget in self.on_drop:
            forget(sub)

    async def close(self) -> None:
        """Stop the desk's background work."""
        for stop in self.on_close:
            await stop()


@contextlib.contextmanager
def _refusals(sub: Subscriber, frame: Any) -> Iterator[None]:
    request_id = getattr(frame, "request_id", None)
    client_msg_id = getattr(frame, "client_msg_id", None)
    try:
        yield
    except WireError as exc:
        sub.push(
            SError(
                code=exc.code,
                detail=exc.detail,
                request_id=request_id,
                client_msg_id=client_msg_id,
            )
        )
    except Exception:
        log.exception("operator frame %s failed", getattr(frame, "type", "?"))
        sub.push(
            SError(
                code="internal",
                detail="internal error; nothing was changed",
                request_id=request_id,
                client_msg_id=client_msg_id,
            )
        )
