"""The first index build runs while the server already listens: ``/healthz`` is alive,
``/readyz`` says 503 "building index" and handshakes are refused with a stable code until
the answerer is in place; then everything is ready (``handoff_server.warmup``)."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.exceptions import InvalidStatus

import handoff_server.answering as answering
from handoff_server.ai import Answerer
from handoff_server.app import run_forever, start_server
from handoff_server.client import connect_visitor
from handoff_server.errors import AnswererError
from tests.conftest import make_settings
from tests.helpers import events, run_handoff, say, start_visitor

pytestmark = pytest.mark.server


def _slow_build(
    monkeypatch: pytest.MonkeyPatch, answerer: Answerer, release: threading.Event
) -> list[str]:
    """Make the server's index build wait for ``release``, then give ``answerer``.
    Returns the engines it was asked to build (to prove the build really ran)."""
    calls: list[str] = []

    def build(kb: Any, engine: str, cache_dir: Path, progress: Any) -> Answerer:
        calls.append(engine)
        assert release.wait(60), "the test never released the build"
        return answerer

    monkeypatch.setattr(answering, "make_answerer", build)
    return calls


async def _until_ready(client: httpx.AsyncClient, base: str) -> httpx.Response:
    for _ in range(200):
        r = await client.get(base + "/readyz")
        if r.status_code == 200:
            return r
        await asyncio.sleep(0.05)
    raise AssertionError("never ready")


async def test_readyz_is_503_while_the_first_index_builds_then_200(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, demo_answerer: Answerer
) -> None:
    release = threading.Event()
    calls = _slow_build(monkeypatch, demo_answerer, release)
    server = await start_server(make_settings(tmp_path / "data"), build_in_background=True)
    base = server.url.replace("ws://", "http://")
    try:
        async with httpx.AsyncClient() as client:
            assert (await client.get(base + "/healthz")).status_code == 200
            ready = await client.get(base + "/readyz")
            assert (ready.status_code, ready.text) == (503, "not ready: building index\n")
            # A visitor meanwhile is told to come back, with a stable code; nothing stored.
            with pytest.raises(InvalidStatus) as refused:
                await connect_visitor(server.url)
            response = refused.value.response
            assert response.status_code == 503
            assert response.headers["Retry-After"] == "5"
            assert response.body.decode().startswith("not_ready: building index")
            assert calls == ["default"]
            visit = await run_handoff("visit", "--server", server.url, "-m", "hello")
            assert visit.returncode == 2
            assert visit.stderr.startswith("error[not_ready]: the server is still starting")

            release.set()
            assert (await _until_ready(client, base)).text == "ready\n"
        conn, _ = await start_visitor(server.url)
        frames = await say(conn, "how do I reset my password")
        assert events(frames, "ai_message"), frames
        await conn.close()
    finally:
        release.set()
        await server.close()


async def test_a_failed_first_build_stops_the_server_with_its_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: Any) -> Answerer:
        raise AnswererError("the knowledge base has no answerable entries")

    monkeypatch.setattr(answering, "make_answerer", broken)
    with pytest.raises(AnswererError):
        await asyncio.wait_for(run_forever(make_settings(tmp_path / "data"), announce=False), 30)


async def test_stopping_during_the_build_does_not_wait_for_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, demo_answerer: Answerer
) -> None:
    release = threading.Event()
    _slow_build(monkeypatch, demo_answerer, release)
    server = await start_server(make_settings(tmp_path / "data"), build_in_background=True)
    try:
        await asyncio.wait_for(server.close(), 5)
        assert server.warming is not None and server.warming.cancelled()
    finally:
        release.set()


async def test_readyz_names_both_causes_when_the_store_fails_during_the_build(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, demo_answerer: Answerer
) -> None:
    """Two reasons not to be ready (the first build, issue 18; a store that cannot
    write, issue 14): ``/readyz`` names each alone, and both when both hold."""
    from tests.server.test_disk_full import _fill, _unfill

    release = threading.Event()
    _slow_build(monkeypatch, demo_answerer, release)
    server = await start_server(make_settings(tmp_path / "data"), build_in_background=True)
    base = server.url.replace("ws://", "http://")
    try:
        async with httpx.AsyncClient() as client:
            await server.store.call(_fill, server)
            await asyncio.sleep(1.1)  # past the last write probe
            r = await client.get(base + "/readyz")
            assert r.status_code == 503
            assert r.text.startswith("not ready: building index; store unavailable: "), r.text
            assert "full" in r.text, r.text
            await server.store.call(_unfill, server)
            await asyncio.sleep(1.1)
            r = await client.get(base + "/readyz")
            assert (r.status_code, r.text) == (503, "not ready: building index\n")
            release.set()
            assert (await _until_ready(client, base)).text == "ready\n"
    finally:
        release.set()
        await server.close()
