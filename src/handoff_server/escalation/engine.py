"""Turn a :class:`TurnContext` into a :class:`Decision` under a :class:`Policy`.

``decide`` runs on every visitor turn. Matchers and classifiers are built once per policy
object (cached until the policy is garbage-collected), so a turn costs well under 2 ms.
How triggers and rules combine is described in :mod:`handoff_server.escalation.policy`.
"""

from __future__ import annotations

import fnmatch
import re
import threading
import weakref
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from typing import TypedDict
from zoneinfo import ZoneInfo

from handoff_server.escalation.human import HumanRequestDetector, detector_for
from handoff_server.escalation.intents import IntentMatch, IntentMatcher
from handoff_server.escalation.models import (
    Decision,
    TriggerEvaluation,
    TriggerKind,
    TurnContext,
    not_a_question,
)
from handoff_server.escalation.numbers import compared, distinct
from handoff_server.escalation.policy import BusinessHours, Comparison, Condition, Policy, Rule
from handoff_server.escalation.sentiment import SentimentResult, SentimentScorer, same_question
from handoff_server.language.text import (
    FILLER_WORDS,
    PhraseMatch,
    PhraseMatcher,
    Token,
    negation_mask,
    stem,
    tokenize,
)

__all__ = ["decide", "compile_policy", "in_business_hours"]

HISTORY_LIMIT = 20
"""Earlier turns looked at for repeats and unresolved streaks; older ones cannot change
a streak that a resolved turn or the limit already ends."""

NOT_HELPED_PHRASES: tuple[str, ...] = (
    "didn't help",
    "did not help",
    "doesn't help",
    "does not help",
    "not helpful",
    "not what i asked",
    "not what i meant",
    "wrong answer",
    "didn't answer",
    "doesn't answer",
    "still not working",
    "still doesn't work",
    "still broken",
    "still the same",
    "same problem",
    "that's not it",
    "didn't work",
    "did not work",
    "no luck",
    "not the answer",
    "that is wrong",
    "that's wrong",
)
"""What visitors say when the last answer did not resolve their need."""

_not_helped = PhraseMatcher(list(NOT_HELPED_PHRASES), max_gap=1)


@dataclass
class CompiledPolicy:
    """Everything :func:`decide` needs that is costly to build, for one policy object."""

    keywords: PhraseMatcher
    human: HumanRequestDetector
    sentiment: SentimentScorer
    intents: IntentMatcher
    url_patterns: dict[str, re.Pattern[str]] = field(default_factory=dict)


_compiled: dict[int, tuple[weakref.ref[Policy], CompiledPolicy]] = {}
_compile_lock = threading.Lock()


def compile_policy(policy: Policy) -> CompiledPolicy:
    """The precompiled matchers of ``policy``, built on first use and cached per object.

    Raises ``ValueError`` only for data that :class:`Policy` validation already refuses.
    """
    key = id(policy)
    hit = _compiled.get(key)
    if hit is not None and hit[0]() is policy:
        return hit[1]
    with _compile_lock:
        hit = _compiled.get(key)
        if hit is not None and hit[0]() is policy:
            return hit[1]
        built = CompiledPolicy(
            keywords=PhraseMatcher(policy.keyword.phrases, policy.keyword.max_gap),
            human=detector_for(
                tuple(policy.human_request.examples), policy.human_request.min_probability
            ),
            sentiment=SentimentScorer(tuple(policy.sentiment.phrases), policy.sentiment.lexicon),
            intents=IntentMatcher(policy.intent.categories),
        )

        def forget(_ref: weakref.ref[Policy]) -> None:
            _compiled.pop(key, None)

        _compiled[key] = (weakref.ref(policy, forget), built)
        return built


@dataclass
class _Facts:
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


class _Shared(TypedDict):
    """The fields every :class:`Decision` of one turn carries, whatever decided."""

    evaluations: list[TriggerEvaluation]
    policy_version: int | None
    confidence: float | None
    intent: str | None
    question: bool


ABOUT_ASSISTANT_DETAIL = (
    "the visitor asked whether they are talking to a person: the AI says it is an AI "
    "assistant and offers a person"
)


