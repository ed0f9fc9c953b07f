"""Tokens that expire and can be revoked, and a server that closes a dead token's open
connections (issue 14). The CLI writes to the store from another process while the
server runs, as an operator would."""

from __future__ import annotations

import asyncio
import sqlite3
import time
import uuid
from datetime import timedelta
from typing import Any

import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus

from handoff_server.client import connect_agent
from handoff_server.protocol import ASubscribeQueue, SError, SQueue
from handoff_server.store import AgentRecord, hash_token, utcnow
from tests.helpers import agent, run_handoff


async def _closed_with(conn: Any, within: float) -> tuple[list[Any], int | None, float]:
    """Frames received until the server closes the connection; its close code and how
    long it took (seconds). Fails if it stays open ``within`` seconds."""
    frames: list[Any] = []
    start = time.monotonic()
    try:
        while True:
            frames.append(await conn.recv(timeout=within))
    except ConnectionClosed as exc:
        code = exc.rcvd.code if exc.rcvd is not None else None
        return frames, code, time.monotonic() - start
    except TimeoutError:
        pytest.fail(f"connection still open after {within} s; got {frames}")


async def _token(srv: Any, name: str, expires_in: float | None = None) -> tuple[str, str]:
    token = "hnd_test_" + uuid.uuid4().hex
    agent_id = "agt_" + uuid.uuid4().hex[:8]
    expires = utcnow() + timedelta(seconds=expires_in) if expires_in is not None else None
    rec = AgentRecord(
        id=agent_id,
        name=name,
        role="agent",
        token_hash=hash_token(token),
        created_at=utcnow(),
        expires_at=expires,
    )
    await srv.store.call(srv.store.store.create_agent, rec)
    return token, agent_id


async def test_an_agent_deleted_from_the_store_is_disconnected(server_factory: Any) -> None:
    """Authentication happened once, at the handshake: an agent removed from the store
    (by another process, straight in the database) kept working on the connection they
    had open, for as long as it stayed open. The server re-reads the agents while any is
    connected and closes (1008) the connections of an agent that is gone, telling them
    why, within ``token_check_seconds`` plus one store read."""
    srv = await server_factory(server={"token_check_seconds": 0.2})
    token, agent_id = await _token(srv, "Gone")
    conn = await agent(srv.url, token)
    db = sqlite3.connect(srv.store.store.path)  # type: ignore[attr-defined]
    db.execute("DELETE FROM agents WHERE id = ?", (agent_id,))
    db.commit()
    db.close()
    frames, code, took = await _closed_with(conn, within=5)
    assert code == 1008, (code, frames)
    assert any(isinstance(f, SError) and f.code == "unauthorized" for f in frames), frames
    assert took < 2.0, took


async def test_token_revoke_closes_live_connections_and_refuses_new_ones(
    server_factory: Any, tmp_path: Any
) -> None:
    """``handoff token revoke`` (another process, on the server's data dir): the agent's
    open connections get ``unauthorized`` ("token revoked") and close with 1008 within
    the guard's interval (1 s by default, the documented bound) plus one store read; a
    new handshake with the token gets HTTP 401; other agents are untouched."""
    data = tmp_path / "data"
    srv = await server_factory(data_dir=data)
    token, agent_id = await _token(srv, "Rev")
    other, _ = await _token(srv, "Stays")
    conns = [await agent(srv.url, token), await agent(srv.url, token)]
    stays = await agent(srv.url, other)

    result = await run_handoff("token", "revoke", agent_id, "--data-dir", str(data))
    assert result.returncode == 0, result.stderr
    assert "revoked" in result.stdout
    for conn in conns:
        frames, code, took = await _closed_with(conn, within=5)
        assert code == 1008
        refused = [f for f in frames if isinstance(f, SError)]
        assert refused and refused[-1].detail == "token revoked", frames
        assert took < 1.0 + 1.0, took  # interval + a store read, with room for a busy CI
    with pytest.raises(InvalidStatus) as exc:
        await connect_agent(srv.url, token)
    assert exc.value.response.status_code == 401
    await stays.send(ASubscribeQueue(type="subscribe_queue"))
    assert await stays.recv_until(lambda f: isinstance(f, SQueue))

    listed = await run_handoff("token", "list", "--json", "--data-dir", str(data))
    states = {r["id"]: r["state"] for r in __import__("json").loads(listed.stdout)}
    assert states[agent_id] == "revoked" and list(states.values()).count("active") == 1


async def test_an_expired_token_stops_at_its_next_frame_and_at_sign_in(server_factory: Any) -> None:
    """A token with an expiry works until it, then its next frame is refused
    (``unauthorized``, "token expired") and the connection closed, and signing in again
    is refused."""
    srv = await server_factory(server={"token_check_seconds": 60})
    token, _ = await _token(srv, "Brief", expires_in=1.5)
    conn = await agent(srv.url, token)
    await conn.send(ASubscribeQueue(type="subscribe_queue"))
    assert await conn.recv_until(lambda f: isinstance(f, SQueue))
    await asyncio.sleep(1.6)
    await conn.send(ASubscribeQueue(type="subscribe_queue"))
    frames, code, _ = await _closed_with(conn, within=5)
    assert code == 1008
    assert [f.detail for f in frames if isinstance(f, SError)] == ["token expired"], frames
    with pytest.raises(InvalidStatus):
        await connect_agent(srv.url, token)


async def test_token_create_expires_in(tmp_path: Any) -> None:
    """``--expires-in`` takes a duration (30d, 12h, ...) and refuses anything else."""
    data = str(tmp_path / "d")
    ok = await run_handoff(
        "token", "create", "--name", "A", "--expires-in", "12h", "--data-dir", data
    )
    assert ok.returncode == 0, ok.stderr
    assert "expires " in ok.stdout
    bad = await run_handoff(
        "token", "create", "--name", "B", "--expires-in", "soon", "--data-dir", data
    )
    assert bad.returncode == 2 and "error[invalid_option]" in bad.stderr
    listed = await run_handoff("token", "list", "--data-dir", data)
    assert "active" in listed.stdout and "expires" in listed.stdout
