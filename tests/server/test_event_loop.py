"""``handoff serve`` runs on uvloop by default (``server.event_loop``), on asyncio's own
loop when asked, and on asyncio's loop with a warning where uvloop cannot be imported
(``handoff_server.event_loop``). A real ``handoff serve`` process answers a real
visitor on each."""

from __future__ import annotations

import asyncio
import logging
import socket
import sys
from pathlib import Path

import pytest
from pydantic import ValidationError

from handoff_server import event_loop
from handoff_server.config import Settings
from tests.helpers import say, serve_logging, start_visitor

pytestmark = pytest.mark.server

# uvloop is a dependency everywhere but Windows (pyproject.toml): missing it is a failure.
HAS_UVLOOP = sys.platform != "win32"


async def _answers_on(loop: str, data_dir: Path, **env: str) -> None:
    proc, url, lines = await asyncio.to_thread(
        serve_logging, data_dir, "--log-level", "INFO", env=env
    )
    try:
        said = [line for line in lines if "event loop:" in line]
        assert said and said[0].rstrip().endswith(f"event loop: {loop}"), lines
        conn, _ = await start_visitor(url, name="Ada")
        frames = await say(conn, "how do I set up an email account for a new employee")
        assert frames[-1].event.kind == "ai_message", frames[-1]
        await conn.close()
    finally:
        proc.terminate()
        assert await asyncio.to_thread(proc.wait, 30) == 0


@pytest.mark.skipif(not HAS_UVLOOP, reason="no uvloop on Windows")
async def test_serve_runs_on_uvloop_by_default(tmp_path: Path) -> None:
    await _answers_on("uvloop", tmp_path / "data")


async def test_serve_runs_on_asyncios_loop_when_configured(tmp_path: Path) -> None:
    await _answers_on("asyncio", tmp_path / "data", HANDOFF_SERVER__EVENT_LOOP="asyncio")


def test_the_event_loop_setting_is_validated() -> None:
    assert Settings().server.event_loop == "uvloop"
    assert Settings(server={"event_loop": "asyncio"}).server.event_loop == "asyncio"  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="event_loop"):
        Settings(server={"event_loop": "tokio"})  # type: ignore[arg-type]


@pytest.mark.skipif(not HAS_UVLOOP, reason="no uvloop on Windows")
def test_uvloop_runs_the_coroutine_on_a_uvloop_loop() -> None:
    async def which() -> str:
        return event_loop.loop_name(asyncio.get_running_loop())

    assert event_loop.run(which(), "uvloop") == "uvloop"
    assert event_loop.run(which(), "asyncio") == "asyncio"


def test_without_uvloop_the_server_falls_back_to_asyncio_and_says_so(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setitem(sys.modules, "uvloop", None)  # import uvloop raises ImportError
    with caplog.at_level(logging.WARNING, logger="handoff_server.event_loop"):
        assert event_loop.loop_factory("uvloop") is None
    assert "uvloop cannot be imported" in caplog.text
    assert event_loop.loop_factory("asyncio") is None


def _refusal_on(url: str, held: int) -> bytes:
    """Hold ``held`` silent connections to the server at ``url``, then open one more and
    return everything the server writes to it before it closes."""
    host, port = url.removeprefix("ws://").split("/")[0].rsplit(":", 1)
    silent = [socket.create_connection((host, int(port))) for _ in range(held)]
    try:
        with socket.create_connection((host, int(port)), timeout=10) as extra:
            answer = b""
            while chunk := extra.recv(4096):
                answer += chunk
            return answer
    finally:
        for sock in silent:
            sock.close()


@pytest.mark.parametrize(
    "loop",
    [
        pytest.param(
            "uvloop", marks=pytest.mark.skipif(not HAS_UVLOOP, reason="no uvloop on Windows")
        ),
        "asyncio",
    ],
)
async def test_a_connection_over_the_cap_gets_503_on_each_event_loop(
    tmp_path: Path, loop: str
) -> None:
    """On uvloop (the default) the refusal asserted an ``asyncio.WriteTransport``, which
    uvloop's transport is not: the client over ``max_connections_per_ip`` got a reset
    instead of the documented ``HTTP 503 too_many_connections`` with ``Retry-After``."""
    proc, url, lines = await asyncio.to_thread(
        serve_logging,
        tmp_path / "data",
        env={"HANDOFF_SERVER__EVENT_LOOP": loop, "HANDOFF_SERVER__MAX_CONNECTIONS_PER_IP": "3"},
    )
    try:
        answer = await asyncio.to_thread(_refusal_on, url, 3)
        assert answer.startswith(b"HTTP/1.1 503 "), (answer, lines)
        assert b"\r\nRetry-After: " in answer and answer.endswith(b"too_many_connections\n")
        conn, _ = await start_visitor(url, name="Ada")  # the cap is per open connection
        await conn.close()
    finally:
        proc.terminate()
        assert await asyncio.to_thread(proc.wait, 30) == 0
    assert not [line for line in lines if "Traceback" in line or "AssertionError" in line]
