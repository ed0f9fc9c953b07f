"""The :class:`~handoff_server.store.Store` contract, method by method, on every backend:
SQLite always, PostgreSQL when ``HANDOFF_TEST_POSTGRES_URL`` is set (see conftest)."""

from __future__ import annotations

import threading
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from handoff_server.store import (
    AgentRecord,
    AiTurnRow,
    AtCapacity,
    ConversationRecord,
    EvalRun,
    NewEvent,
    OutboxRow,
    PolicyMeta,
    Store,
)
from tests.store.conftest import integrity_errors

T0 = datetime(2026, 3, 1, 12, 0, 0, 123456, tzinfo=UTC)


def conv(cid: str = "c1", at: datetime = T0, status: str = "ai") -> ConversationRecord:
    return ConversationRecord.model_validate(
        {
            "id": cid,
            "status": status,
            "resume_token_hash": "h" * 64,
            "created_at": at,
            "updated_at": at,
            "visitor": {"name": "Ada", "fields": {"plan": "pro"}},
            "page_url": "https://example.com/p",
        }
    )


def ev(kind: str = "visitor_message", at: datetime = T0, **kw: Any) -> NewEvent:
    return NewEvent(kind=kind, data={"text": "hi ✓", "n": [1, 2]}, at=at, **kw)


def outbox_row(row_id: str, endpoint: str = "https://h.example/x", at: datetime = T0) -> OutboxRow:
    return OutboxRow(
        id=row_id,
        endpoint=endpoint,
        event_type="conversation.escalated",
        payload={"id": row_id, "data": {"k": 1}},
        created_at=at,
        next_attempt_at=at,
    )


def turn(cid: str, seq: int, at: datetime = T0) -> AiTurnRow:
    return AiTurnRow(
        conversation_id=cid, seq=seq, at=at, text="how?", policy_version=1,
        action="continue", trigger=None, confidence=0.8, threshold=0.5, question=True,
        entry_id="e1", exchange=1, layout=1, ai_error=False, pressed=False, said_yes=False,
        courtesy=False, entry_escalate=True, topic_negated=False, answer_team=None,
        repeat=False, human_fired=False, human_about=False, sentiment=-0.25,
        history="[]", keywords='["a"]', intent=None,
    )  # fmt: skip


def agent(aid: str, at: datetime = T0, **kw: Any) -> AgentRecord:
    return AgentRecord.model_validate(
        {"id": aid, "name": aid.upper(), "role": "agent", "token_hash": f"t-{aid}",
         "created_at": at, **kw}
    )  # fmt: skip


# -- conversations and events ---------------------------------------------------------


def test_create_conversation_stores_first_events_from_seq_1(store: Store) -> None:
    stored = store.create_conversation(conv(), [ev("conversation_started"), ev()])
    assert [e.seq for e in stored] == [1, 2]
    got = store.get_conversation("c1")
    assert got is not None
    assert got.last_seq == 2
    assert got.visitor == {"name": "Ada", "fields": {"plan": "pro"}}
    assert got.created_at == T0 and got.created_at.tzinfo is not None
    assert store.events_after("c1", 0) == stored
    assert store.get_conversation("nope") is None


def test_create_conversation_twice_is_an_integrity_error(store: Store) -> None:
    store.create_conversation(conv(), [ev()])
    with pytest.raises(integrity_errors()):
        store.create_conversation(conv(), [ev()])
    assert len(store.events_after("c1", 0)) == 1


