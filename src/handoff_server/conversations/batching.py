"""Answer the visitor turns that reach the answerer together in one call: :class:`AnswerBatcher`.

Under load many conversations' turns resume in the same pass of the event loop (the
store thread hands back a whole group commit at once: the visitors' messages, stored).
Each turn asks for its answer; the batcher collects the questions asked of one engine in
that pass and answers them in the next with one
:meth:`~handoff_server.ai.base.BatchAnswerer.answer_many` call: the engine's per-call work
(encoding, the matrix products, the calibrator's trees) is done once for all of them, and
it runs back to back while its index is in the processor's caches, not between other
conversations' frames and store writes. Each turn's continuation (``then``: the
escalation decision on the answer) runs right after, in the same pass, one turn after the
other for the same reason. Measured: in the server a turn's answer cost ~2× and its
decision ~1.8× what they cost in a tight loop, their data pushed out of the caches by
the frames and writes of the other conversations between them (docs/benchmarks.md).
Nothing waits for a batch to fill: a lone turn is answered in the very next pass, as one
question; the batch is whatever arrived together (at most :data:`MAX_BATCH` questions).

Only for engines that are quick and run on the loop: while the
:class:`~handoff_server.conversations.inline.InlineRunner` sends calls to a thread (its
warm-up, a slow engine), each turn is answered alone there, as before. A batch that
fails (it raises, or breaks its contract with a wrong number of answers) is answered
again one question at a time, so a question that breaks the engine fails only its own
turn (an ``ai_error`` handoff), never its neighbours'.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from prometheus_client import Histogram

from handoff_server.ai.base import Answer, BatchAnswerer
from handoff_server.conversations.inline import InlineRunner
from handoff_server.errors import AnswererError
from handoff_server.metrics import REGISTRY

__all__ = ["MAX_BATCH", "AnswerBatcher", "Outcome"]

R = TypeVar("R")

log = logging.getLogger(__name__)

MAX_BATCH = 16
"""Most questions answered in one call: a batch runs on the event loop, so this bounds
the stall it can cause (16 × ~0.3 ms for the default engine, and their decisions)."""

BATCH_SIZE = Histogram(
    "handoff_answer_batch_size",
    "Questions answered in one call of the answerer (turns that reached it together)",
    buckets=(1, 2, 4, 8, 16),
    registry=REGISTRY,
)

Outcome = Answer | Exception
"""What the engine gave for one question: its answer, or what it raised
(``AnswererError``; ``TimeoutError`` for a call in a thread over its timeout)."""


@dataclass
class _Item(Generic[R]):
    question: str
    then: Callable[[Outcome], R]
    future: asyncio.Future[R]


class AnswerBatcher:
    """Gathers the questions asked of a :class:`~handoff_server.ai.base.BatchAnswerer` in
    one pass of the event loop and answers them with one call in the next, each followed
    by its turn's continuation.

    ``runner``: decides whether calls run on the loop (then they are batched) or in a
    thread (then one by one, with the timeout), and is told each question's share of a
    batch's cost, so a slow engine still leaves the loop."""

    def __init__(self, runner: InlineRunner, max_batch: int = MAX_BATCH) -> None:
        self.runner = runner
        self.max_batch = max_batch
        self._pending: dict[BatchAnswerer, list[_Item[Any]]] = {}

    async def run(
        self,
        answerer: BatchAnswerer,
        question: str,
        timeout: float | None,
        then: Callable[[Outcome], R],
    ) -> R:
        """``then(outcome)`` of ``answerer``'s answer to ``question`` (or of the exception
        it raised for it, or of ``TimeoutError`` when it ran alone in a thread for longer
        than ``timeout`` seconds; ``None``: no limit). Raises what ``then`` raises."""
        if not self.runner.inline:
            try:
                outcome: Outcome = await self.runner.run(answerer.answer, question, timeout)
            except Exception as exc:
                outcome = exc
            return then(outcome)
        loop = asyncio.get_running_loop()
        pending = self._pending.get(answerer)
        if pending is None or len(pending) >= self.max_batch:
            pending = self._pending[answerer] = []
            loop.call_soon(self._flush, answerer, pending)
        future: asyncio.Future[R] = loop.create_future()
        pending.append(_Item(question, then, future))
        return await future

    def _flush(self, answerer: BatchAnswerer, pending: list[_Item[Any]]) -> None:
        if self._pending.get(answerer) is pending:
            del self._pending[answerer]
        # A turn cancelled meanwhile (its visitor left) is not answered.
        live = [item for item in pending if not item.future.done()]
        if not live:
            return
        BATCH_SIZE.observe(len(live))
        for item, outcome in zip(live, self._outcomes(answerer, live), strict=True):
            try:
                item.future.set_result(item.then(outcome))
            except Exception as exc:
                item.future.set_exception(exc)

    def _outcomes(self, answerer: BatchAnswerer, live: list[_Item[Any]]) -> list[Outcome]:
        """Each question's answer, from one call; after a failed call, from one call
        per question, so a question that breaks the engine fails alone."""
        questions = [item.question for item in live]
        try:
            answers = self.runner.call_inline(answerer.answer_many, questions, len(live))
            if len(answers) != len(live):  # an engine breaking its contract
                raise AnswererError(f"answer_many gave {len(answers)} answers for {len(live)}")
        except Exception as exc:
            log.warning("a batch of %d questions failed (%s); answering each alone", len(live), exc)
            return [self._one(answerer, q) for q in questions]
        return list(answers)

    def _one(self, answerer: BatchAnswerer, question: str) -> Outcome:
        try:
            return self.runner.call_inline(answerer.answer, question)
        except Exception as exc:
            return exc
