"""The judging stage of a decision: what was read in a turn, against the policy.

:func:`judge` takes a turn's :class:`~handoff_server.escalation.signals.TurnSignals`
(what the matchers read, the answer's confidence, the history) and the policy's
thresholds and rules, and returns a :class:`Verdict`: which triggers fire, which rule
decides, the action, trigger, priority and team. It runs in microseconds and builds no
explanation; :func:`~handoff_server.escalation.engine.decide` adds the explanations to
make the :class:`~handoff_server.escalation.models.Decision` agents see, and the what-if
replay (:mod:`handoff_server.analytics.whatif`) calls :func:`judge` alone, so a replayed
turn is decided by the same code as a live one.

How triggers and rules combine is described in :mod:`handoff_server.escalation.policy`.
"""

from __future__ import annotations

import operator
import threading
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from typing import Literal
from zoneinfo import ZoneInfo

from handoff_server.escalation.intents import IntentMatch
from handoff_server.escalation.models import Action, TriggerKind, question_reason
from handoff_server.escalation.patterns import glob_pattern, pattern, searches, turn_budget
from handoff_server.escalation.policy import BusinessHours, Comparison, Condition, Policy, Rule
from handoff_server.escalation.signals import TurnSignals
from handoff_server.language.text import PhraseMatch

__all__ = ["CONFIDENCE_TRIGGERS", "Facts", "Verdict", "in_business_hours", "judge", "predicate"]

CONFIDENCE_TRIGGERS: frozenset[TriggerKind] = frozenset(
    {"kb_entry", "unresolved_exchanges", "low_confidence"}
)
"""Triggers that read the answer's confidence on the turn: on a turn that is not a
question (:func:`~handoff_server.escalation.models.not_a_question`) they do not apply."""


@dataclass(slots=True)
class Facts:
    """What rule conditions test, measured once per turn."""

    fired: set[TriggerKind]
    confidence: float | None
    sentiment: float
    intent: IntentMatch | None
    keywords: list[PhraseMatch]
    exchanges: int
    unresolved: int
    visitor: dict[str, str]
    page_url: str | None
    now: datetime
    hours: BusinessHours
    keyword_team: str | None = None
    """The team of the first matched keyword that names one (``keyword.teams``)."""


Basis = Literal["forced", "rule", "offer", "none"]
"""What decided: a forced escalation (the answerer failed, or the visitor pressed "talk to
a person"), a rule, the offer made to a visitor who asked whether they talk to a bot, or
nothing (no rule matched)."""


@dataclass(slots=True)
class Verdict:
    """The judged turn: ``action``, the deciding ``trigger`` (``None`` when continuing
    without a rule's trigger), queue ``priority`` and ``team`` (for ``escalate``), the
    ``rule`` that decided or named the routing, what decided (``basis``), every fired
    trigger, the ``question`` reason (``None``: the turn is a question) and the
    ``facts`` the rules saw."""

    action: Action
    trigger: TriggerKind | None
    priority: int
    team: str | None
    rule: Rule | None
    basis: Basis
    fired: set[TriggerKind]
    not_question: str | None
    facts: Facts

    @property
    def escalate(self) -> bool:
        """True when the conversation is handed to a human now."""
        return self.action == "escalate"


def judge(policy: Policy, s: TurnSignals) -> Verdict:
    """Decide the turn ``s`` under ``policy`` (see :mod:`handoff_server.escalation.policy`
    for the order of the steps). Never raises on valid signals. The policy's patterns
    searched in the visitor's text share one :func:`~.patterns.turn_budget`."""
    with turn_budget():
        return _judge(policy, s)


def _judge(policy: Policy, s: TurnSignals) -> Verdict:
    t = policy.threshold
    human, about = _human(policy, s)
    keywords = list(s.keywords) if policy.keyword.enabled else []
    not_question = question_reason(s.courtesy, human, s.explicit, s.confidence, t)
    streak = unresolved_streak(t, s)
    facts = Facts(
        fired=_fired(policy, s, human, keywords, streak, question=not_question is None),
        confidence=s.confidence,
        sentiment=s.sentiment,
        intent=s.intent if s.intent is not None and s.intent.matched else None,
        keywords=[m for m in keywords if not m.negated],
        exchanges=s.exchanges,
        unresolved=streak,
        visitor=s.visitor,
        page_url=s.page_url,
        now=s.now,
        hours=policy.business_hours,
        keyword_team=_keyword_team(policy, keywords),
    )
    return _verdict(policy, s, facts, about, not_question)


def _human(policy: Policy, s: TurnSignals) -> tuple[bool, bool]:
    """Whether human_request fires, and whether the visitor only asked about the assistant."""
    if s.explicit:
        return True, False
    if not policy.human_request.enabled:
        return False, False
    return s.human_fired, s.human_about and not s.human_fired


