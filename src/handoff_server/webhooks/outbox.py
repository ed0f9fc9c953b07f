"""Which webhook rows an event makes: one per endpoint whose filter takes it."""

from __future__ import annotations

import asyncio
import uuid
from datetime import datetime
from typing import Any

from handoff_server.config import WebhookSettings
from handoff_server.protocol import RESOLVING_KINDS
from handoff_server.store import OutboxRow

EVENT_TYPES: dict[str, str] = {
    "escalated": "conversation.escalated",
    "claimed": "conversation.assigned",
    "transferred": "conversation.transferred",
    "resolved": "conversation.resolved",
    "callback_requested": "callback.requested",
    "offline_message": "offline_message.created",
    "offline_reply": "offline_message.replied",
}
"""Stored event kind → webhook event type. A later kind joins by one entry here and one
in ``config.WebhookEvent``."""

EVENT_FIELDS: dict[str, tuple[str, ...]] = {
    "claimed": ("agent", "via"),
    "transferred": ("agent", "to_agent", "to_team", "note"),
    "resolved": ("agent", "resolution", "ai_verdict"),
}
"""The fields of a stored event's data a webhook carries besides ``conversation_id``
(``agent`` always; the others when the event has them). ``escalated`` carries the
question and the handoff packet instead; ``callback_requested``, ``offline_message``
and ``offline_reply`` their own data (see ``conversations/service.py``). A
``conversation.resolved`` webhook also carries ``via`` (:func:`resolved_data`)."""


def announced_as(kind: str) -> tuple[str, ...]:
    """The kinds whose webhooks announce a stored event of ``kind``, in order: its own
    (when it has one) and, for an event that resolves the conversation but is not
    ``resolved`` itself (``callback_done``, ``offline_reply``:
    :data:`~handoff_server.protocol.RESOLVING_KINDS`), ``resolved`` after it. So every
    resolution is announced as ``conversation.resolved``, once."""
    own = (kind,) if kind in EVENT_TYPES else ()
    if kind in RESOLVING_KINDS and kind != "resolved":
        return (*own, "resolved")
    return own


def resolved_data(kind: str, data: dict[str, Any]) -> dict[str, Any]:
    """The ``conversation.resolved`` fields (besides ``conversation_id``) of a stored
    event of ``kind`` (one of :data:`~handoff_server.protocol.RESOLVING_KINDS`) with
    ``data``: ``agent``, ``via`` (how it was resolved: ``resolve``, ``callback``,
    ``offline_message``), and ``resolution`` and ``ai_verdict`` when the agent gave
    them."""
    return {**Outbox.fields("resolved", data), "via": RESOLVING_KINDS[kind]}


class Outbox:
    """The rows announcing an event, and the signal that new rows are waiting.

    ``settings``: the ``[webhooks]`` section. Create it inside the running event loop's
    thread (``kick`` sets an ``asyncio.Event``)."""

    def __init__(self, settings: WebhookSettings) -> None:
        self.settings = settings
        self.wake = asyncio.Event()

    def wants(self, kind: str) -> bool:
        """Whether some endpoint takes events of the stored ``kind``."""
        event_type = EVENT_TYPES.get(kind)
        return event_type is not None and any(
            not ep.events or event_type in ep.events for ep in self.settings.endpoints
        )

    @staticmethod
    def fields(kind: str, data: dict[str, Any]) -> dict[str, Any]:
        """The webhook ``data`` fields taken from a stored event of ``kind`` with
        ``data`` (see :data:`EVENT_FIELDS`)."""
        names = EVENT_FIELDS.get(kind, ("agent",))
        return {k: data.get(k) for k in names if k == "agent" or k in data}

    @staticmethod
    def new_ids(count: int) -> list[str]:
        """``count`` new webhook event ids, in ascending order: rows made at the same
        time are posted in the order of their ids (``created_at``, then ``id``), so the
        webhooks announcing one stored event take these in the order they are made."""
        return sorted("msg_" + uuid.uuid4().hex for _ in range(count))

    def rows(
        self, kind: str, data: dict[str, Any], at: datetime, event_id: str | None = None
    ) -> list[OutboxRow]:
        """One pending row per endpoint taking ``kind``, all with the same event id
        (``event_id``, else a new one) and the payload ``{id, type, timestamp, data}``;
        due at ``at`` (UTC)."""
        event_type = EVENT_TYPES.get(kind)
        if event_type is None:
            return []
        event_id = event_id or self.new_ids(1)[0]
        payload = {"id": event_id, "type": event_type, "timestamp": at.isoformat(), "data": data}
        return [
            OutboxRow(
                id=event_id,
                endpoint=ep.url,
                event_type=event_type,
                payload=payload,
                created_at=at,
                next_attempt_at=at,
            )
            for ep in self.settings.endpoints
            if not ep.events or event_type in ep.events
        ]

    def kick(self) -> None:
        """Wake the deliverer: rows are due."""
        self.wake.set()