def decide(policy: Policy, ctx: TurnContext) -> Decision:
    """Evaluate every trigger on one visitor turn, then the rules; the first match decides.

    Returns a :class:`Decision` whose ``evaluations`` hold every trigger's value, threshold
    and result, in this order: ai_error, human_request, keyword, kb_entry, intent,
    sentiment, unresolved_exchanges, low_confidence. An answerer failure (``ai_error``) or
    an explicit "talk to a person" always escalates. When no rule matches and the visitor
    only asked whether they talk to a bot, the action is ``offer_handoff`` (trigger
    ``None``). Never raises on any valid context.
    """
    cp = compile_policy(policy)
    tokens = tokenize(ctx.text)
    earlier = [tokenize(turn.text) for turn in ctx.history[-HISTORY_LIMIT:]]
    conf = ctx.answer.confidence if ctx.answer is not None else None
    human, about_assistant = _human_request(policy, cp, ctx)
    keywords = cp.keywords.find(ctx.text, tokens) if policy.keyword.enabled else []
    intent = cp.intents.best(ctx.text)
    mood = cp.sentiment.score(ctx.text, tokens, earlier)
    unresolved = _unresolved_streak(policy, ctx, tokens, earlier)
    not_question = not_a_question(ctx, human.fired, policy.threshold)
    evals = [
        _ai_error(ctx),
        human,
        _keyword(policy, keywords),
        _kb_entry(policy, ctx, tokens),
        _intent(policy, intent),
        _sentiment(policy, mood),
        _unresolved(policy, unresolved),
        _low_confidence(policy, conf),
    ]
    if not_question is not None:
        evals = [_not_applicable(e, not_question) for e in evals]
    facts = _Facts(
        fired={e.trigger for e in evals if e.fired},
        confidence=conf,
        sentiment=mood.score,
        intent=intent if intent is not None and intent.matched else None,
        keywords=[m for m in keywords if not m.negated],
        exchanges=len(ctx.history) + 1,
        unresolved=unresolved,
        visitor=ctx.visitor,
        page_url=ctx.page_url,
        now=ctx.now,
        hours=policy.business_hours,
        keyword_team=_keyword_team(policy, keywords),
    )
    return _verdict(policy, ctx, facts, evals, about_assistant, question=not_question is None)


CONFIDENCE_TRIGGERS: frozenset[TriggerKind] = frozenset(
    {"kb_entry", "unresolved_exchanges", "low_confidence"}
)
"""Triggers that read the answer's confidence on the turn: on a turn that is not a
question (:func:`~handoff_server.escalation.models.not_a_question`) they do not apply."""


def _not_applicable(e: TriggerEvaluation, reason: str) -> TriggerEvaluation:
    """``e`` unfired with ``reason`` and no value, if it reads the turn's confidence."""
    if e.trigger not in CONFIDENCE_TRIGGERS:
        return e
    return e.model_copy(update={"fired": False, "value": None, "detail": reason})


def _verdict(
    policy: Policy,
    ctx: TurnContext,
    facts: _Facts,
    evals: list[TriggerEvaluation],
    about_assistant: bool,
    *,
    question: bool,
) -> Decision:
    """The rules' decision on the measured ``facts``; see :func:`decide`."""
    by_kind = {e.trigger: e for e in evals}
    common = _Shared(
        evaluations=evals,
        policy_version=policy.version,
        confidence=facts.confidence,
        intent=facts.intent.category.name if facts.intent else None,
        question=question,
    )
    rule = next((r for r in policy.rules if _holds(r.when, facts)), None)
    if ctx.ai_error is not None or ctx.explicit_human_request:
        return _forced(policy, ctx, rule, facts, by_kind, common)
    if rule is None:
        if about_assistant:
            return Decision(action="offer_handoff", detail=ABOUT_ASSISTANT_DETAIL, **common)
        return Decision(action="continue", detail="no rule matched", **common)
    decision = _from_rule(rule, facts, by_kind, common)
    if decision.escalate:
        decision.team = _team(rule, facts, ctx)
    return decision


