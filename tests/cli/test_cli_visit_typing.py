"""Issue 8, kind 5 (second pass): the plain ``handoff visit`` prints no typing lines.

A line-based transcript cannot take a line back, so "Sam is typing…" would stay on screen
as a state that is soon false; the server ends an agent's typing just before storing the
reply, so a "stopped typing" line would precede nearly every reply. The plain CLI prints
only what was said; ``--json`` keeps every typing frame for scripts."""

from __future__ import annotations

import asyncio
import json

from handoff_server.client import new_client_msg_id
from handoff_server.protocol import AClaim, AReply, ASubscribeQueue, ATyping, SQueue, SQueueItem
from tests.conftest import create_token
from tests.helpers import agent, run_handoff, wait_ack


async def _agent_types_then_replies(url: str, token: str) -> None:
    """Sam claims the first queued conversation, says twice that he is typing, stops,
    says it again, stops without sending, then replies."""
    sam = await agent(url, token)
    await sam.send(ASubscribeQueue(type="subscribe_queue"))
    frames = await sam.recv_until(
        lambda f: (
            (isinstance(f, SQueueItem) and f.item.status == "queued")
            or (isinstance(f, SQueue) and any(i.status == "queued" for i in f.items))
        ),
        timeout=30,
    )
    last = frames[-1]
    items = [last.item] if isinstance(last, SQueueItem) else last.items
    cid = next(i.conversation_id for i in items if i.status == "queued")
    claim = AClaim(type="claim", conversation_id=cid, client_msg_id=new_client_msg_id())
    await sam.send(claim)
    await wait_ack(sam, claim.client_msg_id)
    for active in (True, True, False, True, False):
        await sam.send(ATyping(type="typing", conversation_id=cid, active=active))
    reply = AReply(type="reply", conversation_id=cid, client_msg_id=new_client_msg_id(), text="Hi")
    await sam.send(reply)
    await wait_ack(sam, reply.client_msg_id)
    await sam.close()


async def test_plain_visit_prints_the_reply_and_no_typing_lines(server):
    token = await create_token(server, "Sam")
    visit = asyncio.ensure_future(
        run_handoff(
            "visit", "--server", server.url, "-m", "I want to talk to a person", "--linger", "6"
        )
    )
    await _agent_types_then_replies(server.url, token)
    out = await visit
    assert out.returncode == 0, out.stderr
    assert "Sam: Hi" in out.stdout, out.stdout
    assert "typing" not in out.stdout + out.stderr, out.stdout


async def test_json_visit_keeps_every_typing_frame(server):
    token = await create_token(server, "Sam")
    visit = asyncio.ensure_future(
        run_handoff(
            "visit",
            "--server",
            server.url,
            "--json",
            "-m",
            "I want to talk to a person",
            "--linger",
            "6",
        )  # fmt: skip
    )
    await _agent_types_then_replies(server.url, token)
    out = await visit
    frames = [json.loads(line) for line in out.stdout.splitlines() if line.strip()]
    typing = [f["active"] for f in frames if f.get("type") == "typing"]
    assert typing == [True, True, False, True, False], out.stdout
