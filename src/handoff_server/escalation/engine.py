"""Turn a :class:`TurnContext` into a :class:`Decision` under a :class:`Policy`.

``decide`` runs on every visitor turn, in two stages: reading the message with the
policy's matchers and classifiers (:func:`read_turn`; built once per policy object and
cached until the policy is garbage-collected, so a turn costs well under 2 ms), then
judging what was read (:func:`~handoff_server.escalation.judge.judge`). This module adds
to the judge's verdict the explanation of every trigger agents see. How triggers and
rules combine is described in :mod:`handoff_server.escalation.policy`.
"""

from __future__ import annotations

import threading
import weakref
from dataclasses import dataclass

from handoff_server.escalation.human import HumanRequestDetector, HumanRequestResult, detector_for
from handoff_server.escalation.intents import IntentMatch, IntentMatcher
from handoff_server.escalation.judge import (
    CONFIDENCE_TRIGGERS,
    Facts,
    Verdict,
    in_business_hours,
    judge,
    predicate,
)
from handoff_server.escalation.models import (
    Decision,
    TriggerEvaluation,
    TurnContext,
)
from handoff_server.escalation.numbers import compared, distinct
from handoff_server.escalation.policy import Comparison, Condition, Policy
from handoff_server.escalation.sentiment import SentimentResult, SentimentScorer, same_question
from handoff_server.escalation.signals import Reading, TurnSignals
from handoff_server.language.text import (
    FILLER_WORDS,
    PhraseMatch,
    PhraseMatcher,
    Token,
    negation_mask,
    stem,
    tokenize,
)

__all__ = [
    "CONFIDENCE_TRIGGERS",
    "compile_policy",
    "decide",
    "decide_turn",
    "in_business_hours",
    "read_turn",
    "turn_signals",
]

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
    return decide_turn(policy, ctx)[0]


def decide_turn(policy: Policy, ctx: TurnContext) -> tuple[Decision, TurnSignals]:
    """:func:`decide`, and the turn's signals: what the judging stage read, which a later
    replay judges again under another policy (see :mod:`.signals`)."""
    cp = compile_policy(policy)
    tokens = tokenize(ctx.text)
    earlier = [tokenize(turn.text) for turn in ctx.history[-HISTORY_LIMIT:]]
    reading = read_turn(cp, ctx.text, tokens, earlier)
    signals = turn_signals(ctx, reading, tokens, earlier)
    verdict = judge(policy, signals)
    return _decision(policy, ctx, signals, verdict), signals


def read_turn(
    cp: CompiledPolicy, text: str, tokens: list[Token], earlier: list[list[Token]]
) -> Reading:
    """What ``cp``'s matchers read in ``text`` (``tokens``: its :func:`tokenize`;
    ``earlier``: the tokens of up to 20 earlier visitor messages, oldest first). Every part
    is read, whatever the policy turns on."""
    return Reading(
        human=cp.human.detect(text),
        keywords=tuple(cp.keywords.find(text, tokens)),
        intent=cp.intents.best(text),
        mood=cp.sentiment.score(text, tokens, earlier),
    )


def turn_signals(
    ctx: TurnContext, reading: Reading, tokens: list[Token], earlier: list[list[Token]]
) -> TurnSignals:
    """The judging stage's input for the turn ``ctx`` (see :func:`read_turn` for
    ``tokens`` and ``earlier``)."""
    answer = ctx.answer
    history = ctx.history[-HISTORY_LIMIT:]
    past = []
    for i, turn in enumerate(history):
        last = i + 1 == len(history)
        next_text = ctx.text if last else history[i + 1].text
        next_tokens = tokens if last else earlier[i + 1]
        failed = bool(_not_helped.find(next_text, next_tokens)) or same_question(
            next_tokens, earlier[i]
        )
        past.append((turn.confidence, turn.resolved, failed))
    negated = False
    if answer is not None and answer.entry_escalate:
        title = next((c.title for c in answer.candidates if c.entry_id == answer.entry_id), None)
        negated = title is not None and _topic_negated(tokens, title)
    return TurnSignals(
        confidence=answer.confidence if answer is not None else None,
        ai_error=ctx.ai_error is not None,
        explicit=ctx.explicit_human_request,
        courtesy=answer is not None and answer.courtesy,
        entry_escalate=answer is not None and answer.entry_escalate,
        topic_negated=negated,
        answer_team=answer.team if answer is not None else None,
        exchanges=len(ctx.history) + 1,
        history=past,
        repeat=bool(history) and same_question(tokens, earlier[-1]),
        visitor=ctx.visitor,
        page_url=ctx.page_url,
        now=ctx.now,
        human_fired=reading.human.fired,
        human_about=reading.human.about_assistant,
        keywords=reading.keywords,
        intent=reading.intent,
        sentiment=reading.mood.score,
        reading=reading,
    )


