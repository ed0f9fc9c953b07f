"""Escalation: triggers and the operator's rules turn each turn into a Decision.

Public surface: :func:`decide` (policy + turn → decision), :class:`Policy` and
:func:`parse_policy` (validated policy data; :class:`PolicyError`, code ``bad_policy``,
lists every problem), and the contract models in :mod:`.models`.
"""

from handoff_server.escalation.engine import compile_policy, decide, in_business_hours
from handoff_server.escalation.models import (
    Decision,
    PriorTurn,
    TriggerEvaluation,
    TriggerKind,
    TurnContext,
)
from handoff_server.escalation.policy import Policy, PolicyError, Rule, default_rules, parse_policy

__all__ = [
    "Decision",
    "Policy",
    "PolicyError",
    "PriorTurn",
    "Rule",
    "TriggerEvaluation",
    "TriggerKind",
    "TurnContext",
    "compile_policy",
    "decide",
    "default_rules",
    "in_business_hours",
    "parse_policy",
]
