"""The cost of a turn (issue 14): group commit on the store thread, conversations kept in
memory, quick answerers run on the loop, deflate without per-connection zlib state."""

from __future__ import annotations

import asyncio
import contextlib
import resource
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from websockets.asyncio.client import connect

from handoff_server.conversations import inline
from handoff_server.conversations.inline import InlineRunner
from handoff_server.conversations.memory import ConversationMemory
from handoff_server.protocol import SAck, SEvent
from handoff_server.store import AsyncStore, ConversationRecord, NewEvent, SQLiteStore, utcnow
from tests.helpers import ANSWERED_QUESTIONS, say, start_visitor


class CountingStore(SQLiteStore):
    """A SQLite store counting its group commits."""

    groups = 0

    @contextlib.contextmanager
    def group(self) -> Iterator[None]:
        self.groups += 1
        with super().group():
            yield


def _ev(**fields: Any) -> NewEvent:
    """An event of a real kind (the memory parses events into their wire form)."""
    return NewEvent(kind="system_message", data={"text": "hello"}, **fields)


def _record(cid: str) -> ConversationRecord:
    now = utcnow()
    return ConversationRecord(
        id=cid, status="ai", resume_token_hash="x", created_at=now, updated_at=now
    )


async def test_writes_waiting_together_share_one_commit_and_each_gets_its_own_result(
    tmp_path: Path,
) -> None:
    db = CountingStore(tmp_path)
    store = AsyncStore(db)
    try:
        ids = [f"c{i}" for i in range(40)]
        await asyncio.gather(
            *(store.call(db.create_conversation, _record(c), [NewEvent(kind="x")]) for c in ids)
        )
        results = await asyncio.gather(
            *(
                store.call(
                    db.append_events,
                    c,
                    [NewEvent(kind="visitor_message", client_msg_id="m", sender="visitor")],
                    {},
                )
                for c in ids
            )
        )
        assert [r[0].seq for r in results] == [2] * 40
        assert 1 <= db.groups < 40  # batched: fewer commits than writes
    finally:
        await store.close()
    check = sqlite3.connect(tmp_path / "handoff.sqlite3")
    assert check.execute("SELECT count(*) FROM events").fetchone()[0] == 80


async def test_a_failing_write_in_a_batch_is_undone_alone(tmp_path: Path) -> None:
    db = SQLiteStore(tmp_path)
    store = AsyncStore(db)
    try:
        await store.call(db.create_conversation, _record("c"), [])
        dup = NewEvent(kind="visitor_message", client_msg_id="same", sender="visitor")
        outcomes = await asyncio.gather(
            store.call(db.append_events, "c", [dup], {}),
            store.call(db.append_events, "c", [dup], {}),  # the id repeats: refused
            store.call(db.append_events, "c", [NewEvent(kind="note")], {}),
            store.call(db.append_events, "nope", [NewEvent(kind="note")], {}),
            return_exceptions=True,
        )
        assert isinstance(outcomes[1], sqlite3.IntegrityError)
        assert isinstance(outcomes[3], KeyError)
        assert [e.seq for e in await store.call(db.events_after, "c", 0)] == [1, 2]
    finally:
        await store.close()


class FailingCommit(SQLiteStore):
    """A store whose group commit fails (a full disk, say)."""

    @contextlib.contextmanager
    def group(self) -> Iterator[None]:
        with super().group():
            yield
            raise sqlite3.OperationalError("database or disk is full")


async def test_when_the_group_commit_fails_no_call_of_the_batch_reports_success(
    tmp_path: Path,
) -> None:
    db = FailingCommit(tmp_path)
    store = AsyncStore(db)
    try:
        outcomes = await asyncio.gather(
            *(store.call(db.create_conversation, _record(f"c{i}"), []) for i in range(10)),
            return_exceptions=True,
        )
        # The first call may run alone (its own transaction, committed); every call
        # that ran in a failed group gets the commit's error.
        failed = [o for o in outcomes if isinstance(o, sqlite3.OperationalError)]
        assert failed, outcomes
        stored = SQLiteStore(tmp_path).list_conversations(["ai"])
        assert len(stored) == len(outcomes) - len(failed)
    finally:
        await store.close()