def _fired(
    policy: Policy,
    s: TurnSignals,
    human: bool,
    keywords: list[PhraseMatch],
    streak: int,
    *,
    question: bool,
) -> set[TriggerKind]:
    """The triggers that fire; on a turn that is not a question, none of
    :data:`CONFIDENCE_TRIGGERS`."""
    t, conf, cfg = policy.threshold, s.confidence, policy.intent
    intent = s.intent
    fired: set[TriggerKind] = set()
    if s.ai_error:
        fired.add("ai_error")
    if human:
        fired.add("human_request")
    if any(not m.negated for m in keywords):
        fired.add("keyword")
    if cfg.enabled and cfg.categories and intent is not None and intent.matched:
        if intent.category.escalate:
            fired.add("intent")
    if policy.sentiment.enabled and s.sentiment < policy.sentiment.threshold:
        fired.add("sentiment")
    if not question:
        return fired
    sure = conf is not None and conf >= t
    if cfg.enabled and cfg.kb_entry and s.entry_escalate and sure and not s.topic_negated:
        fired.add("kb_entry")
    unresolved = policy.unresolved_exchanges
    if unresolved.enabled and streak >= unresolved.count:
        fired.add("unresolved_exchanges")
    if policy.low_confidence.enabled and conf is not None and conf < t:
        fired.add("low_confidence")
    return fired


def unresolved_streak(threshold: float, s: TurnSignals) -> int:
    """AI turns in a row, ending now, that did not resolve (see ``UnresolvedTrigger``):
    this one when it failed, repeats the previous question or scores below
    ``threshold`` (0–1), then each earlier one that was marked unresolved, scored below
    the threshold, or was followed by a repeat or a "that didn't help"."""
    conf = s.confidence
    streak = 1 if (s.ai_error or s.repeat or (conf is not None and conf < threshold)) else 0
    for before, resolved, failed_next in reversed(s.history):
        if resolved is True:
            break
        failed = resolved is False or (before is not None and before < threshold) or failed_next
        if not failed:
            break
        streak += 1
    return streak


def _keyword_team(policy: Policy, matches: list[PhraseMatch]) -> str | None:
    for m in matches:
        team = None if m.negated else policy.keyword.team_for(m.phrase)
        if team is not None:
            return team
    return None


def _verdict(
    policy: Policy, s: TurnSignals, facts: Facts, about: bool, not_question: str | None
) -> Verdict:
    """The rules' decision on the measured ``facts``."""
    rules = compiled_rules(policy)
    rule = None
    for candidate, holds in rules:
        if holds(facts):
            rule = candidate
            break
    fired, nq = facts.fired, not_question
    if s.ai_error or s.explicit:
        forced: TriggerKind = "ai_error" if s.ai_error else "human_request"
        if rule is not None and rule.action == "escalate" and forced == "human_request":
            trigger, priority = _rule_trigger(rule, facts)
            team = _team(rule, facts, s)
            return Verdict("escalate", trigger, priority, team, rule, "rule", fired, nq, facts)
        escalating = next(
            (r for r, holds in rules if r.action == "escalate" and holds(facts)), None
        )
        priority = escalating.priority if escalating else 0
        if forced == "ai_error":
            priority = max(priority, policy.ai_error_priority)
        team = _team(escalating, facts, s) if escalating else None
        return Verdict("escalate", forced, priority, team, escalating, "forced", fired, nq, facts)
    if rule is None:
        if about:
            return Verdict("offer_handoff", None, 0, None, None, "offer", fired, nq, facts)
        return Verdict("continue", None, 0, None, None, "none", fired, nq, facts)
    if rule.action == "continue":
        return Verdict("continue", None, 0, None, rule, "rule", fired, nq, facts)
    trigger, priority = _rule_trigger(rule, facts)
    if rule.action == "escalate":
        team = _team(rule, facts, s)
        return Verdict("escalate", trigger, priority, team, rule, "rule", fired, nq, facts)
    return Verdict(rule.action, trigger, 0, None, rule, "rule", fired, nq, facts)


def _rule_trigger(rule: Rule, facts: Facts) -> tuple[TriggerKind, int]:
    """The trigger a rule reports (its single trigger, else ``rule``) and its priority
    (an intent rule takes the intent's priority when higher)."""
    simple = rule.when.trigger
    priority = rule.priority
    if simple == "intent" and facts.intent is not None:
        priority = max(priority, facts.intent.category.priority)
    return (simple if simple is not None else "rule"), priority


def _team(rule: Rule | None, facts: Facts, s: TurnSignals) -> str | None:
    if rule is not None and rule.team:
        return rule.team
    if facts.keyword_team is not None:
        return facts.keyword_team
    if facts.intent is not None and facts.intent.category.team:
        return facts.intent.category.team
    if "kb_entry" in facts.fired and s.confidence is not None:
        return s.answer_team
    return None


