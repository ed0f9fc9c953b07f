"""Escalation: triggers and the operator's rules turn each turn into a Decision."""

from handoff_server.escalation.engine import decide
from handoff_server.escalation.models import (
    Decision,
    PriorTurn,
    TriggerEvaluation,
    TriggerKind,
    TurnContext,
)
from handoff_server.escalation.policy import Policy

__all__ = [
    "Decision",
    "Policy",
    "PriorTurn",
    "TriggerEvaluation",
    "TriggerKind",
    "TurnContext",
    "decide",
]