async def test_memory_keeps_recent_conversations_within_its_bounds(tmp_path: Path) -> None:
    db = SQLiteStore(tmp_path)
    store = AsyncStore(db)
    calls = 0
    real_call = store.call

    async def counted(fn: Any, *args: Any, **kwargs: Any) -> Any:
        nonlocal calls
        calls += 1
        return await real_call(fn, *args, **kwargs)

    store.call = counted  # type: ignore[method-assign]
    memory = ConversationMemory(store, max_conversations=3, max_events=10)
    try:
        for i in range(4):
            await memory.created(_record(f"c{i}"), [_ev(), _ev()])
        assert len(memory) == 3 and memory.events_kept == 6  # c0 went first
        before = calls
        entry = await memory.held("c3")
        conv, stored, _ = await memory.append(entry.record, [_ev()], {})
        assert calls == before + 1  # the append only: nothing re-read
        assert conv.last_seq == 3 and [e.seq for e in (await memory.held("c3")).stored] == [1, 2, 3]
        await memory.held("c0")  # read from the store again, kept again
        assert calls == before + 2 and len(memory) == 3
        long = await memory.held("c3")
        await memory.append(long.record, [_ev()] * 9, {})  # 12 events > 10
        assert "c3" not in memory and memory.events_kept <= 10
    finally:
        await store.close()


async def test_an_append_that_fails_drops_the_conversation_from_memory(tmp_path: Path) -> None:
    db = SQLiteStore(tmp_path)
    store = AsyncStore(db)
    memory = ConversationMemory(store)
    try:
        await memory.created(_record("c"), [_ev(client_msg_id="a", sender="visitor")])
        entry = await memory.held("c")
        with pytest.raises(sqlite3.IntegrityError):
            await memory.append(entry.record, [_ev(client_msg_id="a", sender="visitor")], {})
        assert len(memory) == 0
        again = await memory.held("c")
        assert [e.seq for e in again.stored] == [1]
    finally:
        await store.close()


@contextlib.contextmanager
def _store_calls(server: Any) -> Iterator[list[str]]:
    """The names of the store calls ``server`` makes inside the block, in order."""
    calls: list[str] = []
    real_call = server.store.call

    async def counted(fn: Any, *args: Any, **kwargs: Any) -> Any:
        calls.append(getattr(fn, "__name__", "?"))
        return await real_call(fn, *args, **kwargs)

    server.store.call = counted
    try:
        yield calls
    finally:
        server.store.call = real_call


async def test_a_turn_reads_nothing_back_from_the_store(server: Any) -> None:
    """A visitor turn with the AI before the runner's warm-up ends (the answer in a
    thread) costs two store calls (the message with the policy version in one batch, and
    the answer), not five reads and two writes."""
    conn, _ = await start_visitor(server.url, name="Ada")
    await say(conn, "how do I point my domain to your nameservers")
    with _store_calls(server) as calls:
        frames = await say(conn, "how do I point my domain to your nameservers please")
    assert frames[-1].event.kind == "ai_message"
    per_turn = {"append_events", "latest_policy_version", "get_conversation", "events_after"}
    per_turn |= {"event_for_client_msg", "_load", "latest_policy"}
    turn = sorted(c for c in calls if c in per_turn)  # not the periodic jobs' reads
    assert turn == ["append_events", "append_events", "latest_policy_version"], calls


def test_quick_work_runs_on_the_loop_after_the_warmup_and_slow_work_goes_back_to_a_thread() -> None:
    runner = InlineRunner(budget=0.05, warmup=2)  # generous: a loaded machine
    threads: list[bool] = []

    def where(seconds: float) -> bool:
        import threading

        time.sleep(seconds)
        return threading.current_thread() is threading.main_thread()

    async def go() -> None:
        for _ in range(4):
            threads.append(await runner.run(where, 0.0, 1.0))
        threads.append(await runner.run(where, 1.0, 5.0))  # slow: noticed after it ran
        threads.append(await runner.run(where, 0.0, 1.0))
        with pytest.raises(TimeoutError):  # in a thread again, so the timeout holds
            await runner.run(where, 1.0, 0.1)

    asyncio.run(go())
    assert threads == [False, False, False, True, True, False]


