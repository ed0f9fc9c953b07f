"""Hostile handshakes and frames (issue 14, "Auth and data"): duplicate headers, lone
surrogates in any string field, typing without the right to reply. Each docstring tells
the fault the test pins."""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

import httpx
import pytest

from handoff_server.client import connect_visitor
from handoff_server.protocol import AClaim, SAck, SError, STyping
from tests.conftest import create_token
from tests.helpers import agent, say, start_visitor, wait_ack


async def _http(port: int, head: str) -> tuple[int, str]:
    """Send a raw HTTP request head to the server; returns (status, whole answer)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(head.encode("latin-1"))
    await writer.drain()
    data = await asyncio.wait_for(reader.read(65536), 10)
    writer.close()
    text = data.decode("latin-1")
    return int(text.split(" ", 2)[1]), text


def _upgrade(path: str, *extra: str) -> str:
    lines = [
        f"GET {path} HTTP/1.1",
        "Host: 127.0.0.1",
        "Upgrade: websocket",
        "Connection: Upgrade",
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
        "Sec-WebSocket-Version: 13",
        *extra,
    ]
    return "\r\n".join(lines) + "\r\n\r\n"


@pytest.mark.parametrize(
    ("path", "headers"),
    [
        ("/v1/visitor", ["Origin: https://a.example", "Origin: https://b.example"]),
        ("/v1/agent", ["Authorization: Bearer x", "Authorization: Bearer y"]),
        ("/v1/agent", ["Origin: https://a.example", "Origin: https://a.example"]),
    ],
)
async def test_a_duplicate_header_is_a_400_not_a_500_with_a_traceback(
    server_factory: Any, caplog: pytest.LogCaptureFixture, path: str, headers: list[str]
) -> None:
    """Two ``Origin`` (or ``Authorization``) headers make ``Headers.get`` raise
    ``MultipleValuesError`` inside ``process_request``: websockets answers HTTP 500 and
    logs a traceback (an anonymous client can fill the log). A request the server cannot
    read is the client's mistake: 400, naming the header, no traceback."""
    srv = await server_factory(server={"allowed_origins": ["https://a.example"]})
    with caplog.at_level(logging.ERROR):
        status, answer = await _http(srv.port, _upgrade(path, *headers))
    assert status == 400, answer
    assert "duplicate" in answer.lower(), answer
    assert not [r for r in caplog.records if r.exc_info], [r.getMessage() for r in caplog.records]


@pytest.mark.parametrize("key", ["client_msg_id", "request_id"])
async def test_a_lone_surrogate_in_an_echoed_id_gets_an_error_frame(server: Any, key: str) -> None:
    """A frame refused for its shape has its ``client_msg_id`` (or ``request_id``)
    echoed in the ``error``: one holding a lone surrogate (JSON ``"\\ud800"``) passed the
    echo's plausibility check, then the error frame itself could not be serialised and
    the connection died with 1011. Every id echoed back must be one the server can
    send."""
    conn, _ = await start_visitor(server.url)
    await conn.send('{"type": "message", "' + key + '": "ab\\ud800", "text": "hi"}')
    frame = await conn.recv(timeout=10)
    assert isinstance(frame, SError) and frame.code == "invalid_frame", frame
    assert frame.client_msg_id is None and frame.request_id is None
    # The connection is still open and works.
    assert await say(conn, "how do I reset my password")
    await conn.close()


@pytest.mark.parametrize(
    "field",
    ["visitor.name", "visitor.email", "visitor.page_url", "visitor.fields.k", "visitor.fields"],
)
async def test_a_lone_surrogate_in_any_start_field_is_refused(server: Any, field: str) -> None:
    """Every string field of every frame is checked for lone surrogates, keys included
    (``visitor.fields`` here means a surrogate in a field's *name*): the frame is refused
    with ``invalid_frame`` and nothing is stored."""
    visitor: dict[str, Any] = {"name": "Ada", "fields": {"k": "v"}}
    parts = field.split(".")
    if field == "visitor.fields":
        visitor["fields"] = {"k\ud800": "v"}
    elif len(parts) == 3:
        visitor["fields"][parts[2]] = "x\ud800"
    else:
        visitor[parts[1]] = "x\ud800"
    raw = json.dumps({"type": "start", "visitor": visitor})  # ensure_ascii: \ud800 escaped
    conn = await connect_visitor(server.url)
    await conn.send(raw)
    frame = await conn.recv(timeout=10)
    assert isinstance(frame, SError) and frame.code == "invalid_frame", frame
    rows = await server.store.call(server.store.store.list_conversations, ["ai"])
    assert rows == []
    await conn.close()


@pytest.mark.parametrize(
    "frame",
    [
        {"type": "message", "client_msg_id": "m1", "text": "refund\u0000 please"},
        {"type": "message", "client_msg_id": "m\u00001", "text": "refund please"},
    ],
    ids=["text", "client_msg_id"],
)
async def test_a_nul_in_a_visitor_message_is_refused_and_nothing_stored(
    server: Any, frame: dict[str, Any]
) -> None:
    """A NUL (U+0000) passed every check and was stored on SQLite, while PostgreSQL's
    ``jsonb`` refuses it: one backend kept what the other failed to store. Every
    client's frame with a NUL in any string is refused (``invalid_frame``), nothing is
    stored, and the connection goes on."""
    conn, welcome = await start_visitor(server.url)
    await conn.send(json.dumps(frame))  # the NUL as JSON's \u0000 escape
    refused = await conn.recv(timeout=10)
    assert isinstance(refused, SError) and refused.code == "invalid_frame", refused
    assert "NUL" in refused.detail
    events = await server.store.call(server.store.store.events_after, welcome.conversation_id, 0)
    assert [e.kind for e in events] == ["conversation_started"]
    assert await say(conn, "how do I reset my password")
    await conn.close()


