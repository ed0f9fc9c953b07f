"""App-wide messages: what the connection worker learned, posted to the app.

The link (:class:`handoff_tui.services.link.Link`, run by the app's ``ws`` worker) turns
each server frame into one of these; handlers on the app update :mod:`handoff_tui.model`
and the screens redraw from it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel
from textual.message import Message

from handoff_server.protocol import AgentInfo, Event, HandoffPacket, Limits, QueueItem
from handoff_tui.model.staff import DeskFrame

__all__ = [
    "AckReceived",
    "Authenticated",
    "ConnectionChanged",
    "ConversationLoaded",
    "DeskChanged",
    "ErrorReceived",
    "EventReceived",
    "OperatorAnswer",
    "OperatorRefused",
    "OperatorReply",
    "QueueItemChanged",
    "QueueReplaced",
    "TypingChanged",
    "WorkWaiting",
    "AiPartialReceived",
]


@dataclass
class ConnectionChanged(Message):
    """The link to the server went up or down."""

    state: Literal["connecting", "connected", "reconnecting", "starting", "unauthorized"]
    """``starting``: the server is up but not ready yet (HTTP 503 ``not_ready``)."""
    attempt: int = 0
    """Failed attempts in a row (0 while connected)."""
    retry_in: float = 0.0
    """Seconds until the next attempt."""
    detail: str = ""


@dataclass
class Authenticated(Message):
    """The server accepted the token."""

    agent: AgentInfo
    limits: Limits | None = None
    """The frame's ``limits`` (``max_message_chars``, ``threshold``), if the server sent
    them (see :meth:`handoff_tui.model.ServerLimits.update`)."""


@dataclass
class QueueReplaced(Message):
    """A whole ``queue`` snapshot."""

    items: list[QueueItem]


@dataclass
class QueueItemChanged(Message):
    """One ``queue_item`` upsert; ``erased``: the conversation was erased from the
    store (its row and, if open, the conversation go)."""

    item: QueueItem
    erased: bool = False


@dataclass
class ConversationLoaded(Message):
    """The answer to ``open``."""

    packet: HandoffPacket


@dataclass
class EventReceived(Message):
    """A live conversation event."""

    event: Event


@dataclass
class AckReceived(Message):
    """The server stored the frame ``client_msg_id`` as event ``seq``."""

    client_msg_id: str
    conversation_id: str
    seq: int


@dataclass
class ErrorReceived(Message):
    """The server refused a frame."""

    code: str
    detail: str
    client_msg_id: str | None
    conversation_id: str | None
    request_id: str | None = None
    """The operator request it refuses, if any (routed to whoever asked)."""


@dataclass
class DeskChanged(Message):
    """The roster, someone's presence or load, or an offer to this agent changed
    (``staff``, ``agent_status``, ``offer``, ``offer_ended``)."""

    frame: DeskFrame


@dataclass
class AiPartialReceived(Message):
    """The AI's answer in a conversation while it is written (``ai_partial``): ``text``
    so far, provisional; ``done``: it ended (the stored event follows)."""

    conversation_id: str
    text: str
    done: bool


@dataclass
class TypingChanged(Message):
    """Someone started or stopped typing in a conversation."""

    conversation_id: str
    role: Literal["visitor", "agent"]
    name: str | None
    active: bool


@dataclass
class OperatorAnswer(Message):
    """An operator frame from the server (:mod:`handoff_server.protocol_operator`): the
    answer to a request (its ``request_id`` set) or a ``policy`` pushed after an apply."""

    frame: BaseModel
    request_id: str | None


@dataclass
class OperatorReply(Message, bubble=False):
    """Sent to the widget that asked: the server answered its request ``request_id``
    with ``frame`` (already applied to the model)."""

    frame: BaseModel
    request_id: str


@dataclass
class OperatorRefused(Message, bubble=False):
    """Sent to the widget that asked: the server refused its request ``request_id``
    (``code``: the stable error code, e.g. ``conflict``, ``forbidden``), or the link went
    down before the answer (``code`` ``not_connected``)."""

    code: str
    detail: str
    request_id: str


@dataclass
class WorkWaiting(Message):
    """Work waits for the agents of ``team`` (``None``: any), oldest first: sent when an
    agent comes online or frees a slot."""

    team: str | None
    items: list[QueueItem]
