"""Turns that reach the answerer together are answered in one call (issue 14): the
batcher (:mod:`handoff_server.conversations.batching`) on a real loop with the demo KB's
engine, and a real server answering visitors who write at the same moment."""

from __future__ import annotations

import asyncio
import urllib.request
from collections.abc import Sequence
from typing import Any

import pytest

from handoff_server.ai.base import Answer, Answerer
from handoff_server.ai.courtesy_layer import CourtesyAnswerer
from handoff_server.conversations.batching import AnswerBatcher, Outcome
from handoff_server.conversations.inline import InlineRunner
from handoff_server.conversations.turn import batches
from handoff_server.errors import AnswererError
from tests.helpers import ANSWERED_QUESTIONS, say, start_visitor


class Batched:
    """A batch-answering engine over a real one: records each call's questions;
    ``answer_many`` fails (as a whole, as an engine would) on a question with "boom"."""

    def __init__(self, inner: Answerer) -> None:
        self.inner = inner
        self.calls: list[list[str]] = []

    def answer(self, question: str) -> Answer:
        self.calls.append([question])
        if "boom" in question:
            raise AnswererError("the engine broke on this question")
        return self.inner.answer(question)

    def answer_many(self, questions: Sequence[str]) -> list[Answer]:
        self.calls.append(list(questions))
        if any("boom" in q for q in questions):
            raise AnswererError("the engine broke on one question of the batch")
        return [self.inner.answer(q) for q in questions]


def _kept(outcome: Outcome) -> Outcome:
    """A continuation keeping the engine's outcome as it is."""
    return outcome


def _raised(outcome: Outcome) -> Answer:
    """A continuation raising what the engine raised."""
    if isinstance(outcome, Exception):
        raise outcome
    return outcome


def _on_loop() -> InlineRunner:
    """A runner already sending calls to the loop (past its warm-up)."""
    runner = InlineRunner(budget=0.05, warmup=0)
    runner.inline = True
    return runner


async def test_questions_asked_in_the_same_pass_are_answered_in_one_call(
    demo_answerer: Any,
) -> None:
    engine = Batched(demo_answerer)
    batcher = AnswerBatcher(_on_loop())
    questions = list(ANSWERED_QUESTIONS[:5])
    answers = await asyncio.gather(*(batcher.run(engine, q, 10.0, _raised) for q in questions))
    assert engine.calls == [questions]
    alone = [demo_answerer.answer(q) for q in questions]
    assert [a.entry_id for a in answers] == [a.entry_id for a in alone]
    assert [a.confidence for a in answers] == pytest.approx([a.confidence for a in alone])


async def test_a_batch_is_at_most_max_batch_questions(demo_answerer: Any) -> None:
    engine = Batched(demo_answerer)
    batcher = AnswerBatcher(_on_loop(), max_batch=4)
    questions = [ANSWERED_QUESTIONS[i % len(ANSWERED_QUESTIONS)] for i in range(10)]
    answers = await asyncio.gather(*(batcher.run(engine, q, 10.0, _raised) for q in questions))
    assert [len(c) for c in engine.calls] == [4, 4, 2]
    assert len(answers) == 10 and all(a.entry_id for a in answers)


async def test_a_question_that_breaks_the_engine_fails_only_its_own_turn(
    demo_answerer: Any,
) -> None:
    engine = Batched(demo_answerer)
    batcher = AnswerBatcher(_on_loop())
    questions = [ANSWERED_QUESTIONS[0], "boom: this one breaks it", ANSWERED_QUESTIONS[1]]
    results = await asyncio.gather(*(batcher.run(engine, q, 10.0, _kept) for q in questions))
    assert isinstance(results[1], AnswererError)
    assert isinstance(results[0], Answer) and isinstance(results[2], Answer)
    # The batch, then each question alone.
    assert engine.calls == [questions, *([q] for q in questions)]


class ShortBatch(Batched):
    """An engine breaking the batch contract: ``answer_many`` drops its last answer."""

    def answer_many(self, questions: Sequence[str]) -> list[Answer]:
        return super().answer_many(questions)[:-1]


async def test_a_batch_with_a_wrong_number_of_answers_is_answered_one_by_one(
    demo_answerer: Any,
) -> None:
    engine = ShortBatch(demo_answerer)
    batcher = AnswerBatcher(_on_loop())
    questions = list(ANSWERED_QUESTIONS[:3])
    answers = await asyncio.gather(*(batcher.run(engine, q, 10.0, _raised) for q in questions))
    assert engine.calls == [questions, *([q] for q in questions)]
    assert [a.entry_id for a in answers] == [demo_answerer.answer(q).entry_id for q in questions]


async def test_a_turn_cancelled_while_it_waits_is_not_answered(demo_answerer: Any) -> None:
    engine = Batched(demo_answerer)
    batcher = AnswerBatcher(_on_loop())
    keep = asyncio.ensure_future(batcher.run(engine, ANSWERED_QUESTIONS[0], 10.0, _raised))
    gone = asyncio.ensure_future(batcher.run(engine, ANSWERED_QUESTIONS[1], 10.0, _raised))
    await asyncio.sleep(0)  # both are waiting for the batch
    gone.cancel()
    answer = await keep
    assert answer.entry_id and gone.cancelled()
    assert engine.calls == [[ANSWERED_QUESTIONS[0]]]


