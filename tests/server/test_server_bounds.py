"""Bounds on what an anonymous visitor or one agent can make the server grow (issue 14):
answers in pages every client of the product puts together, bounded visitor info,
capped and timed-out connections, send queues bounded in bytes, rate limits per address
and per conversation, throttled token guessing. Each docstring tells the fault the test
reproduces; every test runs a real server on an ephemeral port with real clients.
"""

from __future__ import annotations

import asyncio
import json
import logging
import socket
import sys
from pathlib import Path
from typing import Any

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.frames import Frame, Opcode

from handoff_server.client import connect_agent, connect_visitor
from handoff_server.client_reads import read_packet, read_queue
from handoff_server.protocol import (
    AAuth,
    AOpen,
    SConversation,
    SError,
    SWelcome,
    VisitorInfo,
    VMessage,
    VRequestHuman,
    VResume,
    VStart,
)
from handoff_server.store import ConversationRecord, NewEvent, SQLiteStore, hash_token, utcnow
from handoff_tui.messages import ConversationLoaded, QueueReplaced
from handoff_tui.model import AgentModel
from handoff_tui.services import Link, ServerClient
from handoff_tui.settings import TUISettings
from tests.conftest import create_token
from tests.helpers import agent, run_handoff, start_visitor, wait_ack

CLIENT_MAX_FRAME = 2**20
"""The product's clients (``websockets`` defaults) accept frames up to 1 MiB."""

BIG_VISITOR = {
    "name": "Ada",
    "email": "ada@example.com",
    "fields": {f"field-{n:02d}": "x" * 150 for n in range(20)},
}
"""Visitor info near the default bound (20 fields, about 3.5 KB of JSON)."""


def _seed_long_conversation(data_dir: Path, events: int) -> str:
    """A conversation of ``events`` visitor messages of 1,000 characters (about 1.2 MB
    per 1,000 events), written to the store before the server starts."""
    store = SQLiteStore(data_dir)
    now = utcnow()
    cid = "conv-long"
    store.create_conversation(
        ConversationRecord(
            id=cid, status="ai", resume_token_hash=hash_token("resume"),
            created_at=now, updated_at=now, visitor=BIG_VISITOR,
        ),
        [NewEvent(kind="conversation_started", data={"visitor": BIG_VISITOR})],
    )  # fmt: skip
    store.append_events(
        cid,
        [
            NewEvent(kind="visitor_message", data={"text": f"{n:05d} " + "y" * 994})
            for n in range(events)
        ],
        {"first_question": "y" * 1000},
    )
    store.close()
    return cid


def _seed_queue(data_dir: Path, count: int) -> set[str]:
    """``count`` queued conversations, each from a visitor with info near the bound who
    asked for a person with a 4,000-character message, written to the store as the
    server writes them (about 7.5 KB per row when a row carried the whole info)."""
    store = SQLiteStore(data_dir)
    now = utcnow()
    ids = set()
    for n in range(count):
        cid = f"conv-q{n:04d}"
        question = f"{n:04d} " + "z" * 3995
        store.create_conversation(
            ConversationRecord(
                id=cid, status="queued", resume_token_hash=hash_token("resume"),
                created_at=now, updated_at=now, visitor=BIG_VISITOR,
            ),
            [NewEvent(kind="conversation_started", data={"visitor": BIG_VISITOR})],
        )  # fmt: skip
        store.append_events(
            cid,
            [NewEvent(kind="visitor_message", data={"text": question, "request_human": True})],
            {"first_question": question, "queued_at": now},
        )
        ids.add(cid)
    store.close()
    return ids


async def _until(predicate: Any, what: str, timeout: float = 60) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        assert loop.time() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.05)