def test_append_events_continues_seq_and_applies_updates(store: Store) -> None:
    store.create_conversation(conv(), [ev("conversation_started")])
    later = T0 + timedelta(seconds=5)
    stored = store.append_events(
        "c1",
        [ev(at=later), ev("escalated", at=later, visible_to_visitor=False)],
        {"status": "queued", "team": "billing", "priority": 2, "trigger": {"kind": "risk"},
         "queued_at": later, "last_confidence": 0.25, "wait_estimate": {"seconds": 60},
         "fallback": None, "first_question": "why?"},
    )  # fmt: skip
    assert [e.seq for e in stored] == [2, 3]
    c = store.get_conversation("c1")
    assert c is not None
    assert (c.status, c.team, c.priority, c.last_seq) == ("queued", "billing", 2, 3)
    assert c.trigger == {"kind": "risk"} and c.wait_estimate == {"seconds": 60}
    assert c.queued_at == later and c.updated_at == later
    assert c.last_confidence == 0.25 and c.first_question == "why?" and c.fallback is None
    assert [e.seq for e in store.events_after("c1", 1)] == [2, 3]
    assert [e.seq for e in store.events_after("c1", 0, visitor_only=True)] == [1, 2]


def test_append_events_updates_alone_keep_seq(store: Store) -> None:
    store.create_conversation(conv(), [ev()])
    assert store.append_events("c1", [], {"assigned_agent_id": "a1"}) == []
    c = store.get_conversation("c1")
    assert c is not None and c.assigned_agent_id == "a1" and c.last_seq == 1


def test_append_events_refuses_unknown_conversation_and_column(store: Store) -> None:
    with pytest.raises(KeyError):
        store.append_events("missing", [ev()], {})
    store.create_conversation(conv(), [ev()])
    with pytest.raises(ValueError):
        store.append_events("c1", [ev()], {"nonsense": 1})  # type: ignore[typeddict-unknown-key]
    assert len(store.events_after("c1", 0)) == 1


def test_repeated_client_msg_id_writes_nothing(store: Store) -> None:
    store.create_conversation(conv(), [ev()])
    first = store.append_events("c1", [ev(client_msg_id="m1", sender="visitor")], {})
    with pytest.raises(integrity_errors()):
        store.append_events(
            "c1",
            [ev("ai_message"), ev(client_msg_id="m1", sender="visitor")],
            {"status": "queued"},
            outbox=[outbox_row("w1")],
            turns=[turn("c1", 3)],
        )
    c = store.get_conversation("c1")
    assert c is not None and c.status == "ai" and c.last_seq == 2
    assert store.list_outbox() == [] and store.turns_between(None, None) == []
    assert store.event_for_client_msg("c1", "visitor", "m1") == first[0]
    # the same id from another sender is another message
    other = store.append_events("c1", [ev(client_msg_id="m1", sender="agent-1")], {})
    assert other[0].seq == 3
    assert store.event_for_client_msg("c1", "agent-2", "m1") is None


def test_concurrent_appends_get_gapless_unique_seqs(store: Store) -> None:
    store.create_conversation(conv(), [ev()])
    errors: list[BaseException] = []

    def writer(n: int) -> None:
        try:
            for i in range(10):
                store.append_events("c1", [ev(client_msg_id=f"{n}-{i}", sender="visitor")], {})
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert [e.seq for e in store.events_after("c1", 0)] == list(range(1, 42))


ASSIGN_A1: Any = {"status": "assigned", "assigned_agent_id": "a1", "assigned_agent_name": "A1"}


def test_a_seated_change_past_the_agents_capacity_is_refused_whole(store: Store) -> None:
    store.create_agent(agent("a1"))
    for cid in ("c1", "c2", "c3"):
        store.create_conversation(conv(cid, status="queued"), [ev()])
    store.append_events("c1", [ev("claimed")], ASSIGN_A1, seat=("a1", 2))
    store.append_events("c2", [ev("claimed")], ASSIGN_A1, seat=("a1", 2))
    with pytest.raises(AtCapacity) as refused:
        store.append_events("c3", [ev("claimed")], ASSIGN_A1, seat=("a1", 2))
    assert (refused.value.held, refused.value.capacity) == (2, 2)
    after = store.get_conversation("c3")
    assert after is not None and (after.status, after.last_seq) == ("queued", 1)
    assert [e.seq for e in store.events_after("c3", 0)] == [1]
    # The conversation being changed is not counted against itself (a re-assignment).
    store.append_events("c2", [ev("note")], ASSIGN_A1, seat=("a1", 2))
    # Without a seat nothing is counted (the changes that do not assign).
    store.append_events("c3", [ev("note")], {})


