"""Regression tests from an attack on the server: hostile frames, races, reconnects,
permissions, crash recovery. Each docstring tells the bug the test guards against.

Areas attacked that held up (concurrent claims, concurrent visitor messages and duplicate
client message ids on several connections, resume racing live replies, a stalled reader,
SIGTERM with clients connected) have no test here.
"""

from __future__ import annotations

from typing import Any

from handoff_server.client import connect_visitor
from handoff_server.protocol import (
    AClaim,
    AResolve,
    ASubscribeQueue,
    SAck,
    SConversation,
    SError,
    SEvent,
    SQueue,
    SWelcome,
    VMessage,
    VRequestHuman,
    VResume,
)
from handoff_server.store import ConversationRecord, NewEvent, SQLiteStore, hash_token, utcnow
from tests.conftest import create_token
from tests.helpers import agent, events, say, start_visitor, wait_ack


async def _drain(conn: Any, quiet: float = 2.0) -> list[Any]:
    """Every frame received until none arrives for ``quiet`` seconds."""
    frames: list[Any] = []
    try:
        while True:
            frames.append(await conn.recv(timeout=quiet))
    except TimeoutError:
        pass
    return frames


async def _stored(server: Any, cid: str) -> list[Any]:
    return await server.store.call(server.store.store.events_after, cid, 0)


async def test_deeply_nested_json_gets_an_error_frame_not_a_dead_connection(server):
    """A frame of deeply nested JSON (``[[[[...]]]]``, 10 KB, well under the frame limit)
    makes ``json.loads`` raise ``RecursionError``, which ``protocol._parse`` does not catch
    (it catches only ``ValueError``/``UnicodeDecodeError``). The exception escapes
    ``Gateway._frames`` and the connection handler: the server logs "connection handler
    failed" with a traceback and closes the connection with 1011, instead of answering
    ``invalid_json`` and keeping the connection open as the gateway promises. The same
    frame sent as an agent's first (``auth``) frame crashes ``_auth_frame`` the same way."""
    conn, welcome = await start_visitor(server.url)
    await conn.send("[" * 5_000 + "]" * 5_000)
    frame = await conn.recv(timeout=10)
    assert isinstance(frame, SError), frame
    assert frame.code == "invalid_json"
    # The connection keeps working.
    frames = await say(conn, "how do I reset my password")
    assert events(frames, "ai_message")
    await conn.close()


async def test_lone_surrogate_is_refused_and_cannot_poison_a_conversation(server, agent_token):
    """A visitor message whose text holds a lone surrogate (JSON ``"\\ud800"``, valid
    UTF-8 on the wire) passes validation and is stored (``json.dumps`` escapes it), but
    every later serialisation of it fails (``model_dump_json``: "surrogates not allowed"):
    the visitor is told ``internal`` / "nothing was stored" although it was stored as the
    next seq, the broadcast stops half way, a visitor resuming from 0 stops at the event
    before it (and never gets anything after), and no agent can ``open`` the conversation
    any more (its handoff packet always fails with ``internal``). One hostile message
    poisons the conversation for good."""
    conn, welcome = await start_visitor(server.url)
    cid = welcome.conversation_id
    await say(conn, "I want to talk to a person")  # queued: no AI turn for what follows
    await conn.send(
        '{"type": "message", "client_msg_id": "m-surrogate", "text": "hello \\ud800 there"}'
    )
    reply = (await wait_ack(conn, "m-surrogate"))[-1]
    stored_ids = [e.client_msg_id for e in await _stored(server, cid)]
    if isinstance(reply, SError):
        # Refused: then it must really not have been stored.
        assert "m-surrogate" not in stored_ids, (
            f"refused with {reply.code!r} ({reply.detail}) yet stored"
        )
    await conn.close()

    # Agents can still open the conversation.
    sam = await agent(server.url, agent_token)
    await sam.send({"type": "open", "conversation_id": cid, "subscribe": False})
    # (A ``waiting_work`` offer may come first: the conversation waits in the queue.)
    opened = (await sam.recv_until(lambda f: isinstance(f, SConversation | SError), 10))[-1]
    assert isinstance(opened, SConversation), opened

    # A resuming visitor gets every visitor-visible event, up to the last one.
    conn2 = await connect_visitor(server.url)
    await conn2.send(
        VResume(type="resume", conversation_id=cid, resume_token=welcome.resume_token, last_seq=0)
    )
    frames = await _drain(conn2)
    assert isinstance(frames[0], SWelcome), frames[0]
    seqs = [f.event.seq for f in frames if isinstance(f, SEvent)]
    assert not [f for f in frames if isinstance(f, SError)], frames
    assert seqs and seqs[-1] == frames[0].last_seq, seqs
    await conn2.close()
    await sam.close()


