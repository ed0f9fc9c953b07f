"""Turn a :class:`TurnContext` into a :class:`Decision` under a :class:`Policy`."""

from __future__ import annotations

import re

from handoff_server.escalation.models import Decision, TriggerEvaluation, TurnContext
from handoff_server.escalation.policy import Policy

_HUMAN = re.compile(r"\b(human|person|agent|representative|someone real)\b", re.I)


def decide(policy: Policy, ctx: TurnContext) -> Decision:
    """Evaluate every trigger on one turn; the first that fires decides."""
    evals: list[TriggerEvaluation] = []
    human = ctx.explicit_human_request or bool(policy.human_request and _HUMAN.search(ctx.text))
    evals.append(TriggerEvaluation(trigger="human_request", fired=human, value=human))
    if ctx.ai_error is not None:
        evals.append(TriggerEvaluation(trigger="ai_error", fired=True, value=ctx.ai_error))
    conf = ctx.answer.confidence if ctx.answer else None
    low = conf is not None and conf < policy.threshold
    evals.append(
        TriggerEvaluation(
            trigger="low_confidence", fired=low, value=conf, threshold=policy.threshold
        )
    )
    for ev in evals:
        if ev.fired:
            detail = {
                "human_request": "visitor asked for a person",
                "ai_error": f"answerer failed: {ctx.ai_error}",
                "low_confidence": f"confidence {conf:.2f} < threshold {policy.threshold:.2f}"
                if conf is not None
                else "",
            }[ev.trigger]
            return Decision(
                action="escalate",
                trigger=ev.trigger,
                detail=detail,
                evaluations=evals,
                policy_version=policy.version,
            )
    return Decision(action="continue", evaluations=evals, policy_version=policy.version)
