"""Transfers and returns to the queue: what they store, decided here, stored by the
conversation service (:meth:`~handoff_server.conversations.ConversationService.apply`).

- :func:`transfer_change`: an agent passes a queued or assigned conversation to another
  agent (who then holds it) or to a team (queued for it at its original place), with a
  note for colleagues; the visitor gets a neutral sentence, never the note or the names.
- :func:`requeue_change`: the conversations of an agent gone past the grace period go
  back to the queue at their original place; the visitor is told.

Pure: no I/O, no clock of its own.
"""

from __future__ import annotations

from datetime import datetime

from handoff_server.errors import Conflict, InvalidState
from handoff_server.protocol import AgentInfo, RequeuedData, TransferredData
from handoff_server.store import ConversationRecord, ConversationUpdate, NewEvent

__all__ = [
    "REQUEUED_NOTICE",
    "TRANSFER_NOTICE_AGENT",
    "TRANSFER_NOTICE_TEAM",
    "holder",
    "requeue_change",
    "transfer_change",
]

TRANSFER_NOTICE_AGENT = "A colleague is taking over this conversation."
"""What the visitor is told of a transfer to an agent."""
TRANSFER_NOTICE_TEAM = (
    "I'm passing your conversation to colleagues who can help with it. Please stay in this "
    "chat: the next one available will reply here."
)
"""What the visitor is told of a transfer to a team."""
REQUEUED_NOTICE = (
    "The person helping you was disconnected. Your conversation is back in the queue in the "
    "same place, and the next person available will reply here."
)
"""What the visitor is told when their conversation goes back to the queue because the
agent holding it is gone."""

_Decided = tuple[list[NewEvent], ConversationUpdate]


def holder(conv: ConversationRecord) -> AgentInfo | None:
    """Who holds the conversation (``None`` when nobody does)."""
    if not conv.assigned_agent_id:
        return None
    return AgentInfo(
        id=conv.assigned_agent_id,
        name=conv.assigned_agent_name or conv.assigned_agent_id,
        role="operator" if conv.assigned_agent_role == "operator" else "agent",
    )


def _check_transfer(conv: ConversationRecord, actor: AgentInfo, to_agent: AgentInfo | None) -> None:
    """Refuse a transfer the conversation's state does not allow."""
    if conv.status not in ("queued", "assigned"):
        raise InvalidState(
            f"only a queued or assigned conversation can be transferred (it is {conv.status})"
        )
    held = holder(conv)
    if held is not None and held.id != actor.id and actor.role != "operator":
        raise Conflict(f"assigned to {held.name}; you cannot transfer it")
    if to_agent is not None and held is not None and held.id == to_agent.id:
        raise InvalidState(f"{to_agent.name} already has this conversation")


def transfer_change(
    conv: ConversationRecord,
    actor: AgentInfo,
    to_agent: AgentInfo | None,
    to_team: str | None,
    note: str | None,
    client_msg_id: str,
    now: datetime,
) -> _Decided:
    """The ``transferred`` event and the columns it changes: to ``to_agent`` (who then
    holds it) or to ``to_team`` (queued for it, keeping its queue place). The holder, or
    an operator, may transfer an assigned conversation; anyone a queued one. Raises
    ``InvalidState`` (not queued or assigned; to the agent already holding it) or
    ``Conflict`` (someone else holds it)."""
    _check_transfer(conv, actor, to_agent)
    data = TransferredData(
        agent=actor,
        to_agent=to_agent,
        to_team=to_team,
        note=note,
        notice=TRANSFER_NOTICE_AGENT if to_agent is not None else TRANSFER_NOTICE_TEAM,
    )
    updates: ConversationUpdate
    if to_agent is not None:
        updates = {
            "status": "assigned",
            "assigned_agent_id": to_agent.id,
            "assigned_agent_name": to_agent.name,
            "assigned_agent_role": to_agent.role,
        }
    else:
        updates = _queued(conv, now)
        updates["team"] = to_team
    event = NewEvent(
        kind="transferred",
        data=data.model_dump(mode="json", exclude_none=True),
        client_msg_id=client_msg_id,
        sender=actor.id,
        at=now,
    )
    return [event], updates


_REQUEUE_TEXT = {
    "agent_disconnected": "was disconnected past the grace period",
    "token_revoked": "can no longer sign in (token revoked)",
    "token_expired": "can no longer sign in (token expired)",
    "agent_deleted": "can no longer sign in (agent deleted)",
}
"""Why the holder is gone, for agents, per ``requeued`` reason."""


def requeue_change(
    conv: ConversationRecord, agent_id: str, now: datetime, reason: str = "agent_disconnected"
) -> _Decided | None:
    """The conversation back in the queue at its place, the visitor told, if agent
    ``agent_id`` still holds it (``None``: nothing to do). ``reason``: why they are gone,
    a key of :data:`_REQUEUE_TEXT` (``agent_disconnected`` past the grace period;
    ``token_revoked``, ``token_expired``, ``agent_deleted``: at once)."""
    held = holder(conv)
    if conv.status != "assigned" or held is None or held.id != agent_id:
        return None
    data = RequeuedData(
        agent=held,
        reason=reason,
        text=f"{held.name} {_REQUEUE_TEXT[reason]}; back in the queue in its place.",
        notice=REQUEUED_NOTICE,
    )
    event = NewEvent(kind="requeued", data=data.model_dump(mode="json"), at=now)
    return [event], _queued(conv, now)


def _queued(conv: ConversationRecord, now: datetime) -> ConversationUpdate:
    """Queued, held by nobody, at the place it first had in the queue."""
    return {
        "status": "queued",
        "assigned_agent_id": None,
        "assigned_agent_name": None,
        "assigned_agent_role": None,
        "queued_at": conv.queued_at or now,
    }
