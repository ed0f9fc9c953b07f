"""The conversation lifecycle as tables: status × action → new status, or a refusal.

::

    ai ──escalate──► queued ──claim──► assigned ──resolve──► resolved
     ▲                 │  ▲              │                      │
     └──── handback ───┴──┴── release ───┘     visitor writes ──┘ (reopened → ai)

An agent's action depends on where the conversation stands *for that agent*
(:data:`Standing`): its status, with ``assigned`` split into held by the agent
(``yours``) or by someone else (``theirs``). Operators may also resolve and hand back a
conversation someone else holds. A refusal is a typed error with a stable code
(``invalid_state`` or ``conflict``) and a sentence for the agent.

Pure: no I/O, no clock, nothing of the store; the server and a client can both read it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from handoff_server.errors import Conflict, InvalidState, WireError
from handoff_server.protocol import AgentInfo, ConversationStatus

__all__ = [
    "AgentAction",
    "Move",
    "Refusal",
    "Standing",
    "VisitorAction",
    "agent_outcome",
    "agent_transition",
    "standing",
    "visitor_transition",
]

AgentAction = Literal["claim", "reply", "note", "resolve", "release", "handback"]
"""What an agent can do to a conversation (the agent frames of the same names)."""

VisitorAction = Literal["message", "request_human"]
"""What a visitor can do: write, or press "talk to a person"."""

Standing = Literal["ai", "queued", "yours", "theirs", "resolved"]
"""Where a conversation stands for the agent acting on it."""


@dataclass(frozen=True)
class Move:
    """The action is allowed; the conversation goes to ``to`` (``None``: stays put)."""

    to: ConversationStatus | None


@dataclass(frozen=True)
class Refusal:
    """The action is refused with ``error`` (its code is the wire code) and ``message``,
    a fixed sentence that may name ``{holder}`` (who holds the conversation) and
    ``{status}`` (its status)."""

    error: type[WireError]
    message: str

    def exception(self, status: ConversationStatus, holder: AgentInfo | None) -> WireError:
        """The error to raise, its sentence filled in (the values are data, never
        templates themselves)."""
        name = holder.name if holder is not None else ""
        return self.error(self.message.format(holder=name, status=status))


_STAY = Move(None)


def _claim_first(action: str) -> Refusal:
    return Refusal(InvalidState, f"claim the conversation before you {action} (it is {{status}})")


def _held(action: str) -> Refusal:
    return Refusal(Conflict, f"assigned to {{holder}}; you cannot {action}")


_HANDBACK_WHEN = Refusal(
    InvalidState, "only a queued or assigned conversation can be handed back (it is {status})"
)
_ASSIGNED_ELSEWHERE = Refusal(Conflict, "assigned to {holder}")

_AGENT_TABLE: dict[AgentAction, dict[Standing, Move | Refusal]] = {
    "claim": {
        "ai": Move("assigned"),
        "queued": Move("assigned"),
        "yours": Refusal(InvalidState, "you already have this conversation"),
        "theirs": Refusal(Conflict, "already claimed by {holder}"),
        "resolved": Refusal(InvalidState, "the conversation is resolved"),
    },
    "reply": {
        "ai": _claim_first("reply"),
        "queued": _claim_first("reply"),
        "yours": _STAY,
        "theirs": _held("reply"),
        "resolved": _claim_first("reply"),
    },
    "note": {"ai": _STAY, "queued": _STAY, "yours": _STAY, "theirs": _STAY, "resolved": _STAY},
    "resolve": {
        "ai": Move("resolved"),
        "queued": Move("resolved"),
        "yours": Move("resolved"),
        "theirs": _ASSIGNED_ELSEWHERE,
        "resolved": Refusal(InvalidState, "the conversation is already resolved"),
    },
    "release": {
        "ai": _claim_first("release"),
        "queued": _claim_first("release"),
        "yours": Move("queued"),
        "theirs": _held("release"),
        "resolved": _claim_first("release"),
    },
    "handback": {
        "ai": _HANDBACK_WHEN,
        "queued": Move("ai"),
        "yours": Move("ai"),
        "theirs": _ASSIGNED_ELSEWHERE,
        "resolved": _HANDBACK_WHEN,
    },
}
"""Every agent action in every standing."""

_OPERATOR_OVERRIDES: frozenset[AgentAction] = frozenset({"resolve", "handback"})
"""Actions an operator may take on a conversation someone else holds, as if it were theirs."""

_VISITOR_TABLE: dict[VisitorAction, dict[ConversationStatus, Move | Refusal]] = {
    "message": {
        "ai": _STAY,
        "queued": _STAY,
        "assigned": _STAY,
        # Writing to a resolved conversation reopens it, with the AI.
        "resolved": Move("ai"),
    },
    "request_human": {
        "ai": _STAY,
        "queued": Refusal(InvalidState, "a person has already been asked for in this conversation"),
        "assigned": Refusal(
            InvalidState, "a person has already been asked for in this conversation"
        ),
        "resolved": Move("ai"),
    },
}
"""Every visitor action in every status. The AI's turn, if the conversation is then with
the AI, comes after the move; an escalating turn sends it to ``queued``."""


def standing(status: ConversationStatus, holder: AgentInfo | None, actor: AgentInfo) -> Standing:
    """Where a conversation in ``status``, held by ``holder``, stands for ``actor``."""
    if status != "assigned":
        return status
    return "yours" if holder is not None and holder.id == actor.id else "theirs"


def agent_outcome(
    action: AgentAction, status: ConversationStatus, holder: AgentInfo | None, actor: AgentInfo
) -> Move | Refusal:
    """What ``actor`` doing ``action`` would do, without raising (for a UI that greys
    out what is not allowed)."""
    where = standing(status, holder, actor)
    if where == "theirs" and actor.role == "operator" and action in _OPERATOR_OVERRIDES:
        where = "yours"
    return _AGENT_TABLE[action][where]


def agent_transition(
    action: AgentAction, status: ConversationStatus, holder: AgentInfo | None, actor: AgentInfo
) -> Move:
    """Where ``actor`` doing ``action`` moves the conversation. Raises
    :class:`~handoff_server.errors.InvalidState` (not allowed in this status) or
    :class:`~handoff_server.errors.Conflict` (someone else holds it)."""
    outcome = agent_outcome(action, status, holder, actor)
    if isinstance(outcome, Refusal):
        raise outcome.exception(status, holder)
    return outcome


def visitor_transition(action: VisitorAction, status: ConversationStatus) -> Move:
    """Where the visitor's ``action`` moves the conversation, before any AI turn. Raises
    :class:`~handoff_server.errors.InvalidState` for a second request for a person."""
    outcome = _VISITOR_TABLE[action][status]
    if isinstance(outcome, Refusal):
        raise outcome.exception(status, None)
    return outcome
