"""Escalation: triggers and the operator's rules turn each turn into a Decision.

Public surface: :func:`decide` (policy + turn → decision), :class:`Policy` and
:func:`parse_policy` (validated policy data; :class:`PolicyError`, code ``bad_policy``,
lists every problem), and the contract models in :mod:`.models`.
"""

from typing import TYPE_CHECKING, Any

from handoff_server.escalation.models import (
    Decision,
    PriorTurn,
    TriggerEvaluation,
    TriggerKind,
    TurnContext,
    not_a_question,
)
from handoff_server.escalation.policy import Policy, Rule, default_rules, parse_policy

if TYPE_CHECKING:
    from handoff_server.escalation.engine import (
        compile_policy,
        decide,
        decide_turn,
        in_business_hours,
    )

_ENGINE = ("compile_policy", "decide", "decide_turn", "in_business_hours")


def __getattr__(name: str) -> Any:
    # The engine pulls in scikit-learn (about a second to import); loading it on first use
    # keeps `handoff --help` and the policy/config code fast.
    if name in _ENGINE:
        from handoff_server.escalation import engine

        return getattr(engine, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "Decision",
    "Policy",
    "PriorTurn",
    "Rule",
    "TriggerEvaluation",
    "TriggerKind",
    "TurnContext",
    "compile_policy",
    "decide",
    "decide_turn",
    "default_rules",
    "in_business_hours",
    "not_a_question",
    "parse_policy",
]