def _claim_race(store: Store, aid: str, cids: list[str]) -> list[str]:
    """Assign each of ``cids`` to ``aid`` (capacity 1) from threads started together;
    each thread's outcome."""
    start = threading.Barrier(len(cids))
    outcomes: list[str] = []

    def claim(cid: str) -> None:
        start.wait()
        try:
            update: Any = {"status": "assigned", "assigned_agent_id": aid}
            store.append_events(cid, [ev("claimed")], update, seat=(aid, 1))
            outcomes.append("won")
        except AtCapacity:
            outcomes.append("at_capacity")

    threads = [threading.Thread(target=claim, args=(cid,)) for cid in cids]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return outcomes


def test_concurrent_seated_claims_of_one_agent_get_their_capacity_only(store: Store) -> None:
    """Two writers (two nodes' claims) assigning different conversations to an agent of
    capacity 1 at the same moment: exactly one is stored, every round."""
    for round_ in range(15):
        aid = f"ag{round_}"
        store.create_agent(agent(aid))
        cids = [f"r{round_}x", f"r{round_}y"]
        for cid in cids:
            store.create_conversation(conv(cid, status="queued"), [ev()])
        outcomes = _claim_race(store, aid, cids)
        assert sorted(outcomes) == ["at_capacity", "won"], (round_, outcomes)
        held = [c for c in store.list_conversations(["assigned"]) if c.assigned_agent_id == aid]
        assert len(held) == 1


def test_list_conversations_by_status_oldest_first(store: Store) -> None:
    store.create_conversation(conv("b", T0 + timedelta(seconds=1)), [ev()])
    store.create_conversation(conv("a", T0), [ev()])
    store.create_conversation(conv("q", T0, status="queued"), [ev()])
    assert [c.id for c in store.list_conversations(["ai"])] == ["a", "b"]
    assert [c.id for c in store.list_conversations(["ai", "queued"])] == ["a", "q", "b"]
    assert store.list_conversations(["resolved"]) == []


def test_handling_times_from_claim_to_end(store: Store) -> None:
    store.create_conversation(conv(), [ev()])
    store.append_events("c1", [], {"team": "billing"})
    store.append_events("c1", [ev("claimed", T0 + timedelta(seconds=10))], {})
    store.append_events("c1", [ev("resolved", T0 + timedelta(seconds=70))], {})
    store.create_conversation(conv("open"), [ev(), ev("claimed", T0)])
    assert store.handling_times(5) == [("billing", 60.0)]


# -- webhook outbox ---------------------------------------------------------------------


def test_outbox_is_written_with_its_events_and_walks_its_states(store: Store) -> None:
    store.create_conversation(conv(), [ev()])
    rows = [outbox_row("w1"), outbox_row("w1", "https://other.example/y"), outbox_row("w2")]
    store.append_events("c1", [ev("escalated")], {}, outbox=rows)
    assert [(r.id, r.endpoint) for r in store.list_outbox()] == [
        (r.id, r.endpoint) for r in sorted(rows, key=lambda r: (r.created_at, r.id))
    ]
    assert store.list_outbox()[0].payload == {"id": "w1", "data": {"k": 1}}
    assert len(store.due_outbox(T0, 10)) == 3
    assert store.due_outbox(T0 - timedelta(seconds=1), 10) == []
    assert len(store.due_outbox(T0, 2)) == 2
    later = T0 + timedelta(minutes=1)
    store.outbox_retry("w1", "https://h.example/x", 1, later, "timeout")
    store.outbox_delivered("w1", "https://other.example/y", 1)
    store.outbox_failed("w2", "https://h.example/x", 3, "410 gone")
    assert store.due_outbox(T0, 10) == []
    (retry,) = store.due_outbox(later, 10)
    assert (retry.attempts, retry.last_error, retry.next_attempt_at) == (1, "timeout", later)
    (failed,) = store.list_outbox(failed_only=True)
    assert (failed.id, failed.status, failed.attempts, failed.last_error) == (
        "w2", "failed", 3, "410 gone",
    )  # fmt: skip
    assert store.requeue_outbox("w2", later) == 1
    assert store.requeue_outbox("nope", later) == 0
    assert {(r.id, r.attempts, r.status) for r in store.due_outbox(later, 10)} == {
        ("w1", 1, "pending"), ("w2", 0, "pending"),
    }  # fmt: skip
    # w1's delivery to other.example was delivered: sent again only with delivered=True.
    assert store.requeue_outbox("w1", later) == 1
    assert store.requeue_outbox("w1", later, delivered=True) == 2


