"""Issue 2 end to end: real server on an ephemeral port, real websocket clients."""

from __future__ import annotations

import asyncio

from typer.testing import CliRunner

from handoff_cli.main import app
from handoff_server.client import new_client_msg_id
from handoff_server.protocol import (
    AClaim,
    AOpen,
    AReply,
    AResolve,
    ASubscribeQueue,
    SAck,
    SConversation,
    SEvent,
    SQueue,
    SQueueItem,
)
from tests.conftest import create_token
from tests.helpers import agent, events, say, start_visitor, wait_ack

COVERED = "how do I point my domain to your nameservers"
UNCOVERED = "what's a good recipe for sourdough bread"


async def test_covered_question_gets_ai_answer_with_confidence_and_sources(server):
    conn, welcome = await start_visitor(server.url, name="Ada", email="ada@example.com")
    frames = await say(conn, COVERED)
    (ai,) = events(frames, "ai_message")
    assert ai.data.confidence >= 0.70
    assert ai.data.sources == ["dns-nameservers"]
    assert "ns1.brambleport.example" in ai.data.text
    # The visitor never sees the AI's internal analysis.
    assert "candidates" not in ai.data.model_dump() and "evaluations" not in ai.data.model_dump()
    acks = [f for f in frames if isinstance(f, SAck)]
    assert len(acks) == 1 and acks[0].seq == ai.seq - 1
    await conn.close()


async def test_uncovered_question_and_human_request_are_escalated_and_queued(server, agent_token):
    runner = CliRunner()
    conn1, w1 = await start_visitor(
        server.url, name="Bo", page_url="https://brambleport.example/pricing"
    )
    frames = await say(conn1, UNCOVERED)
    (esc,) = events(frames, "escalated")
    # The visitor learns the trigger's kind, nothing of the analysis behind it.
    assert esc.data.trigger.model_dump() == {"kind": "low_confidence"}
    assert events(frames, "ai_message") == []  # no wrong answer was sent

    conn2, w2 = await start_visitor(server.url, name="Cy")
    frames = await say(conn2, "I want to talk to a person")
    (esc2,) = events(frames, "escalated")
    assert esc2.data.trigger.model_dump() == {"kind": "human_request"}

    result = await asyncio.to_thread(
        runner.invoke, app, ["queue", "--json", "--server", server.url, "--token", agent_token]
    )
    assert result.exit_code == 0, result.output
    import json

    rows = {r["conversation_id"]: r for r in json.loads(result.stdout)}
    assert set(rows) == {w1.conversation_id, w2.conversation_id}
    bo = rows[w1.conversation_id]
    assert bo["trigger"]["kind"] == "low_confidence"
    assert bo["trigger"]["confidence"] < 0.70
    assert bo["last_confidence"] == bo["trigger"]["confidence"]
    assert bo["visitor"]["page_url"] == "https://brambleport.example/pricing"
    assert [e["kind"] for e in bo["transcript"]] == [
        "conversation_started",
        "visitor_message",
        "escalated",
    ]
    assert bo["transcript"][1]["data"]["text"] == UNCOVERED
    # Agents see the AI's unsent draft and the evaluations; visitors did not.
    assert "draft" in bo["transcript"][2]["data"] and "draft" not in esc.data.model_dump()
    assert rows[w2.conversation_id]["trigger"]["kind"] == "human_request"
    # Routing is the policy's: no team is guessed from whatever entry the AI thought closest.
    assert rows[w2.conversation_id]["team"] is None
    await conn1.close()
    await conn2.close()


async def test_agent_claims_replies_resolves_and_ai_stays_silent(server, agent_token):
    visitor, welcome = await start_visitor(server.url, name="Dee")
    cid = welcome.conversation_id
    sam = await agent(server.url, agent_token)
    await sam.send(ASubscribeQueue(type="subscribe_queue"))
    snapshot = await sam.recv(timeout=10)
    assert isinstance(snapshot, SQueue) and snapshot.items == []

    frames = await say(visitor, "I want to speak to a human please")
    assert events(frames, "escalated")
    update = await sam.recv_until(
        lambda f: isinstance(f, SQueueItem) and f.item.status == "queued", 10
    )
    assert update[-1].item.conversation_id == cid

    await sam.send(AOpen(type="open", conversation_id=cid))
    packet = (await sam.recv_until(lambda f: isinstance(f, SConversation), 10))[-1].packet
    assert packet.trigger.kind == "human_request"
    assert packet.visitor.name == "Dee"

    claim_id = new_client_msg_id()
    await sam.send(AClaim(type="claim", conversation_id=cid, client_msg_id=claim_id))
    await wait_ack(sam, claim_id)
    reply_id = new_client_msg_id()
    await sam.send(
        AReply(type="reply", conversation_id=cid, client_msg_id=reply_id, text="Hi Dee, Sam here.")
    )
    await wait_ack(sam, reply_id)

    got = await visitor.recv_until(
        lambda f: isinstance(f, SEvent) and f.event.kind == "agent_message", 10
    )
    assert got[-1].event.data.text == "Hi Dee, Sam here."
    assert got[-1].event.data.agent.name == "Sam"

    # A question the AI could answer: the AI must stay silent now a person has it.
    frames = await say(visitor, COVERED, ai_expected=False)
    assert any(isinstance(f, SAck) for f in frames)
    await asyncio.sleep(0.3)  # give a (wrong) AI reply the time it would take to arrive
    with_agent = await sam.recv_until(
        lambda f: (
            isinstance(f, SEvent)
            and f.event.kind == "visitor_message"
            and f.event.data.text == COVERED
        ),
        10,
    )
    assert events(with_agent, "ai_message") == []

    resolve_id = new_client_msg_id()
    await sam.send(AResolve(type="resolve", conversation_id=cid, client_msg_id=resolve_id))
    await wait_ack(sam, resolve_id)
    done = await visitor.recv_until(
        lambda f: isinstance(f, SEvent) and f.event.kind == "resolved", 10
    )
    assert done[-1].event.kind == "resolved"
    # Nothing from the AI reached the visitor after the handoff.
    await asyncio.sleep(0.2)
    rec = await server.store.call(server.store.store.events_after, cid, 0)
    kinds = [e.kind for e in rec]
    assert "ai_message" not in kinds[kinds.index("escalated") :]
    await visitor.close()
    await sam.close()


async def test_second_agent_cannot_claim_or_reply(server, agent_token):
    visitor, welcome = await start_visitor(server.url)
    await say(visitor, "agent please")
    cid = welcome.conversation_id
    sam = await agent(server.url, agent_token)
    kim = await agent(server.url, await create_token(server, "Kim"))
    c1, c2 = new_client_msg_id(), new_client_msg_id()
    await sam.send(AClaim(type="claim", conversation_id=cid, client_msg_id=c1))
    await wait_ack(sam, c1)
    await kim.send(AClaim(type="claim", conversation_id=cid, client_msg_id=c2))
    err = (await wait_ack(kim, c2))[-1]
    assert err.type == "error" and err.code == "conflict"
    c3 = new_client_msg_id()
    await kim.send(AReply(type="reply", conversation_id=cid, client_msg_id=c3, text="hello"))
    err = (await wait_ack(kim, c3))[-1]
    assert err.type == "error" and err.code == "conflict"
    stored = await server.store.call(server.store.store.events_after, cid, 0)
    assert [e.kind for e in stored][-1] == "claimed"
    for c in (visitor, sam, kim):
        await c.close()
