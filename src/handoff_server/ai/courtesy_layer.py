"""Courtesy replies as a layer around an answerer, so no caller has to remember them.

:func:`~handoff_server.ai.factory.make_answerer` returns its engine wrapped in a
:class:`CourtesyAnswerer`: a message that is only a thanks, a hello or a goodbye, or only
asks whether the visitor talks to a bot (see
:func:`~handoff_server.ai.courtesy.courtesy_kind`), gets a short built-in reply marked
``courtesy=True``; anything else goes to the engine. A visitor who pressed "talk to a
person" is not making small talk: :func:`without_courtesy` gives the engine beneath.

**The team's KB wins.** A KB that answers a kind of small talk itself (CLINC150's
``greeting``, ``thank_you``, ``goodbye`` and ``are_you_a_bot`` intents, say) owns that
kind: such messages go to the engine, which answers them from the team's entry at the
entry's calibrated confidence, exactly as ``handoff eval`` scores them. A KB owns a kind
when one of its entries has at least :data:`OWNED_MIN_EXAMPLES` example questions of that
kind (one stray "thanks" among a billing entry's examples is not a small-talk entry).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from typing import cast

from handoff_server.ai.base import (
    Answer,
    Answerer,
    BatchAnswerer,
    PartialText,
    StreamingAnswerer,
    batches_class,
)
from handoff_server.ai.courtesy import courtesy_answer, courtesy_kind
from handoff_server.errors import AnswererError
from handoff_server.kb.models import KnowledgeBase

__all__ = [
    "OWNED_MIN_EXAMPLES",
    "CourtesyAnswerer",
    "kinds_owned_by",
    "with_courtesy",
    "without_courtesy",
]

OWNED_MIN_EXAMPLES = 2
"""Example questions of one small-talk kind an entry needs to own that kind."""


def kinds_owned_by(kb: KnowledgeBase | None) -> frozenset[str]:
    """The small-talk kinds (``identity``, ``thanks``, ``hello``, ``bye``) that an in-scope
    entry of ``kb`` answers itself: at least :data:`OWNED_MIN_EXAMPLES` of its example
    questions are of that kind. Empty for ``None`` (an answerer without a KB)."""
    if kb is None:
        return frozenset()
    owned: set[str] = set()
    for entry in kb.entries:
        if entry.out_of_scope:
            continue
        counts = Counter(k for k in map(courtesy_kind, entry.questions) if k is not None)
        owned.update(k for k, n in counts.items() if n >= OWNED_MIN_EXAMPLES)
    return frozenset(owned)


class CourtesyAnswerer:
    """An :class:`~handoff_server.ai.base.Answerer` that answers small talk itself and
    every other message with ``inner``. ``kb``: the KB ``inner`` answers from (default:
    ``inner.kb`` when it has one); the small-talk kinds it owns go to ``inner``."""

    def __init__(self, inner: Answerer, kb: KnowledgeBase | None = None) -> None:
        self.inner = inner
        self.owned = kinds_owned_by(kb if kb is not None else getattr(inner, "kb", None))

    def answer(self, question: str) -> Answer:
        """A courtesy reply (confidence 1.0, ``courtesy=True``) for small talk the KB does
        not own, else ``inner``'s answer (raising what it raises, e.g.
        :class:`~handoff_server.errors.AnswererError`)."""
        reply = self._courtesy(question)
        return reply if reply is not None else self.inner.answer(question)

    def answer_streaming(self, question: str, on_partial: PartialText) -> Answer:
        """As :meth:`answer`, streaming ``inner``'s answer when it can (a courtesy reply
        is never streamed)."""
        reply = self._courtesy(question)
        if reply is not None:
            return reply
        if isinstance(self.inner, StreamingAnswerer):
            return self.inner.answer_streaming(question, on_partial)
        return self.inner.answer(question)

    def answer_many(self, questions: Sequence[str]) -> list[Answer]:
        """:meth:`answer` of each question, in the order given: courtesy replies here,
        the rest in one ``inner.answer_many`` call when ``inner`` is a
        :class:`~handoff_server.ai.base.BatchAnswerer` (else ``inner.answer`` each).
        Raises what ``inner`` raises (e.g. :class:`~handoff_server.errors.AnswererError`),
        for the whole call."""
        replies = self.courtesy_replies(questions)
        todo = [q for q, r in zip(questions, replies, strict=True) if r is None]
        if not todo:
            answered: list[Answer] = []
        elif batches_class(type(self.inner)):
            answered = cast(BatchAnswerer, self.inner).answer_many(todo)
        else:
            answered = [self.inner.answer(q) for q in todo]
        if len(answered) != len(todo):
            raise AnswererError(f"{len(answered)} answers to {len(todo)} questions")
        rest = iter(answered)
        return [r if r is not None else next(rest) for r in replies]

    def courtesy_replies(self, questions: Iterable[str]) -> list[Answer | None]:
        """For each question, the built-in reply :meth:`answer` would give, or ``None``
        where the engine answers (what ``handoff eval`` scores through this layer)."""
        return [self._courtesy(q) for q in questions]

    def _courtesy(self, question: str) -> Answer | None:
        """The built-in reply (``courtesy=True``) for small talk the KB does not own."""
        kind = courtesy_kind(question)
        if kind is None or kind in self.owned:
            return None  # a question (most messages): no second look for small talk
        reply = courtesy_answer(question)
        return reply.model_copy(update={"courtesy": True}) if reply is not None else None


def with_courtesy(answerer: Answerer) -> Answerer:
    """``answerer`` with the courtesy layer (unchanged if it has one already)."""
    return answerer if isinstance(answerer, CourtesyAnswerer) else CourtesyAnswerer(answerer)


def without_courtesy(answerer: Answerer) -> Answerer:
    """The answerer beneath the courtesy layer (``answerer`` itself if it has none)."""
    return answerer.inner if isinstance(answerer, CourtesyAnswerer) else answerer