async def test_deflate_is_negotiated_without_context_takeover(server: Any) -> None:
    """Browsers offer permessage-deflate; the server accepts it without keeping zlib
    state between messages, so an idle connection holds none."""
    async with connect(server.url + "/v1/visitor", compression="deflate") as ws:
        (ext,) = ws.protocol.extensions
        assert ext.name == "permessage-deflate"
        assert ext.local_no_context_takeover and ext.remote_no_context_takeover  # type: ignore[attr-defined]


class _Where:
    """The demo engine (not streaming), noting whether each answer ran on the event
    loop's thread."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.on_loop: list[bool] = []

    def answer(self, question: str) -> Any:
        import threading

        self.on_loop.append(threading.current_thread() is threading.main_thread())
        return self.inner.answer(question)


async def test_a_quick_engine_answers_on_the_loop_behind_the_courtesy_layer(
    server_factory: Any, demo_answerer: Any
) -> None:
    """The server wraps every engine in the courtesy layer, which has
    ``answer_streaming``; a quick engine that does not stream still answers on the loop
    once warmed up (it went to a worker thread every turn: two thread switches and a
    fight for the GIL per turn)."""
    engine = _Where(demo_answerer)
    server = await server_factory(answerer=engine)
    conn, _ = await start_visitor(server.url, name="Ada")
    for question in ANSWERED_QUESTIONS:
        frames = await say(conn, question)
        assert frames[-1].event.kind == "ai_message", frames[-1]
    assert len(engine.on_loop) == len(ANSWERED_QUESTIONS)
    assert engine.on_loop[:3] == [False] * 3  # the warm-up, in a thread
    assert engine.on_loop[-1], engine.on_loop


def test_a_call_in_a_thread_is_timed_by_its_cpu_not_by_its_waits() -> None:
    """Under load the loop holds the GIL while a call runs in a thread, so the call's
    wall time there is mostly waiting (for the GIL, for a core); timed by the wall clock,
    a 1 ms answer never came back to the loop. Waiting in the thread costs the loop
    nothing: here the call sleeps (the GIL's hand-offs are not deterministic)."""
    runner = InlineRunner(budget=0.005, warmup=0)

    def waits(seconds: float) -> int:
        time.sleep(seconds)
        return sum(range(1000))  # a little CPU

    asyncio.run(runner.run(waits, 0.05, 5.0))
    assert runner.mean < runner.budget
    assert runner.inline


@pytest.mark.skipif(not hasattr(resource, "RUSAGE_THREAD"), reason="Linux's thread usage")
def test_a_call_on_the_loop_never_reads_the_threads_cpu_clock(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Reading the thread's CPU clock (``clock_gettime(CLOCK_THREAD_CPUTIME_ID)``) lets
    a busy machine's scheduler take the core away right then (more involuntary context
    switches). A call on the loop is timed by the wall clock and one ``getrusage``."""
    runner = InlineRunner(budget=0.05, warmup=0)
    runner.inline = True
    reads: list[float] = []
    clock = time.thread_time

    def counted() -> float:
        reads.append(clock())
        return reads[-1]

    monkeypatch.setattr(time, "thread_time", counted)

    async def go() -> None:
        for _ in range(5):
            await runner.run(sum, range(1000), 1.0)

    asyncio.run(go())
    assert runner.calls == 5 and runner.inline
    assert reads == []


@pytest.mark.skipif(not hasattr(resource, "RUSAGE_THREAD"), reason="Linux's thread usage")
def test_a_call_on_the_loop_counts_its_cpu_when_the_machine_took_its_core(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Preempted (an involuntary context switch meanwhile), a call's wall time is the
    machine's load, not its cost: it counts by its CPU time. Not preempted, its wall
    time is what it held the loop (here: a sleep), and it counts so."""
    usage = iter([(0.0, 0), (0.001, 1), (0.0, 0), (0.001, 0)])  # (cpu s, preemptions)
    monkeypatch.setattr(inline, "_usage", lambda: next(usage))
    runner = InlineRunner(budget=0.005, warmup=0)
    runner.inline = True

    asyncio.run(runner.run(time.sleep, 0.05, 1.0))  # preempted: 1 ms of CPU
    assert runner.mean == pytest.approx(0.001)
    assert runner.inline
    asyncio.run(runner.run(time.sleep, 0.05, 1.0))  # not preempted: 50 ms held
    assert runner.mean > 0.01
    assert not runner.inline


async def test_small_messages_go_uncompressed_to_a_client_offering_deflate(server: Any) -> None:
    """Compressing an ``ack`` (a zlib set-up, ~10 us) saves a few dozen bytes: small
    messages go plain, an AI answer compressed (RFC 7692: RSV1 marks compressed ones)."""
    from handoff_server.client import connect_visitor, new_client_msg_id
    from handoff_server.protocol import VisitorInfo, VMessage, VStart

    conn = await connect_visitor(server.url)
    (ext,) = conn.ws.protocol.extensions
    assert ext.name == "permessage-deflate"
    seen: list[tuple[int, bool]] = []
    decode = ext.decode

    def noted(frame: Any, **kwargs: Any) -> Any:
        out = decode(frame, **kwargs)
        seen.append((len(out.data), frame.rsv1))
        return out

    ext.decode = noted  # type: ignore[method-assign]
    await conn.send(VStart(type="start", visitor=VisitorInfo(name="Ada")))
    cmid = new_client_msg_id()
    text = "how do I point my domain to your nameservers"
    await conn.send(VMessage(type="message", client_msg_id=cmid, text=text))
    await conn.recv_until(lambda f: getattr(getattr(f, "event", None), "kind", "") == "ai_message")
    await conn.close()
    small = [rsv1 for size, rsv1 in seen if size < 512]
    large = [rsv1 for size, rsv1 in seen if size >= 512]
    assert small and not any(small), seen
    assert large and all(large), seen


async def test_the_ai_answer_is_stored_as_its_model_would_dump_it(demo_answerer: Any) -> None:
    """``ai_reply`` builds the stored JSON by hand (the model's round trip cost ~0.1 ms a
    turn): the same keys, order and values as ``AiMessageData(...).model_dump``, for an
    answer, an offer of a person and a courtesy reply."""
    import dataclasses
    import json

    from handoff_server.ai.courtesy_layer import with_courtesy
    from handoff_server.config import Settings
    from handoff_server.conversations import changes
    from handoff_server.conversations.turn import TurnInput, evaluate_turn
    from handoff_server.escalation import PriorTurn
    from handoff_server.protocol import (
        AiMessageData,
        CandidateInfo,
        DecisionInfo,
        TriggerEvaluationInfo,
    )

    policy = Settings().policy
    answerer = with_courtesy(demo_answerer)
    history = [PriorTurn(text="hello", confidence=0.9)]
    now = utcnow()
    questions = []
    for text in ["which incoming server should Thunderbird use", "thanks!"]:
        turn = await evaluate_turn(answerer, policy, TurnInput(text, history), timeout=None)
        questions.append(turn.question)
        offered = turn.decision.model_copy(update={"action": "offer_handoff"})
        for result in (turn, dataclasses.replace(turn, decision=offered)):
            answer, decision = result.answer, result.decision
            assert answer is not None
            offer = decision.action == "offer_handoff"
            expected = AiMessageData(
                text=answer.text + ("\n\n" + changes.OFFER if offer else ""),
                confidence=answer.confidence,
                threshold=result.threshold,
                entry_id=answer.entry_id,
                sources=answer.sources,
                candidates=[
                    CandidateInfo.model_validate(c.model_dump()) for c in answer.candidates
                ],
                analysis=answer.analysis,
                question=result.question,
                offer_handoff=offer,
                decision=DecisionInfo(
                    action=decision.action, trigger=decision.trigger, detail=decision.detail
                ),
                evaluations=[
                    TriggerEvaluationInfo.model_validate(e.model_dump(mode="json"))
                    for e in decision.evaluations
                ],
            ).model_dump(mode="json")
            (stored,) = changes.ai_reply(result, now).events
            assert json.dumps(stored.data) == json.dumps(expected)
            assert AiMessageData.model_validate(stored.data).model_dump(mode="json") == stored.data
    assert questions == [True, False]  # an answer, then a courtesy reply


async def test_after_a_crowded_batch_the_next_waits_for_more_calls(tmp_path: Path) -> None:
    """A commit delay under load: after a batch of ``GATHER_AFTER`` calls or more, a call
    coming within ``gather`` seconds of the next batch's first joins it (one commit for
    both); a lone writer's calls never wait."""
    from handoff_server.store_thread import GATHER_AFTER, StoreThread

    db = CountingStore(tmp_path)
    thread = StoreThread(db, gather=0.5)
    try:
        ids = [f"c{i}" for i in range(GATHER_AFTER)]
        for c in ids:
            await thread.submit(db.create_conversation, (_record(c), []), {})
        # Calls queued while the thread is busy make one crowded batch.
        busy = thread.submit(time.sleep, (0.05,), {})
        await asyncio.sleep(0.01)
        waiting = [thread.submit(db.get_conversation, (c,), {}) for c in ids]
        await asyncio.gather(busy, *waiting)
        crowded = db.groups
        assert thread._crowded
        note = ([NewEvent(kind="note")], {})
        first = thread.submit(db.append_events, ("c0", *note), {})
        await asyncio.sleep(0.1)  # well inside the 0.5 s the batch waits
        second = thread.submit(db.append_events, ("c1", *note), {})
        await asyncio.gather(first, second)
        assert db.groups == crowded + 1  # one batch, one commit, for both
        assert not thread._crowded
        started = time.perf_counter()
        await thread.submit(db.append_events, ("c2", *note), {})
        assert time.perf_counter() - started < 0.4  # after a lone batch: no wait
    finally:
        await asyncio.to_thread(thread.stop)


async def test_a_warm_turn_stores_the_message_and_the_answer_in_one_commit(server: Any) -> None:
    """Once the engine answers on the loop (after the runner's warm-up), a visitor turn
    with the AI is one store write: the message, the answer and the turn's row in one
    commit, one ``fsync``, not two. An ack still means stored, and the visitor still gets
    their message, its ack (the message's seq), then the answer, in that order; the turn's
    row names the message by its seq."""
    conn, welcome = await start_visitor(server.url, name="Ada")
    for question in ANSWERED_QUESTIONS[:4]:  # the runner's warm-up
        await say(conn, question)
    assert server.service.runner.inline
    messages = []
    with _store_calls(server) as calls:
        for question in ANSWERED_QUESTIONS[4:8]:
            frames = await say(conn, question)
            order = [
                f.event.kind if isinstance(f, SEvent) else type(f).__name__
                for f in frames
                if isinstance(f, SEvent | SAck)
            ]
            assert order == ["visitor_message", "SAck", "ai_message"], order
            message, ack, answer = (f for f in frames if isinstance(f, SEvent | SAck))
            assert isinstance(message, SEvent) and isinstance(ack, SAck)
            assert isinstance(answer, SEvent)
            assert ack.seq == message.event.seq and answer.event.seq == ack.seq + 1
            messages.append(message.event.seq)
    assert calls.count("append_events") == 4, calls
    rows = await server.store.call(server.store.store.turns_of_conversations, None, None)
    mine = [r.seq for r in rows if r.conversation_id == welcome.conversation_id]
    assert mine[-4:] == messages