async def test_a_big_queue_and_a_long_conversation_open_in_every_client(server_factory, tmp_path):
    """The queue was one frame with every row, each carrying the whole visitor info: about
        31 escalations with large visitor info went over the clients' 1 MiB frame limit, and
        the agent UI looped between connected and reconnecting while ``handoff queue``
        crashed; a conversation of ~2,600 events could not be opened (``transcript`` over
        1 MiB). Here 160 queued conversations (visitor info near the bound, 4,000-character
    questions; 1.2 MB as one frame of whole rows)
        and a 3,000-event conversation (~3.5 MB) are read whole by ``read_queue`` /
        ``read_packet``, ``handoff queue``, ``handoff transcript`` and the agent UI's link."""
    data = tmp_path / "data"
    data.mkdir()
    long_cid = _seed_long_conversation(data, 3000)
    queued = _seed_queue(data, 160)
    server = await server_factory(data_dir=data)
    token = await create_token(server)

    async with await agent(server.url, token) as conn:
        rows = await read_queue(conn)
        # (The long conversation may be queued too: its interrupted turn escalates.)
        assert {r.conversation_id for r in rows} - {long_cid} == queued
        sizes = {r.conversation_id: len(r.model_dump_json()) for r in rows}
        assert max(sizes.values()) < 3000, sorted(sizes.items(), key=lambda kv: -kv[1])[:3]
        packet = await read_packet(conn, long_cid)
        assert [e.seq for e in packet.transcript] == list(range(1, packet.last_seq + 1))
        assert packet.last_seq > 3000
        assert packet.visitor.fields == BIG_VISITOR["fields"]  # details come with the packet

    listed = await run_handoff("queue", "--server", server.url, "--token", token)
    assert listed.returncode == 0, listed.stderr
    assert {line.split()[0] for line in listed.stdout.splitlines() if line.strip()} >= queued

    shown = await run_handoff(
        "transcript", long_cid, "--json", "--server", server.url, "--token", token
    )
    assert shown.returncode == 0, shown.stderr
    assert len(json.loads(shown.stdout)["transcript"]) == packet.last_seq

    posted: list[object] = []
    link = Link(ServerClient(server.url, token), TUISettings(), AgentModel(), posted.append)
    task = asyncio.create_task(link.run())
    try:
        await _until(lambda: any(isinstance(m, QueueReplaced) for m in posted), "the queue")
        (replaced,) = [m for m in posted if isinstance(m, QueueReplaced)]
        assert {i.conversation_id for i in replaced.items} - {long_cid} == queued
        assert await link.send(AOpen(type="open", conversation_id=long_cid))
        await _until(lambda: any(isinstance(m, ConversationLoaded) for m in posted), "packet")
        (loaded,) = [m for m in posted if isinstance(m, ConversationLoaded)]
        assert len(loaded.packet.transcript) == packet.last_seq
        assert not any(getattr(m, "state", None) == "reconnecting" for m in posted)
    finally:
        task.cancel()


async def test_every_answer_frame_fits_the_clients_frame_limit(server_factory, tmp_path):
    """The wire itself: each ``conversation`` answer is one page under ``page_bytes``
    (``more`` until the last), the pages cover every event once, in order, and no frame
    the server sends is over the clients' 1 MiB limit."""
    data = tmp_path / "data"
    data.mkdir()
    cid = _seed_long_conversation(data, 1200)
    server = await server_factory(data_dir=data, server={"page_bytes": 64 * 1024})
    token = await create_token(server)
    ws = await connect(
        f"{server.url}/v1/agent", additional_headers={"Authorization": f"Bearer {token}"}
    )
    await ws.recv()  # authenticated
    seqs: list[int] = []
    last_seq, more = 0, True
    while more:
        await ws.send(AOpen(type="open", conversation_id=cid, last_seq=last_seq).model_dump_json())
        while True:
            raw = await asyncio.wait_for(ws.recv(), 10)
            if json.loads(raw)["type"] == "conversation":
                break
        assert len(raw.encode()) < 64 * 1024 + 16 * 1024, len(raw)
        packet = SConversation.model_validate_json(raw).packet
        seqs += [e.seq for e in packet.transcript]
        last_seq, more = seqs[-1], packet.more
    assert seqs == list(range(1, packet.last_seq + 1)) and len(seqs) > 1200
    await ws.close()


async def test_visitor_info_is_bounded_in_fields_and_bytes(server):
    """A visitor's ``start`` could carry 50 fields of 500 characters (about 33 KB, and
    every queue row carried it): it is now refused with ``visitor_info_too_large``
    past ``max_visitor_fields`` fields or ``max_visitor_info_bytes`` bytes, nothing is
    stored, and the visitor can start again with less."""
    conn = await connect_visitor(server.url)
    many = VisitorInfo(fields={f"f{n}": "v" for n in range(21)})
    await conn.send(VStart(type="start", visitor=many))
    refused = await conn.recv(timeout=10)
    assert isinstance(refused, SError) and refused.code == "visitor_info_too_large", refused
    big = VisitorInfo(fields={f"f{n}": "\u00e9" * 300 for n in range(10)})  # ~6 KB UTF-8
    await conn.send(VStart(type="start", visitor=big))
    refused = await conn.recv(timeout=10)
    assert isinstance(refused, SError) and refused.code == "visitor_info_too_large", refused
    assert await server.store.call(server.store.store.list_conversations, ["ai"]) == []
    await conn.send(VStart(type="start", visitor=VisitorInfo(**BIG_VISITOR)))
    assert isinstance(await conn.recv(timeout=10), SWelcome)
    await conn.close()