def _forced(
    policy: Policy,
    ctx: TurnContext,
    rule: Rule | None,
    facts: _Facts,
    by_kind: dict[TriggerKind, TriggerEvaluation],
    common: _Shared,
) -> Decision:
    """The decision when the answerer failed or the visitor pressed "talk to a person":
    always escalate, with the priority and team of the first escalating rule that holds."""
    forced: TriggerKind = "ai_error" if ctx.ai_error is not None else "human_request"
    if rule is not None and rule.action == "escalate" and forced == "human_request":
        decision = _from_rule(rule, facts, by_kind, common)
        decision.team = _team(rule, facts, ctx)
        return decision
    escalating = next(
        (r for r in policy.rules if r.action == "escalate" and _holds(r.when, facts)), None
    )
    priority = escalating.priority if escalating else 0
    if forced == "ai_error":
        priority = max(priority, policy.ai_error_priority)
    return Decision(
        action="escalate",
        trigger=forced,
        detail=by_kind[forced].detail,
        priority=priority,
        team=_team(escalating, facts, ctx) if escalating else None,
        rule=escalating.name if escalating else None,
        **common,
    )


def _from_rule(
    rule: Rule, facts: _Facts, by_kind: dict[TriggerKind, TriggerEvaluation], common: _Shared
) -> Decision:
    simple = rule.when.trigger
    if simple is not None:
        trigger: TriggerKind = simple
        detail = by_kind[simple].detail
    else:
        trigger = "rule"
        detail = f"rule {rule.name!r}: {_explain(rule.when, facts)}"
    priority = rule.priority
    if simple == "intent" and facts.intent is not None:
        priority = max(priority, facts.intent.category.priority)
    if rule.action == "continue":
        return Decision(action="continue", detail=detail, rule=rule.name, **common)
    return Decision(
        action=rule.action,
        trigger=trigger,
        detail=detail,
        priority=priority if rule.action == "escalate" else 0,
        rule=rule.name,
        **common,
    )


def _team(rule: Rule | None, facts: _Facts, ctx: TurnContext) -> str | None:
    if rule is not None and rule.team:
        return rule.team
    if facts.keyword_team is not None:
        return facts.keyword_team
    if facts.intent is not None and facts.intent.category.team:
        return facts.intent.category.team
    if "kb_entry" in facts.fired and ctx.answer is not None:
        return ctx.answer.team
    return None


def _keyword_team(policy: Policy, matches: list[PhraseMatch]) -> str | None:
    for m in matches:
        team = None if m.negated else policy.keyword.team_for(m.phrase)
        if team is not None:
            return team
    return None


def _ai_error(ctx: TurnContext) -> TriggerEvaluation:
    failed = ctx.ai_error is not None
    return TriggerEvaluation(
        trigger="ai_error",
        fired=failed,
        value=ctx.ai_error,
        detail=f"answerer failed: {ctx.ai_error}" if failed else "answerer answered",
    )


def _quote(sentence: str | None, text: str) -> str:
    """`` in "…"`` naming the sentence that decided, when the message has more than one."""
    if sentence is None or sentence == text.strip():
        return ""
    short = sentence if len(sentence) <= 80 else sentence[:77] + "..."
    return f" in {short!r}"


def _human_request(
    policy: Policy, cp: CompiledPolicy, ctx: TurnContext
) -> tuple[TriggerEvaluation, bool]:
    """The human_request evaluation, and whether the visitor only asked about the assistant."""
    cfg = policy.human_request
    if ctx.explicit_human_request:
        return TriggerEvaluation(
            trigger="human_request",
            enabled=cfg.enabled,
            fired=True,
            value=1.0,
            threshold=cfg.min_probability,
            detail="visitor pressed 'talk to a person'",
        ), False
    if not cfg.enabled:
        return TriggerEvaluation(
            trigger="human_request", enabled=False, fired=False, detail="disabled"
        ), False
    res = cp.human.detect(ctx.text)
    p = round(res.probability, 4)
    where = _quote(res.sentence, ctx.text)
    if res.fired:
        how = (
            f"matched {res.pattern!r}"
            if res.pattern
            else "p={} >= {}".format(*compared(res.probability, ">=", cfg.min_probability))
        )
        detail = f"visitor asked for a person ({how}){where}"
    elif res.negated:
        detail = f"mention of a person is negated (p={p:.2f}){where}"
    elif res.about_assistant:
        detail = "a question about the assistant, not a request for a person"
    elif not res.known_words:
        detail = (
            f"no request for a person: no word the classifier knows (p={p:.2f} is only its prior)"
        )
    else:
        shown = compared(res.probability, "<", cfg.min_probability)
        detail = "no request for a person (p={} < {})".format(*shown)
    evaluation = TriggerEvaluation(
        trigger="human_request",
        fired=res.fired,
        value=p,
        threshold=cfg.min_probability,
        detail=detail,
    )
    return evaluation, res.about_assistant and not res.fired


