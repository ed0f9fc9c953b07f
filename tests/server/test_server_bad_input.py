"""Bad input: each gets an error with a stable code (or an HTTP status at the handshake),
nothing is stored for it, and the server keeps serving everyone else."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus

from handoff_server.client import connect_agent, connect_visitor, new_client_msg_id
from handoff_server.protocol import SError, SWelcome, VResume
from tests.helpers import events, say, start_visitor


async def _stored(server, cid):
    return await server.store.call(server.store.store.events_after, cid, 0)


async def _error(conn) -> SError:
    frame = await conn.recv(timeout=10)
    assert isinstance(frame, SError), frame
    return frame


BAD_VISITOR_FRAMES = [
    ("{not json", "invalid_json"),
    ("[1, 2]", "invalid_frame"),
    ('"hello"', "invalid_frame"),
    ('{"text": "no type"}', "invalid_frame"),
    ('{"type": "teleport"}', "unknown_type"),
    ('{"type": "message", "text": "missing id"}', "invalid_frame"),
    ('{"type": "message", "client_msg_id": "m1"}', "invalid_frame"),
    ('{"type": "message", "client_msg_id": "m1", "text": "hi", "admin": true}', "invalid_frame"),
    ('{"type": "message", "client_msg_id": "bad id with spaces", "text": "hi"}', "invalid_frame"),
    ('{"type": "message", "client_msg_id": "m1", "text": 42}', "invalid_frame"),
    ('{"type": "message", "client_msg_id": "m1", "text": ""}', "empty_message"),
    ('{"type": "message", "client_msg_id": "m1", "text": "   \\n\\t "}', "empty_message"),
    ('{"type": "start"}', "already_started"),
    # Python's parser reads these, JSON has no such numbers (RFC 8259 section 6): they
    # were let through to the models, where a float field would have taken them.
    ('{"type": "message", "client_msg_id": "m1", "text": NaN}', "invalid_json"),
    ('{"type": "typing", "active": -Infinity}', "invalid_json"),
    ('{"type": "resume", "conversation_id": "c", "last_seq": Infinity}', "invalid_json"),
]


@pytest.mark.parametrize(("raw", "code"), BAD_VISITOR_FRAMES)
async def test_bad_visitor_frame_is_refused_and_changes_nothing(server, raw, code):
    conn, welcome = await start_visitor(server.url)
    before = await _stored(server, welcome.conversation_id)
    await conn.send(raw)
    err = await _error(conn)
    assert err.code == code, err
    assert await _stored(server, welcome.conversation_id) == before
    # The same connection keeps working.
    frames = await say(conn, "how do I reset my password")
    assert events(frames, "ai_message")
    await conn.close()


async def test_message_longer_than_limit_is_refused(server_factory):
    server = await server_factory(server={"max_message_chars": 50})
    conn, welcome = await start_visitor(server.url)
    await conn.send({"type": "message", "client_msg_id": "long1", "text": "x" * 51})
    err = await _error(conn)
    assert err.code == "message_too_long" and err.client_msg_id == "long1"
    assert [e.kind for e in await _stored(server, welcome.conversation_id)] == [
        "conversation_started"
    ]
    # Exactly at the limit is accepted.
    frames = await say(conn, "y" * 50)
    assert events(frames, "escalated") or events(frames, "ai_message")
    await conn.close()


async def test_message_before_start_is_refused(server):
    conn = await connect_visitor(server.url)
    await conn.send({"type": "message", "client_msg_id": "m1", "text": "hello"})
    assert (await _error(conn)).code == "not_started"
    await conn.close()


@pytest.mark.parametrize("case", ["unknown_conversation", "wrong_token"])
async def test_bad_resume_is_refused(server, case):
    _, welcome = await start_visitor(server.url)
    conn = await connect_visitor(server.url)
    cid = "0" * 32 if case == "unknown_conversation" else welcome.conversation_id
    await conn.send(
        VResume(type="resume", conversation_id=cid, resume_token="not-the-token", last_seq=0)
    )
    err = await _error(conn)
    assert err.code == "bad_resume_token"
    # A correct resume on the same connection still works afterwards.
    await conn.send(
        VResume(
            type="resume",
            conversation_id=welcome.conversation_id,
            resume_token=welcome.resume_token,
            last_seq=0,
        )
    )
    assert isinstance(await conn.recv(timeout=10), SWelcome)
    await conn.close()


async def test_bad_agent_token_gets_401_at_handshake(server):
    with pytest.raises(InvalidStatus) as exc:
        await connect_agent(server.url, "hnd_wrong")
    assert exc.value.response.status_code == 401


async def test_agent_auth_frame_with_bad_token_is_refused(server):
    conn = await connect_agent(server.url, None)
    await conn.send({"type": "auth", "token": "hnd_wrong"})
    err = await _error(conn)
    assert err.code == "unauthorized"
    with pytest.raises(ConnectionClosed):
        await conn.recv(timeout=5)


async def test_agent_frames_validated(server, agent_token):
    from tests.helpers import agent

    sam = await agent(server.url, agent_token)
    for raw, code in [
        ('{"type": "claim", "conversation_id": "abc"}', "invalid_frame"),
        ('{"type": "fly"}', "unknown_type"),
        ("nope", "invalid_json"),
    ]:
        await sam.send(raw)
        assert (await _error(sam)).code == code
    await sam.send({"type": "claim", "conversation_id": "doesnotexist", "client_msg_id": "c1"})
    assert (await _error(sam)).code == "not_found"
    await sam.close()


async def test_oversized_frame_closes_only_that_connection(server_factory):
    server = await server_factory(server={"max_frame_bytes": 2048})
    bad, _ = await start_visitor(server.url)
    good, _ = await start_visitor(server.url)
    await bad.send(json.dumps({"type": "message", "client_msg_id": "big", "text": "z" * 5000}))
    with pytest.raises(ConnectionClosed) as exc:
        await bad.recv(timeout=5)
    assert exc.value.rcvd is not None and exc.value.rcvd.code == 1009
    assert events(await say(good, "how do I reset my password"), "ai_message")
    await good.close()


async def test_rate_limit(server_factory):
    server = await server_factory(server={"rate_limit_per_minute": 5})
    conn, welcome = await start_visitor(server.url)  # the start frame spends one token
    for _ in range(4):
        await conn.send({"type": "typing", "active": True})
    await conn.send({"type": "message", "client_msg_id": new_client_msg_id(), "text": "hi"})
    err = await _error(conn)
    assert err.code == "rate_limited"
    assert [e.kind for e in await _stored(server, welcome.conversation_id)] == [
        "conversation_started"
    ]
    await conn.close()


async def test_health_and_unknown_paths(server):
    base = server.url.replace("ws://", "http://")
    async with httpx.AsyncClient() as client:
        assert (await client.get(base + "/healthz")).status_code == 200
        assert (await client.get(base + "/readyz")).status_code == 200
        metrics = await client.get(base + "/metrics")
        assert metrics.status_code == 200 and "handoff_agents_online 0" in metrics.text
        # one Content-Type, the Prometheus text format's (two confuse scrapers)
        assert metrics.headers.get_list("content-type") == ["text/plain; version=0.0.4"]
        assert (await client.get(base + "/nope")).status_code == 404


async def test_others_keep_being_served_during_a_flood_of_bad_frames(server):
    flooder, _ = await start_visitor(server.url)
    other, _ = await start_visitor(server.url)

    async def flood() -> None:
        for _ in range(40):
            await flooder.send("{garbage")

    await asyncio.gather(flood(), say(other, "how do I reset my password"))
    assert events(await say(other, "how do I set up email on my phone"), "ai_message")
    await flooder.close()
    await other.close()


async def test_visitor_origin_not_allowed_gets_403(server_factory):
    server = await server_factory(server={"allowed_origins": ["https://brambleport.example"]})
    with pytest.raises(InvalidStatus) as exc:
        await connect_visitor(server.url, origin="https://evil.example")
    assert exc.value.response.status_code == 403
    ok = await connect_visitor(server.url, origin="https://brambleport.example")
    await ok.close()
