"""Issue 8, kind 5 (server part): no state outlives what caused it.

- Someone typing whose connection dies (or who closes the conversation, or sends their
  message) stops "typing" for everyone else.
- Someone who says they are typing and then nothing, connection open, stops "typing" for
  everyone else after ``server.typing_expiry_seconds`` (another ``active=true`` refreshes it).
- A resolved conversation that reopens and escalates again has no assignee: the old
  agent's name is not on the new queue row or packet.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from handoff_server.client import Connection, new_client_msg_id
from handoff_server.protocol import (
    AClaim,
    AClose,
    AOpen,
    AReply,
    AResolve,
    ASubscribeQueue,
    ATyping,
    SAck,
    SConversation,
    SEvent,
    SQueue,
    SQueueItem,
    STyping,
    VTyping,
)
from tests.conftest import create_token
from tests.helpers import agent, events, say, start_visitor, wait_ack


def _typing(active: bool, role: str) -> Any:
    return lambda f: isinstance(f, STyping) and f.active is active and f.role == role


def _die(conn: Connection) -> None:
    """The connection drops: no close handshake, the TCP connection just ends."""
    conn.ws.transport.abort()


async def _escalated_and_opened(server, *names: str) -> tuple[Connection, str, list[Connection]]:
    visitor, welcome = await start_visitor(server.url, name="Dee")
    cid = welcome.conversation_id
    assert events(await say(visitor, "I want to talk to a person"), "escalated")
    agents = []
    for name in names:
        conn = await agent(server.url, await create_token(server, name))
        await conn.send(AOpen(type="open", conversation_id=cid))
        await conn.recv_until(lambda f: isinstance(f, SConversation))
        agents.append(conn)
    return visitor, cid, agents


async def _claim(conn: Connection, cid: str) -> None:
    """Claim the conversation: typing needs the right to reply (issue 14)."""
    claim = new_client_msg_id()
    await conn.send(AClaim(type="claim", conversation_id=cid, client_msg_id=claim))
    assert isinstance((await wait_ack(conn, claim))[-1], SAck)


async def test_agent_connection_dying_while_typing_stops_typing_for_the_others(server):
    visitor, cid, (sam, kim) = await _escalated_and_opened(server, "Sam", "Kim")
    await _claim(sam, cid)
    await sam.send(ATyping(type="typing", conversation_id=cid, active=True))
    shown = await visitor.recv_until(_typing(True, "agent"), timeout=5)
    assert shown[-1].name == "Sam"
    await kim.recv_until(_typing(True, "agent"), timeout=5)
    _die(sam)
    for watcher in (visitor, kim):
        cleared = await watcher.recv_until(_typing(False, "agent"), timeout=5)
        assert cleared[-1].conversation_id == cid and cleared[-1].name == "Sam"
    await visitor.close()
    await kim.close()


async def test_visitor_connection_dying_while_typing_stops_typing_for_agents(server):
    visitor, cid, (sam,) = await _escalated_and_opened(server, "Sam")
    await visitor.send(VTyping(type="typing", active=True))
    await sam.recv_until(_typing(True, "visitor"), timeout=5)
    _die(visitor)
    cleared = await sam.recv_until(_typing(False, "visitor"), timeout=5)
    assert cleared[-1].conversation_id == cid
    await sam.close()


EXPIRY = 0.5


async def test_visitor_typing_once_and_saying_nothing_expires_for_agents(server_factory):
    server = await server_factory(server={"typing_expiry_seconds": EXPIRY})
    visitor, cid, (sam,) = await _escalated_and_opened(server, "Sam")
    await visitor.send(VTyping(type="typing", active=True))
    started = time.monotonic()
    await sam.recv_until(_typing(True, "visitor"), timeout=5)
    cleared = await sam.recv_until(_typing(False, "visitor"), timeout=5)
    assert cleared[-1].conversation_id == cid
    assert time.monotonic() - started >= EXPIRY * 0.9
    # The visitor is still connected and heard: the expiry ended the typing, nothing else.
    heard = await say(visitor, "still here", ai_expected=False)
    assert isinstance(heard[-1], SAck), heard
    await sam.close()
    await visitor.close()


async def test_agent_typing_expiry_is_refreshed_by_another_active(server_factory):
    server = await server_factory(server={"typing_expiry_seconds": EXPIRY})
    visitor, cid, (sam, kim) = await _escalated_and_opened(server, "Sam", "Kim")
    await _claim(sam, cid)
    await sam.send(ATyping(type="typing", conversation_id=cid, active=True))
    await visitor.recv_until(_typing(True, "agent"), timeout=5)
    await asyncio.sleep(EXPIRY / 2)
    await sam.send(ATyping(type="typing", conversation_id=cid, active=True))
    refreshed = time.monotonic()
    for watcher in (visitor, kim):
        cleared = await watcher.recv_until(_typing(False, "agent"), timeout=5)
        assert cleared[-1].name == "Sam" and cleared[-1].conversation_id == cid
    assert time.monotonic() - refreshed >= EXPIRY * 0.9
    for conn in (visitor, sam, kim):
        await conn.close()


async def test_closing_the_conversation_or_sending_the_message_stops_typing(server):
    visitor, cid, (sam,) = await _escalated_and_opened(server, "Sam")
    claim = new_client_msg_id()
    await sam.send(AClaim(type="claim", conversation_id=cid, client_msg_id=claim))
    await wait_ack(sam, claim)
    await sam.send(ATyping(type="typing", conversation_id=cid, active=True))
    await visitor.recv_until(_typing(True, "agent"), timeout=5)
    reply = new_client_msg_id()
    await sam.send(AReply(type="reply", conversation_id=cid, client_msg_id=reply, text="Hi!"))
    typing_off = message = False
    while not (typing_off and message):
        frame = await visitor.recv(timeout=5)
        typing_off |= _typing(False, "agent")(frame)
        message |= isinstance(frame, SEvent) and frame.event.kind == "agent_message"

    await sam.send(ATyping(type="typing", conversation_id=cid, active=True))
    await visitor.recv_until(_typing(True, "agent"), timeout=5)
    await sam.send(AClose(type="close", conversation_id=cid))
    await visitor.recv_until(_typing(False, "agent"), timeout=5)
    await sam.close()
    await visitor.close()


async def test_reopened_conversation_escalated_again_has_no_assignee(server):
    visitor, cid, (sam,) = await _escalated_and_opened(server, "Sam")
    for frame_type, kind in ((AClaim, "claim"), (AResolve, "resolve")):
        cmid = new_client_msg_id()
        await sam.send(frame_type(type=kind, conversation_id=cid, client_msg_id=cmid))
        await wait_ack(sam, cmid)
    await visitor.recv_until(lambda f: isinstance(f, SEvent) and f.event.kind == "resolved")
    kim = await agent(server.url, await create_token(server, "Kim"))
    await kim.send(ASubscribeQueue(type="subscribe_queue"))
    assert isinstance(await kim.recv(timeout=10), SQueue)

    frames = await say(visitor, "I want to talk to a person")
    assert [e.kind for e in events(frames)][-3:] == ["reopened", "visitor_message", "escalated"]
    rows = await kim.recv_until(
        lambda f: isinstance(f, SQueueItem) and f.item.status == "queued", timeout=10
    )
    assert rows[-1].item.assigned_agent is None
    await kim.send(ASubscribeQueue(type="subscribe_queue"))
    snapshot = await kim.recv_until(lambda f: isinstance(f, SQueue))
    (row,) = [i for i in snapshot[-1].items if i.conversation_id == cid]
    assert row.status == "queued" and row.assigned_agent is None
    await kim.send(AOpen(type="open", conversation_id=cid, subscribe=False))
    packet = (await kim.recv_until(lambda f: isinstance(f, SConversation)))[-1].packet
    assert packet.status == "queued" and packet.assigned_agent is None
    # Anyone may claim it now; it becomes Kim's.
    claim = new_client_msg_id()
    await kim.send(AClaim(type="claim", conversation_id=cid, client_msg_id=claim))
    await wait_ack(kim, claim)
    conv = await server.store.call(server.store.store.get_conversation, cid)
    assert conv.assigned_agent_name == "Kim"
    for conn in (visitor, sam, kim):
        await conn.close()
