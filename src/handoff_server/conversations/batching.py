"""Answer the visitor turns that reach the answerer together in one call: :class:`AnswerBatcher`.

Under load many conversations' turns resume in the same pass of the event loop (the
store thread hands back a whole group commit at once: the visitors' messages, stored).
Each turn asks for its answer; the batcher collects the questions asked of one engine in
that pass and answers them in the next with one
:meth:`~handoff_server.ai.base.BatchAnswerer.answer_many` call: the engine's per-call work
(encoding, the matrix products, the calibrator's trees) is done once for all of them, and
it runs back to back while its index is in the processor's caches, not between other
conversations' frames and store writes. Nothing waits for a batch to fill: a lone turn
is answered in the very next pass, as one question; the batch is whatever arrived
together (at most :data:`MAX_BATCH` questions).

Only for engines that are quick and run on the loop: while the
:class:`~handoff_server.conversations.inline.InlineRunner` sends calls to a thread (its
warm-up, a slow engine), each turn is answered alone there, as before. A batch that
fails is answered again one question at a time, so a question that breaks the engine
fails only its own turn (an ``ai_error`` handoff), never its neighbours'.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from prometheus_client import Histogram

from handoff_server.ai.base import Answer, BatchAnswerer
from handoff_server.conversations.inline import InlineRunner
from handoff_server.metrics import REGISTRY

__all__ = ["MAX_BATCH", "AnswerBatcher"]

MAX_BATCH = 16
"""Most questions answered in one call: a batch runs on the event loop, so this bounds
the stall it can cause (16 × ~0.3 ms for the default engine)."""

BATCH_SIZE = Histogram(
    "handoff_answer_batch_size",
    "Questions answered in one call of the answerer (turns that reached it together)",
    buckets=(1, 2, 4, 8, 16),
    registry=REGISTRY,
)

_Pending = list[tuple[str, "asyncio.Future[Answer]"]]


class AnswerBatcher:
    """Gathers the questions asked of a :class:`~handoff_server.ai.base.BatchAnswerer` in
    one pass of the event loop and answers them with one call in the next.

    ``runner``: decides whether calls run on the loop (then they are batched) or in a
    thread (then one by one, with the timeout), and is told each question's share of a
    batch's cost, so a slow engine still leaves the loop."""

    def __init__(self, runner: InlineRunner, max_batch: int = MAX_BATCH) -> None:
        self.runner = runner
        self.max_batch = max_batch
        self._pending: dict[BatchAnswerer, _Pending] = {}

    async def answer(self, answerer: BatchAnswerer, question: str, timeout: float | None) -> Answer:
        """``answerer``'s answer to ``question``; raises what the engine raises for it
        (``AnswererError``), and ``TimeoutError`` when it ran alone in a thread for
        longer than ``timeout`` seconds (``None``: no limit)."""
        if not self.runner.inline:
            return await self.runner.run(answerer.answer, question, timeout)
        loop = asyncio.get_running_loop()
        pending = self._pending.get(answerer)
        if pending is None or len(pending) >= self.max_batch:
            pending = self._pending[answerer] = []
            loop.call_soon(self._flush, answerer, pending)
        future: asyncio.Future[Answer] = loop.create_future()
        pending.append((question, future))
        return await future

    def _flush(self, answerer: BatchAnswerer, pending: _Pending) -> None:
        if self._pending.get(answerer) is pending:
            del self._pending[answerer]
        # A turn cancelled meanwhile (its visitor left) is not answered.
        live = [(q, f) for q, f in pending if not f.done()]
        if not live:
            return
        BATCH_SIZE.observe(len(live))
        questions = [q for q, _ in live]
        try:
            answers = self.runner.call_inline(answerer.answer_many, questions, len(live))
        except Exception:
            self._one_by_one(answerer, live)
            return
        _settle(live, answers)

    def _one_by_one(self, answerer: BatchAnswerer, live: _Pending) -> None:
        for question, future in live:
            try:
                answer = self.runner.call_inline(answerer.answer, question)
            except Exception as exc:
                future.set_exception(exc)
            else:
                future.set_result(answer)


def _settle(live: _Pending, answers: Sequence[Answer]) -> None:
    if len(answers) != len(live):  # an engine breaking its contract fails every turn
        error = RuntimeError(f"answer_many gave {len(answers)} answers for {len(live)}")
        for _, future in live:
            future.set_exception(error)
        return
    for (_, future), answer in zip(live, answers, strict=True):
        future.set_result(answer)