def _decision(policy: Policy, ctx: TurnContext, s: TurnSignals, v: Verdict) -> Decision:
    """The verdict ``v`` with every trigger's evaluation and the deciding reason."""
    r, on = s.reading, v.fired
    assert r is not None
    evals = [
        _ai_error(ctx),
        _human_request(policy, ctx, r.human, "human_request" in on),
        _keyword(policy, list(r.keywords) if policy.keyword.enabled else []),
        _kb_entry(policy, ctx, s.topic_negated, "kb_entry" in on),
        _intent(policy, r.intent, "intent" in on),
        _sentiment(policy, r.mood, "sentiment" in on),
        _unresolved(policy, v.facts.unresolved, "unresolved_exchanges" in on),
        _low_confidence(policy, s.confidence, "low_confidence" in on),
    ]
    if v.not_question is not None:
        evals = [_not_applicable(e, v.not_question) for e in evals]
    by_kind = {e.trigger: e for e in evals}
    if v.basis == "forced":
        assert v.trigger is not None
        detail = by_kind[v.trigger].detail
    elif v.basis == "rule":
        assert v.rule is not None
        simple = v.rule.when.trigger
        detail = (
            by_kind[simple].detail
            if simple is not None
            else f"rule {v.rule.name!r}: {_explain(v.rule.when, v.facts)}"
        )
    else:
        detail = ABOUT_ASSISTANT_DETAIL if v.basis == "offer" else "no rule matched"
    return Decision(
        action=v.action,
        trigger=v.trigger,
        detail=detail,
        priority=v.priority,
        team=v.team,
        rule=v.rule.name if v.rule is not None else None,
        evaluations=evals,
        policy_version=policy.version,
        confidence=s.confidence,
        intent=v.facts.intent.category.name if v.facts.intent else None,
        question=v.not_question is None,
    )


def _not_applicable(e: TriggerEvaluation, reason: str) -> TriggerEvaluation:
    """``e`` unfired with ``reason`` and no value, if it reads the turn's confidence."""
    if e.trigger not in CONFIDENCE_TRIGGERS:
        return e
    return e.model_copy(update={"fired": False, "value": None, "detail": reason})


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
    policy: Policy, ctx: TurnContext, res: HumanRequestResult, fired: bool
) -> TriggerEvaluation:
    """The human_request evaluation (``res``: what the detector read; ``fired``: the
    verdict's)."""
    cfg = policy.human_request
    if ctx.explicit_human_request:
        return TriggerEvaluation(
            trigger="human_request",
            enabled=cfg.enabled,
            fired=fired,
            value=1.0,
            threshold=cfg.min_probability,
            detail="visitor pressed 'talk to a person'",
        )
    if not cfg.enabled:
        return TriggerEvaluation(
            trigger="human_request", enabled=False, fired=False, detail="disabled"
        )
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
    return TriggerEvaluation(
        trigger="human_request",
        fired=fired,
        value=p,
        threshold=cfg.min_probability,
        detail=detail,
    )


def _kb_entry(policy: Policy, ctx: TurnContext, negated: bool, fired: bool) -> TriggerEvaluation:
    """Whether the answer's top KB entry, marked ``escalate: true``, claims this turn.

    Only a confident match may: a low-confidence guess at "security incident" would give
    the agent a wrong reason and route to a wrong team (low_confidence hands such turns
    off honestly). Nor may an entry whose topic the visitor negates ("I don't want to
    cancel my account, just update my email" against "Cancelling services or closing your
    account"): see :func:`_topic_negated` (``negated``). ``fired``: the verdict's.
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
        fired=fired,
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


def _unresolved(policy: Policy, streak: int, fired: bool) -> TriggerEvaluation:
    n = policy.unresolved_exchanges.count
    on = policy.unresolved_exchanges.enabled
    return TriggerEvaluation(
        trigger="unresolved_exchanges",
        enabled=on,
        fired=fired,
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


def _intent(policy: Policy, match: IntentMatch | None, fired: bool) -> TriggerEvaluation:
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
        fired=fired,
        value=prob,
        threshold=c.min_probability,
        detail=detail,
    )


def _sentiment(policy: Policy, mood: SentimentResult, fired: bool) -> TriggerEvaluation:
    cfg = policy.sentiment
    score = round(mood.score, 4)
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


def _low_confidence(policy: Policy, conf: float | None, fired: bool) -> TriggerEvaluation:
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
        fired=fired,
        value=conf,
        threshold=t,
        detail=f"confidence {shown} {op} threshold {bound}",
    )


def _explain(cond: Condition, f: Facts) -> str:
    """Why ``cond`` holds (or not), with the measured values, for the decision's detail."""
    key = cond.key()
    if key in ("all", "any"):
        parts = [_explain(c, f) for c in (cond.all_ if key == "all" else cond.any_) or ()]
        if key == "any":
            held = [p for c, p in zip(cond.any_ or (), parts, strict=True) if predicate(c)(f)]
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
