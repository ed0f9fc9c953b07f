"""Shared fixtures: a real server on an ephemeral port, real clients, real tokens."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from handoff_server.ai import Answerer, make_answerer
from handoff_server.ai.courtesy_layer import without_courtesy
from handoff_server.app import RunningServer, start_server
from handoff_server.config import Settings, load_settings
from handoff_server.kb import load_kb
from handoff_server.store import AgentRecord, hash_token, utcnow


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests never see the developer's HANDOFF_* settings."""
    for key in list(os.environ):
        if key.startswith("HANDOFF_"):
            monkeypatch.delenv(key)


@pytest.fixture(scope="session")
def demo_answerer(tmp_path_factory: pytest.TempPathFactory) -> Answerer:
    """The default engine over the bundled demo KB, built once per test session (the
    engine itself: the server puts its courtesy layer around whatever answerer it gets)."""
    answerer = make_answerer(load_kb(None), "default", cache_dir=tmp_path_factory.mktemp("cache"))
    return without_courtesy(answerer)


def make_settings(data_dir: Path, **sections: dict[str, Any]) -> Settings:
    """Settings for a test server: port 0, the given data dir, plus section overrides."""
    overrides: dict[str, Any] = {"server": {"port": 0}, "store": {"data_dir": data_dir}}
    for name, values in sections.items():
        overrides.setdefault(name, {}).update(values)
    return load_settings(None, overrides)


ServerFactory = Callable[..., Awaitable[RunningServer]]


@pytest.fixture
async def server_factory(tmp_path: Path, demo_answerer: Answerer) -> AsyncIterator[ServerFactory]:
    """Start real servers: ``await server_factory(server={...}, policy={...})``."""
    started: list[RunningServer] = []

    async def factory(
        answerer: Answerer | None = None, data_dir: Path | None = None, **sections: dict[str, Any]
    ) -> RunningServer:
        settings = make_settings(data_dir or tmp_path / f"data-{len(started)}", **sections)
        srv = await start_server(settings, answerer=answerer or demo_answerer)
        started.append(srv)
        return srv

    yield factory
    for srv in started:
        await srv.close()


@pytest.fixture
async def server(server_factory: ServerFactory) -> RunningServer:
    """A real server with the demo KB on an ephemeral port."""
    return await server_factory()


async def create_token(
    srv: RunningServer,
    name: str = "Sam",
    role: str = "agent",
    teams: list[str] | None = None,
    capacity: int | None = None,
) -> str:
    """Create an agent/operator in the server's store (serving ``teams``, none: every
    team; ``capacity``, ``None``: the default); returns the token."""
    token = "hnd_test_" + uuid.uuid4().hex
    rec = AgentRecord(
        id="agt_" + uuid.uuid4().hex[:8],
        name=name,
        role=role,
        token_hash=hash_token(token),
        created_at=utcnow(),
        teams=teams or [],
        capacity=capacity,
    )
    await srv.store.call(srv.store.store.create_agent, rec)
    return token


@pytest.fixture
async def agent_token(server: RunningServer) -> str:
    """A token for agent "Sam" on ``server``."""
    return await create_token(server)