async def test_a_nul_in_a_start_field_name_is_refused(server: Any) -> None:
    conn = await connect_visitor(server.url)
    await conn.send(json.dumps({"type": "start", "visitor": {"fields": {"k\u0000": "v"}}}))
    frame = await conn.recv(timeout=10)
    assert isinstance(frame, SError) and frame.code == "invalid_frame", frame
    rows = await server.store.call(server.store.store.list_conversations, ["ai"])
    assert rows == []
    await conn.close()


async def _queued(server: Any) -> tuple[Any, str]:
    conn, welcome = await start_visitor(server.url)
    await say(conn, "I want to talk to a person")
    return conn, welcome.conversation_id


async def _typing_seen(conn: Any, quiet: float = 1.0) -> list[Any]:
    seen = []
    try:
        while True:
            frame = await conn.recv(timeout=quiet)
            if isinstance(frame, STyping):
                seen.append(frame)
    except TimeoutError:
        return seen


async def test_typing_needs_the_right_to_reply(server: Any) -> None:
    """Any signed-in agent could send ``typing`` into any conversation, even one another
    agent holds or one still with the AI: the visitor saw "Mallory is typing". Typing
    needs the same right as replying (the conversation is yours): others get the error
    a ``reply`` would (``conflict``, ``invalid_state``), and nobody sees their typing."""
    sam = await agent(server.url, await create_token(server, "Sam"))
    mal = await agent(server.url, await create_token(server, "Mallory"))
    visitor, cid = await _queued(server)

    await mal.send({"type": "typing", "conversation_id": cid, "active": True})
    refused = (await mal.recv_until(lambda f: isinstance(f, SError)))[-1]
    assert refused.code == "invalid_state", refused

    await sam.send(AClaim(type="claim", conversation_id=cid, client_msg_id="c1"))
    assert isinstance((await wait_ack(sam, "c1"))[-1], SAck)
    await mal.send({"type": "typing", "conversation_id": cid, "active": True})
    refused = (await mal.recv_until(lambda f: isinstance(f, SError)))[-1]
    assert refused.code == "conflict", refused
    await mal.send({"type": "typing", "conversation_id": "conv-nope", "active": True})
    refused = (await mal.recv_until(lambda f: isinstance(f, SError)))[-1]
    assert refused.code == "not_found", refused
    assert not [t for t in await _typing_seen(visitor) if t.name == "Mallory"]

    # The holder's typing still reaches the visitor.
    await sam.send({"type": "typing", "conversation_id": cid, "active": True})
    seen = await _typing_seen(visitor)
    assert [t.name for t in seen] == ["Sam"], seen
    await visitor.close()


METRICS_TOKEN = "m3trics-scrape-token-0123"


async def test_metrics_token_guards_metrics_only(server_factory: Any) -> None:
    """``/metrics`` was open to anyone who reached the port (the visitors' port):
    agents online, connections, frame counts. With ``[server] metrics_token`` set it
    answers 401 with a Bearer challenge unless the request carries that token; a
    duplicate ``Authorization`` is a 400; health checks stay open."""
    srv = await server_factory(server={"metrics_token": METRICS_TOKEN})
    base = srv.url.replace("ws://", "http://")
    async with httpx.AsyncClient() as client:
        bare = await client.get(base + "/metrics")
        assert bare.status_code == 401 and "metrics_token" in bare.text
        assert bare.headers["www-authenticate"].startswith("Bearer")
        assert "handoff_agents_online" not in bare.text
        wrong = await client.get(base + "/metrics", headers={"Authorization": "Bearer nope"})
        assert wrong.status_code == 401
        good = {"Authorization": f"Bearer {METRICS_TOKEN}"}
        right = await client.get(base + "/metrics", headers=good)
        assert right.status_code == 200 and "handoff_agents_online 0" in right.text
        assert (await client.get(base + "/readyz")).status_code == 200
    twice = f"Authorization: Bearer {METRICS_TOKEN}\r\n" * 2
    status, answer = await _http(srv.port, f"GET /metrics HTTP/1.1\r\nHost: x\r\n{twice}\r\n")
    assert status == 400 and "duplicate" in answer.lower(), answer


@pytest.mark.parametrize(
    ("host", "token", "warned"),
    [("0.0.0.0", None, True), ("0.0.0.0", METRICS_TOKEN, False), ("127.0.0.1", None, False)],
)
async def test_open_metrics_beyond_loopback_is_warned_at_start(
    server_factory: Any,
    caplog: pytest.LogCaptureFixture,
    host: str,
    token: str | None,
    warned: bool,
) -> None:
    """A server listening beyond loopback without ``metrics_token`` says at start that
    ``/metrics`` is open to anyone who reaches it; with the token, or on loopback, not."""
    with caplog.at_level(logging.WARNING, logger="handoff_server.app"):
        await server_factory(server={"host": host, "metrics_token": token})
    said = [r.getMessage() for r in caplog.records if "/metrics is open" in r.getMessage()]
    assert bool(said) is warned, said
