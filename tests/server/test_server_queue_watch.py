"""Issue 8, kind 8: agents receive the queue traffic they asked for.

``subscribe_queue`` names the statuses watched (default queued and assigned). AI turns of
an AI-only conversation reach nobody watching the default set; an agent watching ``ai``
gets them; a conversation leaving the watched set arrives once more with its new status.
"""

from __future__ import annotations

import pytest

from handoff_server.client import new_client_msg_id
from handoff_server.protocol import (
    AClaim,
    AResolve,
    ASubscribeQueue,
    SError,
    SQueue,
    SQueueItem,
)
from tests.conftest import create_token
from tests.helpers import agent, events, say, start_visitor, wait_ack

QUESTIONS = [
    "how do I add a user to my account",
    "I forgot my password",
    "how do I turn on two-factor authentication",
    "how do I restore my MySQL database",
    "how do I restore my website from a backup",
    "do you back up my website",
    "how do I upgrade my plan",
    "my payment failed",
    "where can I find my invoices",
    "how do I update my credit card",
]


async def _watcher(server, name: str, statuses: list[str] | None = None):
    conn = await agent(server.url, await create_token(server, name))
    frame = ASubscribeQueue(type="subscribe_queue")
    if statuses is not None:
        frame = ASubscribeQueue(type="subscribe_queue", statuses=statuses)
    await conn.send(frame)
    snapshot = await conn.recv(timeout=10)
    assert isinstance(snapshot, SQueue), snapshot
    return conn, snapshot


async def _act(conn, kind, frame_type, cid):
    cmid = new_client_msg_id()
    await conn.send(frame_type(type=kind, conversation_id=cid, client_msg_id=cmid))
    await wait_ack(conn, cmid)


async def _ten_ai_turns_then_an_escalation(server) -> tuple[str, str]:
    """Ten AI-answered messages in one conversation, then another conversation asks for
    a person; returns both conversation ids."""
    visitor, welcome = await start_visitor(server.url)
    for text in QUESTIONS:
        assert events(await say(visitor, text), "ai_message"), text
    other, other_welcome = await start_visitor(server.url)
    await say(other, "I want to talk to a person")
    await visitor.close()
    await other.close()
    return welcome.conversation_id, other_welcome.conversation_id


async def test_ai_turns_send_nothing_to_agents_watching_the_queue(server):
    sam, _ = await _watcher(server, "Sam")
    _, escalated = await _ten_ai_turns_then_an_escalation(server)
    # The first frame Sam gets is the escalated conversation's row.
    got = await sam.recv_until(lambda f: isinstance(f, SQueueItem), timeout=10)
    assert [(f.item.conversation_id, f.item.status) for f in got] == [(escalated, "queued")]
    await sam.close()


async def test_ai_turns_reach_agents_watching_ai_conversations(server):
    ana, _ = await _watcher(server, "Ana", ["ai"])
    answered, escalated = await _ten_ai_turns_then_an_escalation(server)
    rows = await ana.recv_until(
        lambda f: (
            isinstance(f, SQueueItem)
            and f.item.conversation_id == escalated
            and f.item.status == "queued"
        ),
        timeout=10,
    )
    mine = [f.item for f in rows if f.item.conversation_id == answered]
    assert len(mine) >= len(QUESTIONS) and {i.status for i in mine} == {"ai"}
    assert mine[-1].last_seq == 1 + 2 * len(QUESTIONS)
    # The escalated conversation left Ana's view: its last row says where it went.
    assert [f.item.status for f in rows if f.item.conversation_id == escalated] == ["ai", "queued"]
    await ana.close()


async def test_a_resolved_conversation_leaves_the_default_view(server):
    kim, _ = await _watcher(server, "Kim")
    sam = await agent(server.url, await create_token(server, "Sam"))
    visitor, welcome = await start_visitor(server.url)
    cid = welcome.conversation_id
    await say(visitor, "agent please")
    await _act(sam, "claim", AClaim, cid)
    await _act(sam, "resolve", AResolve, cid)
    rows = await kim.recv_until(
        lambda f: isinstance(f, SQueueItem) and f.item.status == "resolved", timeout=10
    )
    assert [f.item.status for f in rows] == ["queued", "assigned", "resolved"]
    assert rows[-1].item.conversation_id == cid
    # A fresh subscription to the resolved ones lists it; to the default set, not.
    await kim.send(ASubscribeQueue(type="subscribe_queue", statuses=["resolved"]))
    snapshot = await kim.recv_until(lambda f: isinstance(f, SQueue))
    assert [i.conversation_id for i in snapshot[-1].items] == [cid]
    await kim.send(ASubscribeQueue(type="subscribe_queue"))
    snapshot = await kim.recv_until(lambda f: isinstance(f, SQueue))
    assert snapshot[-1].items == []
    for conn in (kim, sam, visitor):
        await conn.close()


async def test_subscribing_again_replaces_the_watched_statuses(server):
    ana, first = await _watcher(server, "Ana", ["ai"])
    assert first.items == []
    visitor, welcome = await start_visitor(server.url)
    await say(visitor, QUESTIONS[0])
    await ana.recv_until(lambda f: isinstance(f, SQueueItem) and f.item.status == "ai")
    await ana.send(ASubscribeQueue(type="subscribe_queue", statuses=["queued"]))
    snapshot = await ana.recv_until(lambda f: isinstance(f, SQueue))
    assert snapshot[-1].items == []
    await say(visitor, QUESTIONS[1])
    other, other_welcome = await start_visitor(server.url)
    await say(other, "agent please")
    got = await ana.recv_until(lambda f: isinstance(f, SQueueItem), timeout=10)
    assert [(f.item.conversation_id, f.item.status) for f in got] == [
        (other_welcome.conversation_id, "queued")
    ]
    await ana.send(ASubscribeQueue(type="subscribe_queue", statuses=["queued", "ai"]))
    snapshot = (await ana.recv_until(lambda f: isinstance(f, SQueue)))[-1]
    assert [i.conversation_id for i in snapshot.items] == [
        other_welcome.conversation_id,  # priority 1 (asked for a person) first
        welcome.conversation_id,
    ]
    for conn in (ana, visitor, other):
        await conn.close()


@pytest.mark.parametrize(
    "statuses",
    [[], ["bogus"], ["queued", "queued"], "queued", [None], ["Queued"]],
)
async def test_bad_statuses_are_refused_and_change_nothing(server, statuses):
    sam, _ = await _watcher(server, "Sam")
    await sam.send({"type": "subscribe_queue", "statuses": statuses})
    err = await sam.recv(timeout=10)
    assert isinstance(err, SError) and err.code == "invalid_frame", err
    assert "statuses" in err.detail
    # Still watching the default set.
    visitor, welcome = await start_visitor(server.url)
    await say(visitor, "agent please")
    got = await sam.recv_until(lambda f: isinstance(f, SQueueItem), timeout=10)
    assert got[-1].item.conversation_id == welcome.conversation_id
    await sam.close()
    await visitor.close()