async def test_while_the_runner_uses_a_thread_each_question_is_answered_alone(
    demo_answerer: Any,
) -> None:
    """The warm-up (and a slow engine) runs calls in a thread, one question each, with
    the timeout; no batch is gathered on the loop."""
    engine = Batched(demo_answerer)
    batcher = AnswerBatcher(InlineRunner(budget=0.05, warmup=10))
    questions = list(ANSWERED_QUESTIONS[:3])
    await asyncio.gather(*(batcher.run(engine, q, 10.0, _raised) for q in questions))
    assert sorted(engine.calls) == sorted([q] for q in questions)


async def test_each_turns_continuation_runs_in_the_same_pass_as_the_batch(
    demo_answerer: Any,
) -> None:
    """The decisions follow the batch at once, one after the other: every continuation
    has run before any waiting turn resumes."""
    engine = Batched(demo_answerer)
    batcher = AnswerBatcher(_on_loop())
    ran: list[str] = []
    resumed: list[int] = []

    async def turn(n: int, question: str) -> None:
        def then(outcome: Outcome) -> str:
            ran.append(question)
            resumed.append(len(ran))  # how many had run when this one ran
            return question

        assert await batcher.run(engine, question, 10.0, then) == question
        resumed.append(-len(ran))  # after resuming: all of them had run

    questions = list(ANSWERED_QUESTIONS[:4])
    await asyncio.gather(*(turn(n, q) for n, q in enumerate(questions)))
    assert ran == questions
    assert resumed[:4] == [1, 2, 3, 4] and resumed[4:] == [-4] * 4


async def test_a_continuation_that_raises_fails_only_its_own_turn(demo_answerer: Any) -> None:
    engine = Batched(demo_answerer)
    batcher = AnswerBatcher(_on_loop())

    def bad(outcome: Outcome) -> Outcome:
        raise ValueError("the policy broke")

    results = await asyncio.gather(
        batcher.run(engine, ANSWERED_QUESTIONS[0], 10.0, _kept),
        batcher.run(engine, ANSWERED_QUESTIONS[1], 10.0, bad),
        return_exceptions=True,
    )
    assert isinstance(results[0], Answer) and isinstance(results[1], ValueError)


def _batch_sizes(url: str) -> tuple[float, float]:
    """(batches, questions) answered so far, from the server's ``/metrics``."""
    http = url.replace("ws://", "http://").rstrip("/") + "/metrics"
    with urllib.request.urlopen(http, timeout=10) as resp:
        text = resp.read().decode()
    values = {}
    for line in text.splitlines():
        if line.startswith("handoff_answer_batch_size_"):
            name, value = line.rsplit(" ", 1)
            values[name] = float(value)
    return values["handoff_answer_batch_size_count"], values["handoff_answer_batch_size_sum"]


async def test_visitors_writing_together_get_the_answers_they_would_get_alone(
    server_factory: Any, demo_answerer: Any
) -> None:
    """Ten visitors write at the same moment, over and over: every turn is answered as
    the engine answers that question alone, and some turns shared a call."""
    engine = Batched(demo_answerer)
    server = await server_factory(answerer=engine)
    conns = [(await start_visitor(server.url, name=f"V{i}"))[0] for i in range(10)]
    for conn in conns:  # the runner's warm-up, in a thread
        await say(conn, ANSWERED_QUESTIONS[0])
    # The registry is the process's: count from here (the server runs in this process,
    # so /metrics is read from a thread).
    batches0, answered0 = await asyncio.to_thread(_batch_sizes, server.url)
    expected = {q: demo_answerer.answer(q).entry_id for q in ANSWERED_QUESTIONS}
    for round_ in range(5):
        questions = [ANSWERED_QUESTIONS[(round_ + i) % len(ANSWERED_QUESTIONS)] for i in range(10)]
        replies = await asyncio.gather(*(say(c, q) for c, q in zip(conns, questions, strict=True)))
        for question, frames in zip(questions, replies, strict=True):
            last = frames[-1].event
            assert last.kind == "ai_message", last
            assert last.data.sources == [expected[question]]
    batches, answered = await asyncio.to_thread(_batch_sizes, server.url)
    batches, answered = batches - batches0, answered - answered0
    assert answered == 50  # every turn after the warm-up, on the loop
    assert batches < answered, (batches, answered)  # some calls answered several turns
    assert max(len(c) for c in engine.calls) > 1


def test_only_an_engine_that_batches_beneath_the_courtesy_layer_is_batched(
    demo_answerer: Any,
) -> None:
    """The courtesy layer has ``answer_many`` whatever it wraps; behind it an engine
    without one (the ``llm`` engine) would answer a batch one question after another,
    each turn waiting for all before it: such turns are not batched."""

    class OneAtATime:
        def answer(self, question: str) -> Answer:
            return demo_answerer.answer(question)

    assert batches(CourtesyAnswerer(Batched(demo_answerer)))
    assert batches(Batched(demo_answerer))
    assert not batches(CourtesyAnswerer(OneAtATime()))
    assert not batches(OneAtATime())
