"""Escalation contract: a turn's context → :class:`Decision`.

The conversation service builds a :class:`TurnContext` for every visitor turn and calls
``decide(policy, ctx)``; it never inspects triggers itself.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from handoff_server.ai.base import Answer

FiringTrigger = Literal[
    "low_confidence",
    "keyword",
    "human_request",
    "sentiment",
    "intent",
    "kb_entry",
    "unresolved_exchanges",
    "ai_error",
]
"""Triggers a rule can test with ``{trigger = "..."}``."""

TriggerKind = Literal[FiringTrigger, "rule"]
"""Stable names of the triggers, as shown to agents and in ``handoff triage --json``."""

Action = Literal["escalate", "offer_handoff", "continue"]


class PriorTurn(BaseModel):
    """An earlier visitor turn in the same conversation, oldest first."""

    text: str
    confidence: float | None = None
    resolved: bool | None = None
    """Whether that AI turn resolved the visitor's need (None: unknown)."""


class TurnContext(BaseModel):
    """Everything the policy may look at for one visitor turn.

    - ``text``: the visitor's message.
    - ``answer``: the AI's answer, or ``None`` when ``ai_error`` is set.
    - ``ai_error``: why the answerer failed or timed out, if it did.
    - ``history``: earlier visitor turns, oldest first.
    - ``explicit_human_request``: the visitor pressed "talk to a person" (a
      ``request_human`` frame), not just typed it.
    - ``visitor``: collected fields (``name``, ``email`` and free-form form fields).
    - ``page_url``: where the visitor started.
    - ``now``: time of the turn, UTC.
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    text: str
    answer: Answer | None = None
    ai_error: str | None = None
    history: list[PriorTurn] = Field(default_factory=list)
    explicit_human_request: bool = False
    visitor: dict[str, str] = Field(default_factory=dict)
    page_url: str | None = None
    now: datetime


def not_a_question(ctx: TurnContext, asked_for_person: bool, threshold: float) -> str | None:
    """Why the turn is not a question the answer is about (a sentence for agents), or
    ``None`` when it is one.

    Not a question: a courtesy turn (a thanks, hello or goodbye), and a turn that only asks
    for a person (``asked_for_person``: pressed, accepted an offer or ``human_request``
    fired) while the AI is not sure it is also about a topic (confidence below
    ``threshold``, 0–1: "I want to talk to a person" reads as a weak match for some entry;
    "a human please, about resetting my password" does not). On such a turn the answer's
    confidence measures nothing about the visitor's need.
    """
    answer = ctx.answer
    return question_reason(
        answer is not None and answer.courtesy,
        asked_for_person,
        ctx.explicit_human_request,
        answer.confidence if answer is not None else None,
        threshold,
    )


def question_reason(
    courtesy: bool,
    asked_for_person: bool,
    explicit: bool,
    confidence: float | None,
    threshold: float,
) -> str | None:
    """:func:`not_a_question` on plain values: the answer is a ``courtesy`` reply; the
    visitor ``asked_for_person`` or pressed for one (``explicit``); the answer's
    ``confidence`` (0–1, ``None`` without an answer) against ``threshold``."""
    if courtesy:
        return "not a question: a courtesy turn"
    sure = confidence is not None and confidence >= threshold
    if (asked_for_person or explicit) and not sure:
        return "not a question: the visitor asked for a person"
    return None


class TriggerEvaluation(BaseModel):
    """One trigger's evaluation on one turn: what it measured against what, and the result.

    ``value`` is the measured quantity (a confidence 0–1, a sentiment score −1…1, a matched
    phrase, a count); ``threshold`` what it was compared with, when that applies.
    """

    trigger: TriggerKind
    enabled: bool = True
    fired: bool
    value: Any = None
    threshold: Any = None
    detail: str = ""


class Decision(BaseModel):
    """The policy's verdict for one turn.

    - ``action``: ``escalate`` hands off now; ``offer_handoff`` asks the visitor whether they
      want a person; ``continue`` lets the AI answer.
    - ``escalate``: ``action == "escalate"``.
    - ``trigger``: the trigger (or ``rule``) that decided, ``None`` when continuing.
    - ``detail``: human-readable reason, e.g. ``"confidence 0.41 < threshold 0.70"``.
    - ``priority``: queue priority, higher first (0 normal).
    - ``team``: team to route to, if the trigger or rule names one.
    - ``evaluations``: every trigger's evaluation, in policy order.
    - ``policy_version``: the version of the policy that decided.
    - ``confidence``: the original confidence (0–1) of this turn's answer, ``None`` when the
      answerer failed; never a substitute value.
    - ``intent``: the best-matching operator intent, if one matched.
    - ``question``: False when the turn is not a question (see :func:`not_a_question`);
      the confidence-based triggers (kb_entry, unresolved_exchanges, low_confidence) then
      do not apply and report so, unfired.
    """

    action: Action
    trigger: TriggerKind | None = None
    detail: str = ""
    priority: int = 0
    team: str | None = None
    rule: str | None = None
    evaluations: list[TriggerEvaluation] = Field(default_factory=list)
    policy_version: int | None = None
    confidence: float | None = None
    intent: str | None = None
    question: bool = True

    @property
    def escalate(self) -> bool:
        """True when the conversation must be handed to a human now."""
        return self.action == "escalate"