def conv_row(row_id: str, cid: str | None, at: datetime, endpoint: str = "https://h.example/x"):
    """A delivery about conversation ``cid`` (``None``: about none, a test event)."""
    data = {"conversation_id": cid} if cid is not None else {"message": "test"}
    return outbox_row(row_id, endpoint, at).model_copy(update={"payload": {"data": data}})


def test_outbox_claims_hold_each_conversation_whole_until_released_or_lapsed(
    store: Store,
) -> None:
    store.create_conversation(conv("c1"), [ev()])
    store.create_conversation(conv("c2"), [ev()])
    t = [T0 + timedelta(seconds=i) for i in range(4)]
    store.append_events("c1", [ev("escalated")], {}, outbox=[conv_row("w1", "c1", t[0])])
    store.append_events("c1", [ev("claimed")], {}, outbox=[conv_row("w2", "c1", t[1])])
    store.append_events("c2", [ev("escalated")], {}, outbox=[conv_row("w3", "c2", t[1])])
    now, until = t[2], t[2] + timedelta(minutes=1)
    assert [r.id for r in store.claim_outbox(now, 10, until)] == ["w1", "w2", "w3"]
    assert store.claim_outbox(now, 10, until) == [], "a claimed row was claimed again"
    # A new row of a conversation another claim holds waits for it: posted in order.
    store.append_events("c1", [ev("resolved")], {}, outbox=[conv_row("w4", "c1", t[3])])
    assert store.claim_outbox(t[3], 10, until) == []
    store.outbox_delivered("w1", "https://h.example/x", 1)
    assert store.claim_outbox(t[3], 10, until) == []
    store.outbox_delivered("w2", "https://h.example/x", 1)
    assert [r.id for r in store.claim_outbox(t[3], 10, until)] == ["w4"]
    store.release_outbox([("w3", "https://h.example/x")])
    assert [r.id for r in store.claim_outbox(t[3], 10, until)] == ["w3"]
    # A claimant that died: its claims lapse at ``until``.
    lapsed = until + timedelta(seconds=1)
    assert [r.id for r in store.claim_outbox(lapsed, 10, lapsed + timedelta(minutes=1))] == [
        "w3", "w4",
    ]  # fmt: skip
    # A retry ends the claim; the row waits for its time, and does not hold the others.
    later = lapsed + timedelta(minutes=5)
    store.outbox_retry("w3", "https://h.example/x", 1, later, "timeout")
    assert store.claim_outbox(lapsed, 10, later) == []
    assert [r.id for r in store.claim_outbox(later, 10, later)] == ["w3", "w4"]  # w4's lapsed


