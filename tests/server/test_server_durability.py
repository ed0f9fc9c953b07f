"""Crash safety and resume: SIGKILL loses no acknowledged message; a reconnecting client
gets each missed event exactly once."""

from __future__ import annotations

import json
import signal

from handoff_server.client import connect_visitor, new_client_msg_id
from handoff_server.protocol import (
    AClaim,
    ANote,
    AReply,
    SAck,
    SEvent,
    SWelcome,
    VMessage,
    VResume,
)
from tests.helpers import agent, events, say, start_serve, start_visitor, wait_ack


async def test_sigkill_loses_no_acknowledged_message(tmp_path):
    proc, url = start_serve(tmp_path)
    acked: dict[str, int] = {}
    try:
        conn, welcome = await start_visitor(url, name="Kai")
        # Escalate first so later messages are stored without waiting for the AI.
        await say(conn, "I need to talk to a real person")
        for i in range(25):
            cmid = new_client_msg_id()
            await conn.send(VMessage(type="message", client_msg_id=cmid, text=f"message {i}"))
        seen = 0
        while seen < 25:
            frame = await conn.recv(timeout=10)
            if isinstance(frame, SAck):
                acked[frame.client_msg_id] = frame.seq
                seen += 1
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    proc2, url2 = start_serve(tmp_path)
    try:
        conn2 = await connect_visitor(url2)
        await conn2.send(
            VResume(
                type="resume",
                conversation_id=welcome.conversation_id,
                resume_token=welcome.resume_token,
                last_seq=0,
            )
        )
        first = await conn2.recv(timeout=10)
        assert isinstance(first, SWelcome)
        replay = []
        while len(replay) < first.last_seq:
            frame = await conn2.recv(timeout=10)
            assert isinstance(frame, SEvent)
            replay.append(frame.event)
        by_id = {e.client_msg_id: e.seq for e in replay if e.client_msg_id}
        for cmid, seq in acked.items():
            assert by_id.get(cmid) == seq, f"acknowledged message {cmid} (seq {seq}) lost"
        assert [e.seq for e in replay] == list(range(1, first.last_seq + 1))
        await conn2.close()
    finally:
        proc2.send_signal(signal.SIGTERM)
        assert proc2.wait(timeout=20) == 0


async def test_resume_replays_each_missed_event_exactly_once(server, agent_token):
    conn, welcome = await start_visitor(server.url, name="Lu")
    cid = welcome.conversation_id
    await say(conn, "can I talk to someone real")
    # The visitor has seen everything up to now; record the last seq, then disconnect.
    store = server.store
    last_seen = (await store.call(store.store.get_conversation, cid)).last_seq
    await conn.close()

    sam = await agent(server.url, agent_token)
    ids = [new_client_msg_id() for _ in range(4)]
    await sam.send(AClaim(type="claim", conversation_id=cid, client_msg_id=ids[0]))
    await wait_ack(sam, ids[0])
    await sam.send(
        AReply(type="reply", conversation_id=cid, client_msg_id=ids[1], text="first reply")
    )
    await wait_ack(sam, ids[1])
    await sam.send(
        ANote(type="note", conversation_id=cid, client_msg_id=ids[2], text="internal: VIP")
    )
    await wait_ack(sam, ids[2])
    await sam.send(
        AReply(type="reply", conversation_id=cid, client_msg_id=ids[3], text="second reply")
    )
    await wait_ack(sam, ids[3])

    conn2 = await connect_visitor(server.url)
    await conn2.send(
        VResume(
            type="resume",
            conversation_id=cid,
            resume_token=welcome.resume_token,
            last_seq=last_seen,
        )
    )
    frames = await conn2.recv_until(
        lambda f: isinstance(f, SEvent) and getattr(f.event.data, "text", None) == "second reply",
        10,
    )
    got = events(frames)
    assert [e.kind for e in got] == ["claimed", "agent_message", "agent_message"]
    assert [e.data.text for e in got[1:]] == ["first reply", "second reply"]
    assert all(e.seq > last_seen for e in got)
    assert len({e.seq for e in got}) == len(got)
    # The internal note is not replayed to the visitor, and nothing else arrives.
    assert "internal: VIP" not in json.dumps([e.model_dump(mode="json") for e in got])
    try:
        extra = await conn2.recv(timeout=0.5)
    except TimeoutError:
        extra = None
    assert extra is None

    # Live events keep flowing after the replay, once each.
    ids5 = new_client_msg_id()
    await sam.send(AReply(type="reply", conversation_id=cid, client_msg_id=ids5, text="live"))
    live = await conn2.recv_until(lambda f: isinstance(f, SEvent), 10)
    assert live[-1].event.data.text == "live" and live[-1].event.seq == got[-1].seq + 1
    await conn2.close()
    await sam.close()


async def test_retried_client_message_is_stored_once(server):
    conn, welcome = await start_visitor(server.url)
    cmid = new_client_msg_id()
    first = await say(conn, "how do I reset my password", client_msg_id=cmid)
    again = await say(conn, "how do I reset my password", client_msg_id=cmid)
    ack1 = [f for f in first if isinstance(f, SAck)][0]
    ack2 = [f for f in again if isinstance(f, SAck)][0]
    assert ack2.duplicate and ack2.seq == ack1.seq
    stored = await server.store.call(server.store.store.events_after, welcome.conversation_id, 0)
    assert [e.kind for e in stored].count("visitor_message") == 1
    assert [e.kind for e in stored].count("ai_message") == 1
    await conn.close()