async def test_client_msg_id_dedup_is_per_sender(server):
    """Duplicate detection looks up ``client_msg_id`` per conversation only, whoever sent
    it. A second agent whose frame happens to reuse an id already stored in the
    conversation (ids are chosen by each client; events even show them to everyone) gets
    ``ack`` with ``duplicate: true`` and the *first agent's* seq: Ann's ``claim`` of a
    conversation Sam holds is "acknowledged" (she believes she has it) and her ``reply`` is
    "acknowledged" but never stored or delivered. A retry is the same sender's frame; a
    different sender's frame must be checked on its own (here: ``conflict``)."""
    sam = await agent(server.url, await create_token(server, "Sam"))
    ann = await agent(server.url, await create_token(server, "Ann"))
    conn, welcome = await start_visitor(server.url)
    cid = welcome.conversation_id
    await say(conn, "I want to talk to a person")
    await sam.send(AClaim(type="claim", conversation_id=cid, client_msg_id="claim-1"))
    assert isinstance((await wait_ack(sam, "claim-1"))[-1], SAck)

    await ann.send(AClaim(type="claim", conversation_id=cid, client_msg_id="claim-1"))
    answer = (await wait_ack(ann, "claim-1"))[-1]
    assert isinstance(answer, SError) and answer.code == "conflict", answer
    await conn.close()


async def test_request_human_survives_a_restart_before_the_ai_turn(server_factory, tmp_path):
    """``request_human`` stores the visitor's message (``data.request_human = true``),
    acknowledges it, and only then runs the turn with ``explicit_human=True``. If the
    server dies between the ack and the escalation, ``ConversationService.initialise``
    finishes the interrupted turn with ``explicit_human=False``: the AI answers the text
    (here confidently) instead of handing off, although the visitor pressed "talk to a
    person" and was acknowledged. Simulated by writing the acknowledged state to the store
    and starting a server on it."""
    data = tmp_path / "crashed"
    store = SQLiteStore(data)
    now = utcnow()
    store.create_conversation(
        ConversationRecord(
            id="conv-crash",
            status="ai",
            resume_token_hash=hash_token("resume"),
            created_at=now,
            updated_at=now,
            visitor={},
        ),
        [NewEvent(kind="conversation_started", data={"visitor": {}})],
    )
    store.append_events(
        "conv-crash",
        [
            NewEvent(
                kind="visitor_message",
                data={"text": "how do I reset my password", "request_human": True},
                client_msg_id="human-1",
            )
        ],
        {"first_question": "how do I reset my password"},
    )
    store.close()

    srv = await server_factory(data_dir=data)
    kinds = [e.kind for e in await _stored(srv, "conv-crash")]
    assert kinds[2:] == ["escalated"], kinds
    conv = await srv.store.call(srv.store.store.get_conversation, "conv-crash")
    assert conv.status == "queued"