def test_outbox_claims_count_conversations_and_keep_other_rows_apart(store: Store) -> None:
    store.create_conversation(conv("c1"), [ev()])
    store.create_conversation(conv("c2"), [ev()])
    rows = [
        conv_row("a1", "c1", T0),
        conv_row("a1", "c1", T0, "https://other.example/y"),
        conv_row("a2", "c1", T0 + timedelta(seconds=1)),
        conv_row("b1", "c2", T0 + timedelta(seconds=2)),
        conv_row("t1", None, T0 + timedelta(seconds=3)),
        conv_row("t2", None, T0 + timedelta(seconds=4)),
    ]
    for r in rows:
        store.append_events("c1", [ev("escalated")], {}, outbox=[r])
    now, until = T0 + timedelta(seconds=10), T0 + timedelta(minutes=1)
    first = store.claim_outbox(now, 1, until)
    assert [(r.id, r.endpoint) for r in first] == [
        ("a1", "https://h.example/x"), ("a2", "https://h.example/x"),
    ], "one (endpoint, conversation) pair, whole"  # fmt: skip
    rest = store.claim_outbox(now, 10, until)
    assert sorted((r.id, r.endpoint) for r in rest) == sorted(
        [("a1", "https://other.example/y"), ("b1", "https://h.example/x"),
         ("t1", "https://h.example/x"), ("t2", "https://h.example/x")]
    )  # fmt: skip


