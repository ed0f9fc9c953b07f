"""Several nodes on one PostgreSQL store and one NATS server (see conftest): replies
cross nodes, a visitor survives their node's SIGKILL, claims have one winner, and an AI
turn a dying node left is finished once by another."""

from __future__ import annotations

import asyncio
import signal
import time
import urllib.request
from typing import Any

from handoff_server.client import connect_visitor, new_client_msg_id
from handoff_server.protocol import (
    AClaim,
    AHandback,
    AReply,
    SAck,
    SError,
    SEvent,
    SWelcome,
    VMessage,
    VResume,
)
from tests.cluster.conftest import add_agent
from tests.cluster.node_proc import SLOW_WORD
from tests.helpers import agent, events, say, start_visitor, wait_ack


def http_url(ws_url: str, path: str) -> str:
    return ws_url.replace("ws://", "http://") + path


def readyz(ws_url: str) -> str:
    with urllib.request.urlopen(http_url(ws_url, "/readyz"), timeout=5) as resp:
        return str(resp.read().decode())


async def resume_all(url: str, cid: str, token: str) -> tuple[Any, list[Any]]:
    """Resume from seq 0 on ``url``; returns the connection and every replayed event."""
    conn = await connect_visitor(url)
    await conn.send(VResume(type="resume", conversation_id=cid, resume_token=token, last_seq=0))
    first = await conn.recv(timeout=10)
    assert isinstance(first, SWelcome), first
    replay = []
    while not replay or replay[-1].seq < first.last_seq:
        frame = await conn.recv(timeout=10)
        if isinstance(frame, SEvent):
            replay.append(frame.event)
    return conn, replay


async def test_reply_from_an_agent_on_another_node_reaches_the_visitor(cluster, shared_store):
    (_, a), (_, b) = cluster(), cluster()
    assert readyz(a).splitlines() == ["ready", "database: ok", "bus: ok"]
    token = add_agent(shared_store, "sam")
    visitor, welcome = await start_visitor(a, name="Ada")
    cid = welcome.conversation_id
    await say(visitor, "I need to talk to a real person")
    sam = await agent(b, token)
    ids = [new_client_msg_id() for _ in range(3)]
    await sam.send(AClaim(type="claim", conversation_id=cid, client_msg_id=ids[0]))
    await wait_ack(sam, ids[0])
    for i, text in ((1, "hello from node B"), (2, "second")):
        await sam.send(AReply(type="reply", conversation_id=cid, client_msg_id=ids[i], text=text))
        await wait_ack(sam, ids[i])
    frames = await visitor.recv_until(
        lambda f: isinstance(f, SEvent) and getattr(f.event.data, "text", None) == "second", 10
    )
    got = events(frames)
    assert [e.kind for e in got if e.kind != "wait_estimate"][-3:] == [
        "claimed", "agent_message", "agent_message",
    ]  # fmt: skip
    seqs = [e.seq for e in got]
    assert seqs == sorted(set(seqs)), "an event arrived twice or out of order"
    await visitor.close()
    await sam.close()