async def test_operator_is_reported_as_operator_in_queue_and_packet(server):
    """When an operator claims a conversation, the queue row (``QueueItem.assigned_agent``)
    and the handoff packet (``HandoffPacket.assigned_agent``) both say ``role: "agent"``:
    ``queue_item`` and ``build_packet`` hard-code the role instead of storing/reading the
    holder's real role (the ``claimed`` event itself correctly says ``operator``)."""
    olga = await agent(server.url, await create_token(server, "Olga", role="operator"))
    conn, welcome = await start_visitor(server.url)
    cid = welcome.conversation_id
    await say(conn, "I want to talk to a person")
    await olga.send(AClaim(type="claim", conversation_id=cid, client_msg_id="c1"))
    assert isinstance((await wait_ack(olga, "c1"))[-1], SAck)

    await olga.send(ASubscribeQueue(type="subscribe_queue"))
    queue = await olga.recv_until(lambda f: isinstance(f, SQueue))
    (row,) = [i for i in queue[-1].items if i.conversation_id == cid]
    assert row.assigned_agent is not None and row.assigned_agent.role == "operator", row

    await olga.send({"type": "open", "conversation_id": cid, "subscribe": False})
    opened = (await olga.recv_until(lambda f: isinstance(f, SConversation)))[-1]
    assert opened.packet.assigned_agent.role == "operator", opened.packet.assigned_agent
    await conn.close()


async def test_rate_limited_error_names_the_refused_message(server_factory):
    """When a connection exceeds ``rate_limit_per_minute``, the refused frame gets an
    ``error`` with code ``rate_limited`` but no ``client_msg_id`` (the gateway answers
    before parsing). A client waiting for the ack of that message cannot tell it was
    refused and must time out (``handoff visit`` waits its full ``--timeout`` and fails);
    the error for a refused message must carry its ``client_msg_id``."""
    server = await server_factory(server={"rate_limit_per_minute": 2})
    conn, welcome = await start_visitor(server.url)  # "start" spends one token
    await conn.send(VRequestHuman(type="request_human", client_msg_id="ok-1"))  # the second
    await conn.send(VMessage(type="message", client_msg_id="too-fast", text="are you there?"))
    frames = await conn.recv_until(
        lambda f: isinstance(f, SError) and f.code == "rate_limited", timeout=15
    )
    assert frames[-1].client_msg_id == "too-fast", frames[-1]
    await conn.close()


async def test_request_human_on_resolved_conversation_stores_a_reopened_event(server, agent_token):
    """A visitor message on a resolved conversation stores a ``reopened`` event before it
    (status resolved → ai is an event, as every change must be). ``request_human`` on a
    resolved conversation silently sets status ``ai`` and escalates with no ``reopened``
    event: the transcript jumps from ``resolved`` to a new escalation, clients tracking
    status from events (``handoff visit`` watches ``reopened``) miss the change, and
    ``_history`` does not restart its turn count at the reopen."""
    conn, welcome = await start_visitor(server.url)
    cid = welcome.conversation_id
    await say(conn, "I want to talk to a person")
    sam = await agent(server.url, agent_token)
    await sam.send(AClaim(type="claim", conversation_id=cid, client_msg_id="c1"))
    await wait_ack(sam, "c1")
    await sam.send(AResolve(type="resolve", conversation_id=cid, client_msg_id="r1"))
    resolved_seq = (await wait_ack(sam, "r1"))[-1].seq

    await conn.send(VRequestHuman(type="request_human", client_msg_id="h2", text="still broken"))
    await conn.recv_until(lambda f: isinstance(f, SEvent) and f.event.kind == "escalated")
    kinds = [e.kind for e in await _stored(server, cid) if e.seq > resolved_seq]
    assert kinds[0] == "reopened", kinds
    await conn.close()
    await sam.close()


async def test_resume_with_out_of_range_last_seq_is_invalid_frame(server):
    """``VResume.last_seq`` has a lower bound (``ge=0``) but no upper one; a value ≥ 2**63
    passes validation and reaches SQLite, which raises ``OverflowError``: the visitor gets
    ``internal`` ("internal error") and a traceback is logged, instead of ``invalid_frame``
    for bad input."""
    conn, welcome = await start_visitor(server.url)
    await conn.close()
    conn2 = await connect_visitor(server.url)
    await conn2.send(
        {
            "type": "resume",
            "conversation_id": welcome.conversation_id,
            "resume_token": welcome.resume_token,
            "last_seq": 2**63,
        }
    )
    frame = await conn2.recv(timeout=10)
    assert isinstance(frame, SError), frame
    assert frame.code == "invalid_frame", frame
    await conn2.close()
