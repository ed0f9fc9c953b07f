"""Courtesy replies as a layer around an answerer, so no caller has to remember them.

:func:`~handoff_server.ai.factory.make_answerer` returns its engine wrapped in a
:class:`CourtesyAnswerer`: a message that is only a thanks, a hello or a goodbye (see
:func:`~handoff_server.ai.courtesy.courtesy_answer`) gets a short reply marked
``courtesy=True``; anything else goes to the engine. A visitor who pressed "talk to a
person" is not making small talk: :func:`without_courtesy` gives the engine beneath.
"""

from __future__ import annotations

from handoff_server.ai.base import Answer, Answerer, PartialText, StreamingAnswerer
from handoff_server.ai.courtesy import courtesy_answer

__all__ = ["CourtesyAnswerer", "with_courtesy", "without_courtesy"]


class CourtesyAnswerer:
    """An :class:`~handoff_server.ai.base.Answerer` that answers courtesy messages itself
    and every other message with ``inner``."""

    def __init__(self, inner: Answerer) -> None:
        self.inner = inner

    def answer(self, question: str) -> Answer:
        """A courtesy reply (confidence 1.0, ``courtesy=True``), else ``inner``'s answer
        (raising what it raises, e.g. :class:`~handoff_server.errors.AnswererError`)."""
        reply = courtesy_answer(question)
        if reply is not None:
            return reply.model_copy(update={"courtesy": True})
        return self.inner.answer(question)

    def answer_streaming(self, question: str, on_partial: PartialText) -> Answer:
        """As :meth:`answer`, streaming ``inner``'s answer when it can (a courtesy reply
        is never streamed)."""
        reply = courtesy_answer(question)
        if reply is not None:
            return reply.model_copy(update={"courtesy": True})
        if isinstance(self.inner, StreamingAnswerer):
            return self.inner.answer_streaming(question, on_partial)
        return self.inner.answer(question)


def with_courtesy(answerer: Answerer) -> Answerer:
    """``answerer`` with the courtesy layer (unchanged if it has one already)."""
    return answerer if isinstance(answerer, CourtesyAnswerer) else CourtesyAnswerer(answerer)


def without_courtesy(answerer: Answerer) -> Answerer:
    """The answerer beneath the courtesy layer (``answerer`` itself if it has none)."""
    return answerer.inner if isinstance(answerer, CourtesyAnswerer) else answerer