def _kb_entry(policy: Policy, ctx: TurnContext, tokens: list[Token]) -> TriggerEvaluation:
    """Whether the answer's top KB entry, marked ``escalate: true``, claims this turn.

    Only a confident match may: a low-confidence guess at "security incident" would give
    the agent a wrong reason and route to a wrong team (low_confidence hands such turns
    off honestly). Nor may an entry whose topic the visitor negates ("I don't want to
    cancel my account, just update my email" against "Cancelling services or closing your
    account"): see :func:`_topic_negated`.
    """
    answer = ctx.answer
    on = policy.intent.enabled and policy.intent.kb_entry
    if answer is None or not answer.entry_escalate:
        return TriggerEvaluation(
            trigger="kb_entry",
            enabled=on,
            fired=False,
            value=answer.entry_id if answer is not None else None,
            detail="top KB entry does not require a human",
        )
    entry, conf = answer.entry_id, answer.confidence
    title = next((c.title for c in answer.candidates if c.entry_id == entry), None)
    sure = conf >= policy.threshold
    negated = title is not None and _topic_negated(tokens, title)
    if negated:
        detail = (
            f"KB entry {entry!r} is marked escalate: true, but the message negates its topic "
            f"({title!r})"
        )
    elif sure:
        detail = f"KB entry {entry!r} is marked escalate: true"
    else:
        shown, bound = compared(conf, "<", policy.threshold)
        detail = (
            f"KB entry {entry!r} is marked escalate: true, but confidence {shown} "
            f"< threshold {bound}: not sure it is the visitor's topic"
        )
    return TriggerEvaluation(
        trigger="kb_entry",
        enabled=on,
        fired=on and sure and not negated,
        value=entry,
        threshold=policy.threshold,
        detail=detail,
    )


TOPIC_WINDOW = 6
"""Tokens after a negation cue in which a title word counts as negated ("I don't want to
cancel my account": "account" is the fifth)."""

_TITLE_STOP = FILLER_WORDS | frozenset(
    stem(w)
    for w in """or and on in to for with how what you is are do does from by at it can set up
    get about when why who""".split()
)


def _topic_negated(tokens: list[Token], title: str) -> bool:
    """Whether the message mentions the entry's title words only in a negation's scope:
    at least one title word (besides stop words) appears, and every appearance is negated."""
    words = {t.key for t in tokenize(title)} - _TITLE_STOP
    mask = negation_mask(tokens, TOPIC_WINDOW)
    hits = [mask[i] for i, t in enumerate(tokens) if t.key in words]
    return bool(hits) and all(hits)


def _unresolved(policy: Policy, streak: int) -> TriggerEvaluation:
    n = policy.unresolved_exchanges.count
    on = policy.unresolved_exchanges.enabled
    return TriggerEvaluation(
        trigger="unresolved_exchanges",
        enabled=on,
        fired=on and streak >= n,
        value=streak,
        threshold=n,
        detail=f"{streak} unresolved AI turn(s) in a row {'>=' if streak >= n else '<'} {n}",
    )


def _keyword(policy: Policy, matches: list[PhraseMatch]) -> TriggerEvaluation:
    if not policy.keyword.enabled:
        return TriggerEvaluation(trigger="keyword", enabled=False, fired=False, detail="disabled")
    live = [m for m in matches if not m.negated]
    if live:
        m = live[0]
        return TriggerEvaluation(
            trigger="keyword",
            fired=True,
            value=m.text,
            threshold=m.phrase,
            detail=f"keyword {m.phrase!r} matched {m.text!r}",
        )
    if matches:
        m = matches[0]
        return TriggerEvaluation(
            trigger="keyword",
            fired=False,
            value=m.text,
            threshold=m.phrase,
            detail=f"keyword {m.phrase!r} matched {m.text!r} but is negated",
        )
    return TriggerEvaluation(trigger="keyword", fired=False, detail="no keyword matched")