async def test_visitor_resumes_on_another_node_after_sigkill(cluster, shared_store):
    (proc_a, a), (_, b), (_, c) = cluster(), cluster(), cluster()
    token = add_agent(shared_store, "sam")
    visitor, welcome = await start_visitor(a, name="Kai")
    cid = welcome.conversation_id
    await say(visitor, "I need to talk to a real person")
    sam = await agent(b, token)
    claim = new_client_msg_id()
    await sam.send(AClaim(type="claim", conversation_id=cid, client_msg_id=claim))
    await wait_ack(sam, claim)
    acked: dict[str, int] = {}
    for i in range(20):
        cmid = new_client_msg_id()
        await visitor.send(VMessage(type="message", client_msg_id=cmid, text=f"message {i}"))
        reply = new_client_msg_id()
        await sam.send(AReply(type="reply", conversation_id=cid, client_msg_id=reply, text=f"r{i}"))
    deadline = time.monotonic() + 10
    while len(acked) < 20 and time.monotonic() < deadline:
        frame = await visitor.recv(timeout=10)
        if isinstance(frame, SAck):
            acked[frame.client_msg_id] = frame.seq
    proc_a.send_signal(signal.SIGKILL)
    proc_a.wait()
    conn, replay = await resume_all(c, cid, welcome.resume_token)
    by_id = {e.client_msg_id: e.seq for e in replay if e.client_msg_id}
    for cmid, seq in acked.items():
        assert by_id.get(cmid) == seq, f"acknowledged message {cmid} (seq {seq}) lost"
    seqs = [e.seq for e in replay]
    assert seqs == sorted(set(seqs))
    # Live events from node B keep reaching the visitor, now on node C, once each.
    live = new_client_msg_id()
    await sam.send(AReply(type="reply", conversation_id=cid, client_msg_id=live, text="still here"))
    frames = await conn.recv_until(
        lambda f: isinstance(f, SEvent) and getattr(f.event.data, "text", None) == "still here", 10
    )
    assert [e.seq for e in events(frames)] == [e.seq for e in events(frames) if e.seq > seqs[-1]], (
        "an event was delivered twice"
    )
    await conn.close()
    await sam.close()


async def test_two_agents_on_two_nodes_claim_once_each_round(cluster, shared_store):
    (_, a), (_, b) = cluster(), cluster()
    tokens = [add_agent(shared_store, n) for n in ("sam", "lee")]
    shared_store.update_agent("agt_sam", [], 1000)
    shared_store.update_agent("agt_lee", [], 1000)
    sam, lee = await agent(a, tokens[0]), await agent(b, tokens[1])
    visitor_conn = await connect_visitor(a)
    rounds = 200
    cids = []
    for _ in range(rounds):  # conversations straight to the queue, written to the store
        cids.append(await _queued_conversation(shared_store))
    wins = {"sam": 0, "lee": 0}
    for cid in cids:
        ids = (new_client_msg_id(), new_client_msg_id())
        await asyncio.gather(
            sam.send(AClaim(type="claim", conversation_id=cid, client_msg_id=ids[0])),
            lee.send(AClaim(type="claim", conversation_id=cid, client_msg_id=ids[1])),
        )
        results = await asyncio.gather(_outcome(sam, ids[0]), _outcome(lee, ids[1]))
        assert sorted(results) == ["conflict", "won"] or sorted(results) == [
            "invalid_state", "won",
        ], results  # fmt: skip
        wins["sam" if results[0] == "won" else "lee"] += 1
    stored = shared_store.events_of_kinds(["claimed"], None, None)
    assert len(stored) == rounds
    assert {e.conversation_id for e in stored} == set(cids)
    assert wins["sam"] + wins["lee"] == rounds
    await visitor_conn.close()
    await sam.close()
    await lee.close()


async def _queued_conversation(store: Any) -> str:
    from handoff_server.store import ConversationRecord, NewEvent, utcnow

    now = utcnow()
    cid = new_client_msg_id().replace("-", "")
    store.create_conversation(
        ConversationRecord(
            id=cid, status="queued", resume_token_hash="0" * 64, created_at=now,
            updated_at=now, queued_at=now,
        ),
        [NewEvent(kind="conversation_started", data={"visitor": {}}, at=now)],
    )  # fmt: skip
    return cid


async def _outcome(conn: Any, cmid: str) -> str:
    frames = await wait_ack(conn, cmid)
    last = frames[-1]
    if isinstance(last, SAck):
        return "won"
    assert isinstance(last, SError), last
    return str(last.code)