def _silent_sockets(port: int, count: int) -> list[socket.socket]:
    return [socket.create_connection(("127.0.0.1", port)) for _ in range(count)]


async def _refused_with_503(url: str) -> bytes:
    with pytest.raises(InvalidStatus) as refused:
        await connect_visitor(url)
    assert refused.value.response.status_code == 503
    return refused.value.response.body or b""


async def test_silent_connections_are_capped_per_address_and_closed(server_factory):
    """No cap on connections and no idle timeout: ~1,000 silent connections used up the
    file descriptors and locked every new client out. Now connections from one address
    are capped (``too_many_connections``, HTTP 503, before any handshake), a connection
    that never finishes its handshake is closed after ``handshake_timeout_seconds``, and
    a visitor that never sends ``start`` after ``first_frame_timeout_seconds``."""
    server = await server_factory(
        server={
            "max_connections_per_ip": 5,
            "handshake_timeout_seconds": 1.0,
            "first_frame_timeout_seconds": 1.0,
        }
    )
    silent = _silent_sockets(server.port, 5)
    try:
        assert b"too_many_connections" in await _refused_with_503(server.url)
        await asyncio.sleep(2.0)  # the silent ones time out
        for sock in silent:
            sock.settimeout(2)
            assert sock.recv(1024) == b"", "closed by the server"
    finally:
        for sock in silent:
            sock.close()
    conn = await connect_visitor(server.url)  # room again
    with pytest.raises(ConnectionClosed) as closed:
        await conn.recv(timeout=5)  # never started: closed
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1008
    conn, _ = await start_visitor(server.url)  # a visitor who starts stays
    await asyncio.sleep(1.5)
    await conn.send(VMessage(type="message", client_msg_id="still-here", text="hello"))
    assert not isinstance((await wait_ack(conn, "still-here"))[-1], SError)
    await conn.close()


async def test_total_connections_are_capped_and_refusals_logged_once_per_interval(
    server_factory, caplog
):
    """Past ``max_connections`` in all, new connections get HTTP 503 ``too_many_connections``;
    a flood of refusals writes one log line per interval (it wrote 117 MB of tracebacks
    in 25 s), and the server serves again once connections close."""
    server = await server_factory(
        server={
            "max_connections": 4,
            "max_connections_per_ip": 100,
            "handshake_timeout_seconds": 30,
        }
    )
    caplog.set_level(logging.INFO)
    silent = _silent_sockets(server.port, 4)
    try:
        for _ in range(30):
            await _refused_with_503(server.url)
    finally:
        for sock in silent:
            sock.close()
    overload = [r for r in caplog.records if "too_many_connections" in r.getMessage()]
    assert len(overload) == 1, [r.getMessage() for r in overload]
    assert not [r for r in caplog.records if r.exc_info], "no tracebacks"
    await asyncio.sleep(0.2)
    conn, _ = await start_visitor(server.url)
    await conn.close()


def _held_bytes(server: Any) -> int:
    """What the server holds for its agent connections: the frames in their send queues
    and the bytes in their transports' write buffers."""
    total = 0
    for sub in server.gateway.hub.agents:
        for item in list(sub.queue._queue):
            total += sys.getsizeof(item if isinstance(item, str) else item[0])
    for conn in server.gateway.server.connections:
        total += conn.transport.get_write_buffer_size()
    return total