def _intent(policy: Policy, match: IntentMatch | None) -> TriggerEvaluation:
    cfg = policy.intent
    if not cfg.enabled or not cfg.categories:
        why = "disabled" if not cfg.enabled else "no intents defined"
        return TriggerEvaluation(trigger="intent", enabled=cfg.enabled, fired=False, detail=why)
    if match is None:
        return TriggerEvaluation(
            trigger="intent", fired=False, value=0.0, detail="no intent resembles the message"
        )
    c = match.category
    prob = round(match.probability, 4)
    op = ">=" if match.matched else "<"
    shown, bound = compared(match.probability, op, c.min_probability)
    detail = f"intent {c.name!r} p={shown} {op} {bound} (closest example {match.example!r})"
    if match.matched and not c.escalate:
        detail += f"; routes to team {c.team!r} only"
    return TriggerEvaluation(
        trigger="intent",
        fired=match.matched and c.escalate,
        value=prob,
        threshold=c.min_probability,
        detail=detail,
    )


def _sentiment(policy: Policy, mood: SentimentResult) -> TriggerEvaluation:
    cfg = policy.sentiment
    score = round(mood.score, 4)
    fired = cfg.enabled and mood.score < cfg.threshold
    signals = f"; signals: {', '.join(mood.signals)}" if mood.signals else ""
    op = "<" if mood.score < cfg.threshold else ">="
    shown, bound = compared(mood.score, op, cfg.threshold)
    return TriggerEvaluation(
        trigger="sentiment",
        enabled=cfg.enabled,
        fired=fired,
        value=score,
        threshold=cfg.threshold,
        detail=f"sentiment {shown} {op} threshold {bound} (VADER {mood.compound:.2f}{signals})",
    )


def _low_confidence(policy: Policy, conf: float | None) -> TriggerEvaluation:
    on = policy.low_confidence.enabled
    t = policy.threshold
    if conf is None:
        return TriggerEvaluation(
            trigger="low_confidence",
            enabled=on,
            fired=False,
            threshold=t,
            detail="no answer to score",
        )
    low = conf < t
    op = "<" if low else ">="
    shown, bound = compared(conf, op, t)
    return TriggerEvaluation(
        trigger="low_confidence",
        enabled=on,
        fired=on and low,
        value=conf,
        threshold=t,
        detail=f"confidence {shown} {op} threshold {bound}",
    )


def _unresolved_streak(
    policy: Policy, ctx: TurnContext, tokens: list[Token], earlier: list[list[Token]]
) -> int:
    """AI turns in a row, ending now, that did not resolve (see ``UnresolvedTrigger``)."""
    t = policy.threshold
    history = ctx.history[-HISTORY_LIMIT:]
    now_conf = ctx.answer.confidence if ctx.answer is not None else None
    repeat = bool(history) and same_question(tokens, earlier[-1])
    streak = (
        1 if (ctx.ai_error is not None or repeat or (now_conf is not None and now_conf < t)) else 0
    )
    for i in range(len(history) - 1, -1, -1):
        turn = history[i]
        if turn.resolved is True:
            break
        next_text = history[i + 1].text if i + 1 < len(history) else ctx.text
        next_tokens = earlier[i + 1] if i + 1 < len(history) else tokens
        failed = (
            turn.resolved is False
            or (turn.confidence is not None and turn.confidence < t)
            or bool(_not_helped.find(next_text, next_tokens))
            or same_question(next_tokens, earlier[i])
        )
        if not failed:
            break
        streak += 1
    return streak


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


def _compare(c: Comparison, x: float | None) -> bool:
    if x is None:
        return False
    checks = (
        (c.lt, lambda b: x < b),
        (c.le, lambda b: x <= b),
        (c.gt, lambda b: x > b),
        (c.ge, lambda b: x >= b),
        (c.eq, lambda b: x == b),
        (c.ne, lambda b: x != b),
    )
    return all(check(bound) for bound, check in checks if bound is not None)