async def test_a_turn_left_by_a_dead_node_is_finished_once_by_another(cluster, shared_store):
    (proc_a, a), (_, b), _ = cluster(slow=True), cluster(), cluster()
    visitor, welcome = await start_visitor(a, name="Mo")
    cid = welcome.conversation_id
    cmid = new_client_msg_id()
    await visitor.send(
        VMessage(type="message", client_msg_id=cmid, text=f"how do I reset my password {SLOW_WORD}")
    )
    await wait_ack(visitor, cmid)  # stored; node A is now answering, for 60 s
    await asyncio.sleep(0.5)
    proc_a.send_signal(signal.SIGKILL)
    proc_a.wait()
    answered = []
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        stored = shared_store.events_after(cid, 0)
        answered = [e for e in stored if e.kind in ("ai_message", "escalated")]
        if answered:
            break
        await asyncio.sleep(0.25)
    assert len(answered) == 1, [e.kind for e in shared_store.events_after(cid, 0)]
    await asyncio.sleep(3)  # several more recovery rounds on B and C: nothing more
    stored = shared_store.events_after(cid, 0)
    assert [e.kind for e in stored if e.kind in ("ai_message", "escalated")] == [answered[0].kind]
    assert len(shared_store.turns_between(None, None)) == 1
    conn, replay = await resume_all(b, cid, welcome.resume_token)
    assert [e.seq for e in replay] == list(range(1, len(replay) + 1))
    assert replay[-1].kind == answered[0].kind
    await conn.close()


async def test_a_node_remembers_what_another_node_wrote(cluster, shared_store):
    """Node A keeps the visitor's conversation in memory; the agent claims, replies and
    hands back on node B. The visitor's next turn on A must start from what B stored:
    an AI turn (the conversation is the AI's again, not still queued as A last saw it),
    the right seq, B's reply in the history A replays, and a frame B stored recognised
    as a retry on A."""
    (_, a), (_, b) = cluster(), cluster()
    token = add_agent(shared_store, "sam")
    visitor, welcome = await start_visitor(a, name="Ada")
    cid = welcome.conversation_id
    first = events(await say(visitor, "how do I reset my password"))[-1].kind
    assert events(await say(visitor, "I need to talk to a real person"))[-1].kind == "escalated"
    sam = await agent(b, token)
    ids = [new_client_msg_id() for _ in range(3)]
    await sam.send(AClaim(type="claim", conversation_id=cid, client_msg_id=ids[0]))
    await wait_ack(sam, ids[0])
    await sam.send(
        AReply(type="reply", conversation_id=cid, client_msg_id=ids[1], text="hello from node B")
    )
    await wait_ack(sam, ids[1])
    await sam.send(AHandback(type="handback", conversation_id=cid, client_msg_id=ids[2]))
    await wait_ack(sam, ids[2])
    await visitor.recv_until(lambda f: isinstance(f, SEvent) and f.event.kind == "handed_back", 10)
    before = shared_store.get_conversation(cid).last_seq
    frames = await say(visitor, "how do I reset my password")  # on node A
    ack = next(f for f in frames if isinstance(f, SAck))
    assert ack.seq == before + 1
    assert events(frames)[-1].kind == first  # the AI answered: A knew it was the AI's turn
    assert events(frames)[-1].seq == before + 2
    stored = shared_store.events_after(cid, 0)
    assert [e.seq for e in stored] == list(range(1, len(stored) + 1))
    conn, replay = await resume_all(a, cid, welcome.resume_token)  # A's memory, replayed
    assert [e.seq for e in replay] == [e.seq for e in stored if e.visible_to_visitor]
    assert "hello from node B" in [getattr(e.data, "text", None) for e in replay]
    # A frame stored through node B, retried on node A: acknowledged again, stored once.
    on_b, _ = await resume_all(b, cid, welcome.resume_token)
    retried = new_client_msg_id()
    await on_b.send(VMessage(type="message", client_msg_id=retried, text="thanks"))
    acked_b = [f for f in await wait_ack(on_b, retried) if isinstance(f, SAck)]
    await conn.send(VMessage(type="message", client_msg_id=retried, text="thanks"))
    acked_a = [f for f in await wait_ack(conn, retried) if isinstance(f, SAck)]
    assert acked_a and acked_b and acked_a[0].seq == acked_b[0].seq and acked_a[0].duplicate
    for c in (visitor, conn, on_b, sam):
        await c.close()
