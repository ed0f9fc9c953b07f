"""One AI turn, decided: :func:`evaluate_turn` runs the answerer and the policy.

It is the one function that turns a visitor's message into a decision. The server calls
it on every visitor turn of a conversation with the AI; ``handoff triage`` calls it on
one message; so the two cannot drift. Steps:

1. the answerer answers, in a worker thread, within ``timeout`` seconds (or, given an
   :class:`~.inline.InlineRunner`, on the event loop while its answers stay quick) (its courtesy
   layer replies to a thanks or a hello; an explicit request for a person skips that
   layer); a failure or a timeout is an ``ai_error``, never a low confidence;
2. :func:`~handoff_server.escalation.decide` weighs the answer, the history and the
   visitor against the policy; a policy that fails to evaluate escalates (``ai_error``);
3. the result says whether the message was a question the answer is about (not a
   courtesy turn, not a request for a person), which the agent's analysis relies on.

Also here, for the server: the history of earlier turns from a conversation's events,
and whether a message accepts the AI's offer of a person. Never here: storing or
publishing (the service), routing (:mod:`handoff_server.routing`).
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeGuard

from handoff_server import escalation
from handoff_server.ai.base import (
    Answer,
    Answerer,
    BatchAnswerer,
    PartialText,
    StreamingAnswerer,
    batches_class,
)
from handoff_server.ai.courtesy_layer import without_courtesy
from handoff_server.conversations.batching import AnswerBatcher, Outcome
from handoff_server.conversations.inline import InlineRunner
from handoff_server.errors import HandoffError
from handoff_server.escalation import Decision, Policy, PriorTurn, TurnContext, not_a_question
from handoff_server.protocol import (
    AiMessage,
    Escalated,
    Event,
    HandedBack,
    Reopened,
    VisitorMessage,
)
from handoff_server.store import utcnow

if TYPE_CHECKING:
    from handoff_server.escalation.signals import TurnSignals

__all__ = [
    "TurnInput",
    "TurnResult",
    "accepts_offer",
    "offers_person",
    "batches",
    "evaluate_turn",
    "flat_visitor",
    "fold_history",
    "history_from_events",
    "says_yes",
    "streams",
]

log = logging.getLogger(__name__)

_YES = {"yes", "y", "yes please", "yeah", "yep", "sure", "please", "ok", "okay", "yes!"}


@dataclass(frozen=True)
class TurnInput:
    """One visitor turn: ``text``, the earlier turns (oldest first; since the last
    handoff), whether the visitor pressed "talk to a person", their fields (flat
    ``name → value``) and the page they started on."""

    text: str
    history: list[PriorTurn] = field(default_factory=list)
    explicit_human: bool = False
    visitor: dict[str, str] = field(default_factory=dict)
    page_url: str | None = None


@dataclass(frozen=True)
class TurnResult:
    """A decided turn, not yet stored.

    ``answer`` is ``None`` when the answerer failed or timed out (``ai_error`` says why);
    ``threshold`` is the policy's (0–1); ``question`` is False for a courtesy turn and a
    turn that only asks for a person (the decision's, see
    :func:`~handoff_server.escalation.not_a_question`); ``signals`` are the decision's
    inputs, kept for replaying the turn under another policy (``None`` when the policy
    failed to evaluate)."""

    answer: Answer | None
    ai_error: str | None
    decision: Decision
    threshold: float
    question: bool
    signals: TurnSignals | None = None


async def evaluate_turn(
    answerer: Answerer,
    policy: Policy,
    turn: TurnInput,
    *,
    timeout: float | None,
    clock: Callable[[], datetime] = utcnow,
    on_partial: PartialText | None = None,
    runner: InlineRunner | None = None,
    batcher: AnswerBatcher | None = None,
) -> TurnResult:
    """Answer and decide one turn. ``timeout``: seconds the answerer may take (``None``:
    no limit). ``clock`` gives the turn's time (UTC), read once the answer is in.
    ``on_partial``: called from the answering thread with the answer's text so far when
    the answerer streams (:class:`~handoff_server.ai.base.StreamingAnswerer`).
    ``runner``: where a non-streaming answerer runs (``None``: always a worker thread).
    ``batcher``: answers an engine that answers several questions at once together with
    the other turns that reach it in the same pass of the loop, and decides each right
    after (it has its own runner; not for a streaming answer).
    Never raises for an answerer or policy failure: the turn then escalates."""
    engine = without_courtesy(answerer) if turn.explicit_human else answerer

    def finish(outcome: Outcome) -> TurnResult:
        return _finish(policy, turn, outcome, timeout, clock)

    if batcher is not None and not (on_partial is not None and streams(engine)):
        if batches(engine):
            return await batcher.run(engine, turn.text, timeout, finish)
    return finish(await _answer(engine, turn.text, timeout, on_partial, runner))


def _finish(
    policy: Policy,
    turn: TurnInput,
    outcome: Outcome,
    timeout: float | None,
    clock: Callable[[], datetime],
) -> TurnResult:
    """The decided turn, on the answerer's ``outcome`` for it (its answer, or what it
    raised: an ``ai_error``)."""
    if isinstance(outcome, Answer):
        answer, ai_error = outcome, None
    else:
        answer, ai_error = None, _failure(outcome, timeout)
    ctx = TurnContext(
        text=turn.text,
        answer=answer,
        ai_error=ai_error,
        history=turn.history,
        explicit_human_request=turn.explicit_human,
        visitor=turn.visitor,
        page_url=turn.page_url,
        now=clock(),
    )
    decision, signals = _decide(policy, ctx)
    return TurnResult(
        answer=answer,
        ai_error=ai_error,
        decision=decision,
        threshold=policy.threshold,
        question=decision.question,
        signals=signals,
    )


async def _answer(
    answerer: Answerer,
    text: str,
    timeout: float | None,
    on_partial: PartialText | None,
    runner: InlineRunner | None,
) -> Outcome:
    """The answerer's answer, or what it raised (``TimeoutError`` past ``timeout``)."""
    try:
        if on_partial is not None and streams(answerer):
            call = asyncio.to_thread(answerer.answer_streaming, text, on_partial)
            return await asyncio.wait_for(call, timeout)
        if runner is not None:
            return await runner.run(answerer.answer, text, timeout)
        return await asyncio.wait_for(asyncio.to_thread(answerer.answer, text), timeout)
    except Exception as exc:  # any engine failure escalates; never as low confidence
        return exc