@lru_cache(maxsize=256)
def _rx(pattern: str, flags: int = 0) -> re.Pattern[str]:
    return re.compile(pattern, flags)


def _holds(cond: Condition, f: _Facts) -> bool:
    key = cond.key()
    if key == "all":
        return all(_holds(c, f) for c in cond.all_ or ())
    if key == "any":
        return any(_holds(c, f) for c in cond.any_ or ())
    if key == "not" and cond.not_ is not None:
        return not _holds(cond.not_, f)
    if key == "trigger":
        return cond.trigger in f.fired
    if key == "confidence" and cond.confidence is not None:
        return _compare(cond.confidence, f.confidence)
    if key == "sentiment" and cond.sentiment is not None:
        return _compare(cond.sentiment, f.sentiment)
    if key == "exchanges" and cond.exchanges is not None:
        return _compare(cond.exchanges, f.exchanges)
    if key == "unresolved" and cond.unresolved is not None:
        return _compare(cond.unresolved, f.unresolved)
    if key == "intent":
        return f.intent is not None and f.intent.category.name in (cond.intent or ())
    if key == "keyword":
        if cond.keyword == "*":
            return bool(f.keywords)
        return any(m.phrase.casefold() == (cond.keyword or "").casefold() for m in f.keywords)
    if key == "visitor":
        return _visitor_holds(cond, f.visitor)
    if key == "page_url":
        url = cond.page_url
        if f.page_url is None or url is None:
            return False
        if url.glob is not None:
            return (
                _rx(fnmatch.translate(url.glob.casefold())).match(f.page_url.casefold()) is not None
            )
        return _rx(url.regex or "").search(f.page_url) is not None
    if key == "business_hours":
        return in_business_hours(f.hours, f.now) == cond.business_hours
    raise AssertionError(f"unhandled condition key {key}")


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
    return _rx(v.matches or "").search(value) is not None


def _explain(cond: Condition, f: _Facts) -> str:
    """Why ``cond`` holds (or not), with the measured values, for the decision's detail."""
    key = cond.key()
    if key in ("all", "any"):
        parts = [_explain(c, f) for c in (cond.all_ if key == "all" else cond.any_) or ()]
        if key == "any":
            held = [p for c, p in zip(cond.any_ or (), parts, strict=True) if _holds(c, f)]
            parts = held or parts
        return "(" + f" {'and' if key == 'all' else 'or'} ".join(parts) + ")"
    if key == "not":
        assert cond.not_ is not None
        return f"not {_explain(cond.not_, f)}"
    if key == "trigger":
        return f"{cond.trigger} {'fired' if cond.trigger in f.fired else 'did not fire'}"
    if key in ("confidence", "sentiment", "exchanges", "unresolved"):
        cmp: Comparison = getattr(cond, key)
        limits = cmp.model_dump(exclude_none=True)
        bounds = ", ".join(f"{op} {v:g}" for op, v in limits.items())
        value = getattr(f, key)
        shown = (
            "none"
            if value is None
            else distinct(value, limits.values())
            if isinstance(value, float)
            else str(value)
        )
        return f"{key} {shown} ({bounds})"
    if key == "intent":
        got = f.intent.category.name if f.intent else "none"
        return f"intent {got} (wanted {', '.join(cond.intent or ())})"
    if key == "keyword":
        got = ", ".join(repr(m.text) for m in f.keywords) or "none"
        return f"keyword {cond.keyword!r} (matched {got})"
    if key == "visitor":
        v = cond.visitor
        assert v is not None
        op, want = next(
            (k, x)
            for k, x in v.model_dump(by_alias=True, exclude_none=True).items()
            if k != "field"
        )
        return f"visitor {v.field} {f.visitor.get(v.field)!r} ({op} {want!r})"
    if key == "page_url":
        url = cond.page_url
        assert url is not None
        return f"page URL {f.page_url!r} ({'glob ' + repr(url.glob) if url.glob else 'regex ' + repr(url.regex)})"
    inside = in_business_hours(f.hours, f.now)
    return f"{'inside' if inside else 'outside'} business hours ({f.hours.timezone})"
