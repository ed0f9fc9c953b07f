"""The answerer contract: question → :class:`Answer`.

An answerer never decides escalation; it reports what it found and how sure it is.
``confidence`` is the estimated probability (0–1) that ``entry_id`` is the right KB entry
for the question, calibrated on held-out examples (see :mod:`handoff_server.ai`).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field


class Candidate(BaseModel):
    """One KB entry the answerer considered.

    ``score`` is the engine's raw similarity or probability for this entry (0–1, higher is
    better); only the top candidate's calibrated value becomes ``Answer.confidence``.
    """

    model_config = ConfigDict(frozen=True)

    entry_id: str
    title: str
    score: float = Field(ge=0.0, le=1.0)


class Answer(BaseModel):
    """What the AI would say to a visitor, and why.

    - ``text``: the reply (the top entry's answer body), empty when nothing matched.
    - ``confidence``: probability 0–1 that the top entry is the right one.
    - ``entry_id``: the top KB entry, or ``None`` when the KB is empty.
    - ``sources``: KB entry ids the text was taken from.
    - ``candidates``: the top candidates, best first.
    - ``analysis``: one human-readable sentence on what the AI thinks the visitor wants.
    - ``entry_escalate``: the top entry is marked ``escalate: true`` in the KB.
    - ``team``: the top entry's owning team, if any.
    - ``courtesy``: the reply is to a thanks, hello or goodbye, not to a question (set by
      :class:`~handoff_server.ai.courtesy_layer.CourtesyAnswerer`).
    """

    text: str
    confidence: float = Field(ge=0.0, le=1.0)
    entry_id: str | None = None
    sources: list[str] = Field(default_factory=list)
    candidates: list[Candidate] = Field(default_factory=list)
    analysis: str = ""
    entry_escalate: bool = False
    team: str | None = None
    courtesy: bool = False


@runtime_checkable
class Answerer(Protocol):
    """Anything that turns a visitor question into an :class:`Answer`.

    ``answer`` is synchronous and CPU-bound; the server runs it in a worker thread with a
    timeout, or on the event loop while its calls stay quick by their CPU time
    (:class:`~handoff_server.conversations.inline.InlineRunner`). It raises
    :class:`~handoff_server.errors.AnswererError` on failure.
    """

    def answer(self, question: str) -> Answer: ...


PartialText = Callable[[str], None]
"""Called from the answering thread with the answer's visible text so far (provisional:
the final :class:`Answer` may differ, or the turn may fail)."""


@runtime_checkable
class StreamingAnswerer(Answerer, Protocol):
    """An answerer that can show its answer while it is written (the ``llm`` engine)."""

    def answer_streaming(self, question: str, on_partial: PartialText) -> Answer:
        """As :meth:`Answerer.answer`, calling ``on_partial`` as text is generated."""
        ...


@runtime_checkable
class BatchAnswerer(Answerer, Protocol):
    """An answerer that answers several questions in one call, for less than one call
    each: the server gathers the visitor turns that reach the answerer together (the
    same pass of its event loop) and answers them at once
    (:mod:`~handoff_server.conversations.batching`)."""

    def answer_many(self, questions: Sequence[str]) -> list[Answer]:
        """``[answer(q) for q in questions]``, computed together: the same entries, and
        confidences equal to :meth:`Answerer.answer`'s within 1e-6. Raises
        :class:`~handoff_server.errors.AnswererError` when any question fails (the
        caller then answers them one by one, so one bad question fails only its own
        turn)."""
        ...


@functools.lru_cache(maxsize=32)
def batches_class(kind: type) -> bool:
    """Whether instances of ``kind`` are :class:`BatchAnswerer` s, checked once per class
    (a runtime-checkable protocol's ``isinstance`` costs ~10 µs a call)."""
    return issubclass(kind, BatchAnswerer)