def _never_reading_agent(port: int, token: str) -> socket.socket:
    """An agent connection whose client never reads: a raw socket with a small receive
    buffer that does the websocket handshake and then only sends."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect(("127.0.0.1", port))
    sock.sendall(
        (
            f"GET /v1/agent HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
            "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
            f"Sec-WebSocket-Version: 13\r\nAuthorization: Bearer {token}\r\n\r\n"
        ).encode()
    )
    answer = b""
    while b"\r\n\r\n" not in answer:
        answer += sock.recv(1)
    assert answer.startswith(b"HTTP/1.1 101"), answer
    return sock


async def test_an_agent_that_asks_and_never_reads_holds_a_bounded_send_queue(
    server_factory, tmp_path
):
    """Agent connections that asked for a 3 MB transcript again and again and never read
    grew the server from 208 MB to 1.17 GB (the send queue was bounded in frames only).
    Now the answers are pages and the server reads the next request only once the
    connection's queue is under ``send_queue_bytes``: what it holds stays within that
    plus one page (and the socket's buffers), however many requests wait."""
    data = tmp_path / "data"
    data.mkdir()
    cid = _seed_long_conversation(data, 1000)
    limits = {"send_queue_bytes": 256 * 1024, "page_bytes": 64 * 1024}
    server = await server_factory(data_dir=data, server={**limits, "rate_limit_per_minute": 10_000})
    sock = await asyncio.to_thread(_never_reading_agent, server.port, await create_token(server))
    try:
        frame = AOpen(type="open", conversation_id=cid, subscribe=False).model_dump_json()
        for _ in range(40):
            await asyncio.to_thread(
                sock.sendall, Frame(Opcode.TEXT, frame.encode()).serialize(mask=True)
            )
        await asyncio.sleep(3.0)
        held = _held_bytes(server)
        assert held <= 256 * 1024 + 3 * 64 * 1024, f"{held} bytes held"
    finally:
        sock.close()


async def test_rate_limits_hold_across_connections_of_one_conversation(server_factory):
    """Rate limits were per connection only: 10 connections to one conversation stored
    571 messages in 3 s against a limit of 60 a minute. A conversation's visitor
    connections now share ``rate_limit_per_conversation_per_minute``."""
    server = await server_factory(server={"rate_limit_per_conversation_per_minute": 20})
    conn, welcome = await start_visitor(server.url)
    await conn.send(VRequestHuman(type="request_human", client_msg_id="h0"))
    await wait_ack(conn, "h0")
    cid = welcome.conversation_id

    async def flood(n: int) -> None:
        c = await connect_visitor(server.url)
        await c.send(
            VResume(
                type="resume", conversation_id=cid, resume_token=welcome.resume_token, last_seq=0
            )
        )
        for m in range(10):
            await c.send(VMessage(type="message", client_msg_id=f"c{n}-{m}", text="hi"))
        await wait_ack(c, f"c{n}-9")
        await c.close()

    await asyncio.gather(*(flood(n) for n in range(10)))
    stored = await server.store.call(server.store.store.events_after, cid, 0)
    messages = [e for e in stored if e.kind == "visitor_message"]
    assert len(messages) <= 20 + 2, len(messages)  # the bucket, and its refill meanwhile
    await conn.close()


async def test_rate_limits_hold_across_conversations_of_one_address(server_factory):
    """One address opening many conversations had a fresh limit on each connection; all
    its connections now share ``rate_limit_per_ip_per_minute``."""
    server = await server_factory(server={"rate_limit_per_ip_per_minute": 40})
    conns = [(await start_visitor(server.url))[0] for _ in range(5)]
    refused = 0
    for m in range(12):
        for conn in conns:
            await conn.send(VRequestHuman(type="request_human", client_msg_id=f"r{m}"))
            answer = (await wait_ack(conn, f"r{m}"))[-1]
            refused += isinstance(answer, SError) and answer.code == "rate_limited"
    for conn in conns:
        await conn.close()
    assert refused >= 65 - 40 - 2, refused  # 65 frames (5 starts) against 40, and refill


async def test_failed_token_attempts_are_throttled_per_address(server_factory):
    """Token guessing was unlimited. Past ``auth_failures_per_ip_per_minute`` failed
    attempts, every attempt from the address is refused (``rate_limited``: HTTP 429 at
    the handshake, an ``error`` frame after ``auth``), a valid token too, for now."""
    server = await server_factory(server={"auth_failures_per_ip_per_minute": 3})
    token = await create_token(server)
    for _ in range(3):
        with pytest.raises(InvalidStatus) as bad:
            await connect_agent(server.url, "hnd_guess")
        assert bad.value.response.status_code == 401
    with pytest.raises(InvalidStatus) as throttled:
        await connect_agent(server.url, token)
    assert throttled.value.response.status_code == 429
    assert b"rate_limited" in (throttled.value.response.body or b"")
    # When to come back: a bucket of 3 a minute holds one attempt again within 20 s.
    wait = throttled.value.response.headers["Retry-After"]
    assert wait.isdigit() and 1 <= int(wait) <= 20, wait
    conn = await connect_agent(server.url, None)
    await conn.send(AAuth(type="auth", token=token))
    answer = await conn.recv(timeout=10)
    assert isinstance(answer, SError) and answer.code == "rate_limited", answer