# --------------------------------------------------------------------------- conditions

Predicate = Callable[[Facts], bool]

_rules: dict[int, tuple[weakref.ref[Policy], list[tuple[Rule, Predicate]]]] = {}
_rules_lock = threading.Lock()


def compiled_rules(policy: Policy) -> list[tuple[Rule, Predicate]]:
    """``policy``'s rules, each with its condition as a predicate; built once per policy
    object (cached until it is garbage-collected)."""
    key = id(policy)
    hit = _rules.get(key)
    if hit is not None and hit[0]() is policy:
        return hit[1]
    with _rules_lock:
        built = [(r, predicate(r.when)) for r in policy.rules]

        def forget(_ref: weakref.ref[Policy]) -> None:
            _rules.pop(key, None)

        _rules[key] = (weakref.ref(policy, forget), built)
        return built


def predicate(cond: Condition) -> Predicate:
    """``cond`` as a function of the turn's :class:`Facts` (see ``Condition`` for what
    each key tests)."""
    key = cond.key()
    if key in ("all", "any"):
        parts = [predicate(c) for c in (cond.all_ if key == "all" else cond.any_) or ()]
        combine = all if key == "all" else any
        return lambda f: combine(p(f) for p in parts)
    if key == "not" and cond.not_ is not None:
        inner = predicate(cond.not_)
        return lambda f: not inner(f)
    if key in ("confidence", "sentiment", "exchanges", "unresolved"):
        test = _comparison(getattr(cond, key))
        return lambda f: test(getattr(f, key))
    return _leaf(cond, key)


def _leaf(cond: Condition, key: str) -> Predicate:
    if key == "trigger":
        trigger = cond.trigger
        return lambda f: trigger in f.fired
    if key == "intent":
        names = frozenset(cond.intent or ())
        return lambda f: f.intent is not None and f.intent.category.name in names
    if key == "keyword":
        wanted = (cond.keyword or "").casefold()
        if wanted == "*":
            return lambda f: bool(f.keywords)
        return lambda f: any(m.phrase.casefold() == wanted for m in f.keywords)
    if key == "visitor":
        return lambda f: _visitor_holds(cond, f.visitor)
    if key == "page_url":
        return _page_url(cond)
    if key == "business_hours":
        want = cond.business_hours
        return lambda f: in_business_hours(f.hours, f.now) == want
    raise AssertionError(f"unhandled condition key {key}")


_OPS = {
    "lt": operator.lt,
    "le": operator.le,
    "gt": operator.gt,
    "ge": operator.ge,
    "eq": operator.eq,
    "ne": operator.ne,
}


def _comparison(c: Comparison) -> Callable[[float | None], bool]:
    """Every bound of ``c`` must hold; a missing value (``None``) holds none."""
    bounds = [(_OPS[op], bound) for op, bound in c.model_dump(exclude_none=True).items()]
    return lambda x: x is not None and all(op(x, bound) for op, bound in bounds)


def _page_url(cond: Condition) -> Predicate:
    url = cond.page_url
    assert url is not None
    # The URL is the visitor's: every match is bounded in time (patterns.py).
    if url.glob is not None:
        glob = glob_pattern(url.glob)
        return lambda f: (
            f.page_url is not None and searches(glob, f.page_url.casefold(), whole=True)
        )
    rx = pattern(url.regex or "")
    return lambda f: f.page_url is not None and searches(rx, f.page_url)


def _visitor_holds(cond: Condition, visitor: dict[str, str]) -> bool:
    v = cond.visitor
    assert v is not None
    value = visitor.get(v.field)
    if v.exists is not None:
        return (value is not None) == v.exists
    if v.ne is not None:
        return value is None or value.casefold() != v.ne.casefold()
    if value is None:
        return False
    if v.eq is not None:
        return value.casefold() == v.eq.casefold()
    if v.in_ is not None:
        return value.casefold() in {x.casefold() for x in v.in_}
    if v.contains is not None:
        return v.contains.casefold() in value.casefold()
    return searches(pattern(v.matches or ""), value)


def in_business_hours(hours: BusinessHours, now: datetime) -> bool:
    """Whether ``now`` (aware, or naive meaning UTC) falls in ``hours`` in their time zone."""
    if now.tzinfo is None:
        now = now.replace(tzinfo=UTC)
    local = now.astimezone(_zone(hours.timezone))
    day = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")[local.weekday()]
    if local.date() in hours.holidays:
        return False
    t = local.time().replace(tzinfo=None)
    if hours.start <= hours.end:
        return day in hours.days and hours.start <= t < hours.end
    # Overnight shift: the part after midnight belongs to the previous day's shift.
    if t >= hours.start:
        return day in hours.days
    prev = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")[local.weekday()]
    return t < hours.end and prev in hours.days


@lru_cache(maxsize=64)
def _zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)