def test_outbox_claims_racing_in_threads_take_each_row_once(store: Store) -> None:
    """Four claimants at once (on PostgreSQL: four pooled connections, the heads locked
    ``FOR UPDATE SKIP LOCKED``): every row is claimed once, and a conversation's rows
    by one claimant in their order."""
    n = 30
    for i in range(n):
        store.create_conversation(conv(f"c{i}"), [ev()])
        store.append_events(
            f"c{i}",
            [ev("escalated")],
            {},
            outbox=[conv_row(f"w{i}-{k}", f"c{i}", T0 + timedelta(seconds=k)) for k in range(3)],
        )
    now, until = T0 + timedelta(seconds=10), T0 + timedelta(minutes=1)
    claimed: list[tuple[int, list[str]]] = []
    lock = threading.Lock()
    start = threading.Barrier(4)

    def claimant(me: int) -> None:
        start.wait()
        while True:
            got = store.claim_outbox(now, 3, until)
            if not got:
                return
            with lock:
                claimed.append((me, [r.id for r in got]))
            for r in got:
                store.outbox_delivered(r.id, r.endpoint, 1)

    threads = [threading.Thread(target=claimant, args=(i,)) for i in range(4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(timeout=60)
    ids = [row_id for _, got in claimed for row_id in got]
    assert sorted(ids) == sorted(f"w{i}-{k}" for i in range(n) for k in range(3))
    assert len(ids) == len(set(ids)), "a row was claimed twice"
    for _, got in claimed:
        for i in range(n):
            mine = [x for x in got if x.startswith(f"w{i}-")]
            assert mine in ([], [f"w{i}-0", f"w{i}-1", f"w{i}-2"]), got


# -- agents -----------------------------------------------------------------------------


def test_agents(store: Store) -> None:
    store.create_agent(agent("b", T0 + timedelta(seconds=1), teams=["billing"], capacity=2))
    store.create_agent(agent("a"))
    with pytest.raises(integrity_errors()):
        store.create_agent(agent("a"))
    with pytest.raises(integrity_errors()):
        store.create_agent(agent("c").model_copy(update={"token_hash": "t-a"}))
    assert [a.id for a in store.list_agents()] == ["a", "b"]
    got = store.agent_by_token_hash("t-b")
    assert got is not None and got.teams == ["billing"] and got.capacity == 2
    assert got.created_at == T0 + timedelta(seconds=1)
    assert store.agent_by_token_hash("nope") is None
    updated = store.update_agent("a", ["sales", "tech"], 5)
    assert (updated.teams, updated.capacity) == (["sales", "tech"], 5)
    assert store.update_agent("a", [], None).capacity is None
    with pytest.raises(KeyError):
        store.update_agent("zz", [], None)


# -- policy -------------------------------------------------------------------------------


def test_policy_versions(store: Store) -> None:
    assert store.latest_policy() is None and store.latest_policy_version() == 0
    assert store.save_policy({"threshold": 0.5}, "config") == 1
    assert store.save_policy({"threshold": 0.6}, "sam") == 2
    latest = store.latest_policy()
    assert latest is not None and (latest.version, latest.author) == (2, "sam")
    assert latest.body == {"threshold": 0.6}
    assert [p.version for p in store.policy_history()] == [1, 2]
    meta = PolicyMeta(comment="roll", rolled_back_to=1, author_id="op1", client_msg_id="m1")
    applied = store.apply_policy({"threshold": 0.5}, "Olga", 2, meta)
    assert applied is not None
    assert (applied.version, applied.comment, applied.rolled_back_to) == (3, "roll", 1)
    assert store.apply_policy({"threshold": 0.9}, "Olga", 2, PolicyMeta()) is None
    assert store.latest_policy_version() == 3
    again = store.policy_for_client_msg("op1", "m1")
    assert again is not None and again.version == 3
    assert store.policy_for_client_msg("op1", "m2") is None


# -- operator tables and period queries ---------------------------------------------------


def test_turns_and_period_queries(store: Store) -> None:
    day2 = T0 + timedelta(days=1)
    store.create_conversation(conv("c1", T0), [ev()])
    store.create_conversation(conv("c2", day2), [ev()])
    store.append_events("c1", [ev("ai_message")], {}, turns=[turn("c1", 1, T0)])
    store.append_events("c2", [ev("resolved", day2)], {}, turns=[turn("c2", 1, day2)])
    rows = store.turns_between(None, None)
    assert [(r.conversation_id, r.seq) for r in rows] == [("c1", 1), ("c2", 1)]
    r = rows[0]
    assert replace(r, visitor_json="{}", page_url=None) == turn("c1", 1, T0)
    assert r.visitor == {"name": "Ada", "fields": {"plan": "pro"}}
    assert r.page_url == "https://example.com/p"
    assert r.entry_escalate is True and r.ai_error is False
    assert [x.conversation_id for x in store.turns_between(day2, None)] == ["c2"]
    assert [x.conversation_id for x in store.turns_of_conversations(None, day2)] == ["c1"]
    assert [c.id for c in store.conversations_between(T0, day2)] == ["c1"]
    assert [c.id for c in store.conversations_between(None, None)] == ["c1", "c2"]
    kinds = store.events_of_kinds(["resolved", "ai_message"], None, None)
    assert [(e.conversation_id, e.kind) for e in kinds] == [
        ("c1", "ai_message"),
        ("c2", "resolved"),
    ]
    assert store.events_of_kinds(["resolved"], None, day2) == []


def test_eval_runs(store: Store) -> None:
    assert store.latest_eval_run() is None
    store.save_eval_run(EvalRun(created_at=T0, engine="tfidf", kb="demo", samples=[(0.5, True)]))
    store.save_eval_run(
        EvalRun(created_at=T0, engine="default", kb="demo", samples=[(0.9, True), (0.1, False)])
    )
    run = store.latest_eval_run()
    assert run is not None and run.engine == "default"
    assert run.samples == [(0.9, True), (0.1, False)]


def test_writes_are_durable_across_reopen(backend: tuple[str, Any]) -> None:
    first = backend[1]()
    first.create_conversation(conv(), [ev()])
    first.append_events("c1", [ev(client_msg_id="m", sender="visitor")], {"status": "queued"})
    first.close()
    second = backend[1]()
    try:
        c = second.get_conversation("c1")
        assert c is not None and c.status == "queued" and c.last_seq == 2
        assert second.event_for_client_msg("c1", "visitor", "m") is not None
    finally:
        second.close()


# Event data as the server stores it: non-ASCII text, floats that need every digit,
# nesting, an empty string and list (no NUL: PostgreSQL's jsonb refuses it, and so does
# every client frame, tests/server/test_server_wire_hardening.py).
ODD_DATA: dict[str, Any] = {
    "text": 'naïve ✓ 中文 😀 "quoted" \\ back\nslash',
    "confidence": 0.1 + 0.2,
    "tiny": 5e-324,
    "n": [-0.0, 0, 1, 2**53 + 1, True, None],
    "nested": {"a": [{"b": ""}], "empty": []},
}


def test_event_data_reads_back_exactly_after_reopen(backend: tuple[str, Any]) -> None:
    first = backend[1]()
    first.create_conversation(conv(), [NewEvent(kind="visitor_message", data=ODD_DATA, at=T0)])
    stored = first.append_events("c1", [NewEvent(kind="ai_message", data=ODD_DATA, at=T0)], {})
    first.close()
    assert stored[0].data == ODD_DATA
    second = backend[1]()
    try:
        events = second.events_after("c1", 0)
        assert [e.data for e in events] == [ODD_DATA, ODD_DATA]
        assert repr(events[1].data["confidence"]) == repr(0.1 + 0.2)
    finally:
        second.close()


# -- schema --------------------------------------------------------------------------------


def test_both_backends_are_at_the_newest_schema_version(store: Store) -> None:
    """A SQLite migration needs its PostgreSQL twin under the same number."""
    from handoff_server.storage.pg_schema import PG_MIGRATIONS, PG_SCHEMA_VERSION
    from handoff_server.store import MIGRATIONS, SCHEMA_VERSION

    assert PG_SCHEMA_VERSION == SCHEMA_VERSION
    assert {v for v, _ in MIGRATIONS if v >= 4} <= {v for v, _ in PG_MIGRATIONS}
    assert store.schema_version() == SCHEMA_VERSION  # type: ignore[attr-defined]


# -- tokens, retention and erasure (issue 14) ------------------------------------------------


def test_token_expiry_and_revocation(store: Store) -> None:
    expires = T0 + timedelta(days=30)
    store.create_agent(agent("a", expires_at=expires))
    store.create_agent(agent("b"))
    got = store.agent_by_token_hash("t-a")
    assert got is not None and got.expires_at == expires and got.revoked_at is None
    revoked = store.revoke_agent("b", T0 + timedelta(hours=1))
    assert revoked.revoked_at == T0 + timedelta(hours=1) and revoked.expires_at is None
    again = store.revoke_agent("b", T0 + timedelta(hours=2))
    assert again.revoked_at == T0 + timedelta(hours=1)  # the first revocation is kept
    assert [a.revoked_at for a in store.list_agents()] == [None, T0 + timedelta(hours=1)]
    with pytest.raises(KeyError):
        store.revoke_agent("zz", T0)


def test_delete_agent(store: Store) -> None:
    """A token never handed out (``handoff token create`` could not write it) is
    deleted: it no longer signs in nor lists; an unknown id deletes nothing."""
    store.create_agent(agent("a"))
    store.create_agent(agent("b"))
    assert store.delete_agent("a") and not store.delete_agent("a")
    assert [a.id for a in store.list_agents()] == ["b"]
    assert store.agent_by_token_hash("t-a") is None


def _with_email(cid: str, email: str | None, at: datetime = T0) -> ConversationRecord:
    record = conv(cid, at)
    visitor = {"name": "Ada", "fields": {}, **({"email": email} if email else {})}
    return record.model_copy(update={"visitor": visitor})


def test_conversations_of_email(store: Store) -> None:
    store.create_conversation(_with_email("own", "Ada@Example.com"), [ev()])
    store.create_conversation(_with_email("task", None, T0 + timedelta(seconds=1)), [ev()])
    store.append_events(
        "task", [NewEvent(kind="callback_requested", data={"email": "ada@example.COM"}, at=T0)], {}
    )
    store.create_conversation(_with_email("other", "bob@example.com"), [ev()])
    store.create_conversation(_with_email("said", None), [ev()])  # in a message: not data
    store.append_events(
        "said", [NewEvent(kind="visitor_message", data={"email": "ada@example.com"}, at=T0)], {}
    )
    assert store.conversations_of_email(" ADA@example.com ") == ["own", "task"]
    assert store.conversations_of_email("nobody@example.com") == []


def test_conversations_of_email_folds_unicode_case(store: Store) -> None:
    """SQLite's ``lower()`` folds ASCII only (and PostgreSQL's follows the locale), so
    ``ödön.ü@example.com`` did not find a visitor stored as ``Ödön.Ü@Example.com``:
    erasure left their data. Both stores compare by ``email_key`` (case-folded, NFC)."""
    store.create_conversation(_with_email("own", "Ödön.Ü@Example.com"), [ev()])
    store.create_conversation(_with_email("task", None, T0 + timedelta(seconds=1)), [ev()])
    store.append_events(
        "task", [NewEvent(kind="offline_message", data={"email": "ÖDÖN.ü@example.com"}, at=T0)], {}
    )
    nfd = "o\u0308do\u0308n.u\u0308@example.com"  # ödön.ü decomposed
    store.create_conversation(_with_email("nfd", nfd, T0 + timedelta(seconds=2)), [ev()])
    store.create_conversation(_with_email("other", "odon.u@example.com"), [ev()])
    store.create_conversation(_with_email("strasse", "Straße@Example.com"), [ev()])
    assert store.conversations_of_email(" ödön.ü@example.com ") == ["own", "task", "nfd"]
    assert store.conversations_of_email("ÖDÖN.Ü@EXAMPLE.COM") == ["own", "task", "nfd"]
    assert store.conversations_of_email("STRASSE@example.com") == ["strasse"]
    assert store.conversations_of_email("odon.u@example.com") == ["other"]


def test_resolved_before_oldest_first_up_to_limit(store: Store) -> None:
    for i, status in enumerate(["resolved", "resolved", "ai", "resolved"]):
        at = T0 + timedelta(days=i)
        store.create_conversation(conv(f"c{i}", at, status), [ev(at=at)])
    assert store.resolved_before(T0 + timedelta(days=10), 10) == ["c0", "c1", "c3"]
    assert store.resolved_before(T0 + timedelta(days=10), 2) == ["c0", "c1"]
    assert store.resolved_before(T0 + timedelta(days=1), 10) == ["c0"]
    assert store.resolved_before(T0, 10) == []


def test_erase_conversations_deletes_everything_of_them(store: Store) -> None:
    for cid in ("gone", "kept"):
        store.create_conversation(conv(cid), [ev()])
        row = outbox_row(f"w-{cid}").model_copy(
            update={"payload": {"id": f"w-{cid}", "data": {"conversation_id": cid}}}
        )
        store.append_events(cid, [ev("ai_message")], {}, outbox=[row], turns=[turn(cid, 1)])
    would = store.erasure_counts(["gone", "missing"])
    assert would == {"events": 2, "ai_turns": 1, "webhook_outbox": 1, "conversations": 1}
    assert store.get_conversation("gone") is not None  # a count changes nothing
    assert len(store.list_outbox()) == 2 and len(store.events_after("gone", 0)) == 2
    counts = store.erase_conversations(["gone", "missing"])
    assert counts == would
    assert store.get_conversation("gone") is None and store.events_after("gone", 0) == []
    assert [t.conversation_id for t in store.turns_between(None, None)] == ["kept"]
    assert [r.id for r in store.list_outbox()] == ["w-kept"]
    assert len(store.events_after("kept", 0)) == 2
    assert store.erase_conversations([]) == {
        "events": 0, "ai_turns": 0, "webhook_outbox": 0, "conversations": 0
    }  # fmt: skip
    assert store.erasure_counts([]) == store.erase_conversations([])


def test_probe_write_leaves_nothing(store: Store) -> None:
    store.probe_write()
    store.probe_write()
    store.create_conversation(conv(), [ev()])
    assert store.get_conversation("c1") is not None


def test_conversations_present_names_those_still_stored(store: Store) -> None:
    """What the server's erasure watch asks: which of these ids are still stored."""
    for cid in ("kept", "gone"):
        store.create_conversation(conv(cid), [ev()])
    store.erase_conversations(["gone"])
    assert store.conversations_present(["kept", "gone", "never"]) == {"kept"}
    assert store.conversations_present([]) == set()