INTERNAL_FAILURE = (
    "the AI engine failed on this question (an internal error; the server log has the details)"
)
"""The ``ai_error`` agents read when the answerer raised something other than a
:class:`~handoff_server.errors.HandoffError` (whose detail is written for people)."""


def _failure(exc: Exception, timeout: float | None) -> str:
    """The ``ai_error`` of a turn whose answerer raised ``exc``, a plain reason for the
    agent's handoff packet: the timeout, a :class:`~handoff_server.errors.HandoffError`'s
    detail (an :class:`~handoff_server.errors.AnswererError`'s, written for people), else
    :data:`INTERNAL_FAILURE`; never an exception's own text. Logged with its traceback
    (and its causes), unless it is the timeout."""
    if isinstance(exc, TimeoutError):
        return f"the answerer took longer than {timeout:g}s"
    log.error("answerer failed", exc_info=exc)
    return exc.detail if isinstance(exc, HandoffError) else INTERNAL_FAILURE


def streams(answerer: Answerer) -> TypeGuard[StreamingAnswerer]:
    """Whether ``answerer`` writes its answer as it goes (a
    :class:`~handoff_server.ai.base.StreamingAnswerer` beneath any courtesy layer: the
    layer has ``answer_streaming`` whatever it wraps, and a quick engine behind it runs
    on the loop, not in a thread; either way ``answerer`` has ``answer_streaming``).
    Checked once per engine class."""
    return _streams(type(without_courtesy(answerer)))


def batches(answerer: Answerer) -> TypeGuard[BatchAnswerer]:
    """Whether ``answerer`` answers several questions in one call for less than one call
    each: it is a :class:`~handoff_server.ai.base.BatchAnswerer` and so is the engine
    beneath any courtesy layer (the layer has ``answer_many`` whatever it wraps; behind
    it an engine without one, the ``llm`` engine, would answer a batch's questions one
    after the other in one call, each waiting for all before it). Checked once per
    engine class."""
    inner = without_courtesy(answerer)
    return batches_class(type(answerer)) and batches_class(type(inner))


@functools.lru_cache(maxsize=32)
def _streams(kind: type) -> bool:
    # A runtime-checkable protocol's isinstance costs ~10 us; an engine's class says it.
    return issubclass(kind, StreamingAnswerer)


def _decide(policy: Policy, ctx: TurnContext) -> tuple[Decision, TurnSignals | None]:
    try:
        # Through the package: the engine (scikit-learn) loads on the first turn, so the
        # CLI that imports this module stays quick to start.
        return escalation.decide_turn(policy, ctx)
    except Exception:
        log.exception("escalation policy failed")
        return Decision(
            action="escalate",
            trigger="ai_error",
            detail="policy evaluation failed (an internal error; the server log has the details)",
            question=not_a_question(ctx, False, policy.threshold) is None,
        ), None


def history_from_events(events: Sequence[Event]) -> list[PriorTurn]:
    """The earlier visitor turns of a conversation whose events (all of them, in order)
    end with the current turn's message: each with the AI's confidence on it, counting
    only since the last handoff (escalation, handback or reopening)."""
    turns: list[PriorTurn] = []
    for ev in events:
        fold_history(turns, ev)
    return turns[:-1]  # the current turn is not history


def fold_history(turns: list[PriorTurn], ev: Event) -> None:
    """Update ``turns`` (the visitor turns since the last handoff, the latest included)
    in place with the next event of the conversation: what :func:`history_from_events`
    does per event, so a caller holding a conversation's turns adds each new event in
    O(1) instead of reading the whole conversation again."""
    if isinstance(ev, VisitorMessage):
        turns.append(PriorTurn(text=ev.data.text))
    elif isinstance(ev, AiMessage) and turns:
        turns[-1] = turns[-1].model_copy(update={"confidence": ev.data.confidence})
    elif isinstance(ev, Escalated | HandedBack | Reopened) and turns:
        # A handoff ends the AI's run of exchanges; counting restarts after it.
        turns.clear()


def flat_visitor(visitor: dict[str, Any]) -> dict[str, str]:
    """A stored visitor (``name``, ``email``, ``page_url``, ``fields``) as the flat
    ``name → text`` the policy's visitor conditions read; unset values left out."""
    out = {k: v for k, v in visitor.items() if k != "fields" and v is not None}
    out.update(visitor.get("fields") or {})
    return {k: str(v) for k, v in out.items()}


def says_yes(text: str) -> bool:
    """Whether ``text`` is a plain yes ("yes", "sure", "ok", ...)."""
    return text.strip().lower().rstrip(".! ") in _YES


def offers_person(event: Event) -> bool:
    """Whether ``event`` is an AI answer offering the visitor a person."""
    return isinstance(event, AiMessage) and event.data.offer_handoff


def accepts_offer(text: str, offered: bool) -> bool:
    """Whether ``text`` accepts a person the AI offered; ``offered``: the conversation's
    last event before this message is such an offer (:func:`offers_person`)."""
    return offered and says_yes(text)
