"""Three server processes on one PostgreSQL database and one NATS server, from
``HANDOFF_TEST_POSTGRES_URL`` and ``HANDOFF_TEST_NATS_URL`` (``.ci/run`` sets both
after checking the services answer); elsewhere the tests skip, saying why."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from handoff_server.store import AgentRecord, hash_token, utcnow
from tests.store.conftest import pg_schema_url  # noqa: F401 - a fixture

NATS_ENV = "HANDOFF_TEST_NATS_URL"
_NATS_URL = os.environ.get(NATS_ENV)
_PG_URL = os.environ.get("HANDOFF_TEST_POSTGRES_URL")

Node = tuple[subprocess.Popen[str], str]
"""A node process and its ws:// URL."""

_HERE = Path(__file__).parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every test here on one xdist worker, one at a time: the nodes of two tests would
    share the NATS server's subjects (each other's notices), however separate their
    PostgreSQL schemas."""
    for item in items:
        if _HERE in item.path.parents:
            item.add_marker(pytest.mark.xdist_group("nats"))


@pytest.fixture
def cluster(pg_schema_url: str, tmp_path: Path) -> Iterator[Callable[..., Node]]:  # noqa: F811
    """``start(slow=False, *options)`` starts one more node on the test's schema and
    NATS (``options``: ``node_proc``'s, e.g. ``"--webhook", URL``); every node still
    running is stopped (SIGTERM, then SIGKILL) after the test."""
    if _NATS_URL is None:
        pytest.skip(f"{NATS_ENV} is not set (.ci/run sets it once NATS answers)")
    procs: list[subprocess.Popen[str]] = []
    root = Path(__file__).resolve().parents[2]

    def start(slow: bool = False, *options: str) -> Node:
        env = {k: v for k, v in os.environ.items() if not k.startswith("HANDOFF_")}
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(root), env.get("PYTHONPATH")]))
        data = tmp_path / f"node{len(procs)}"
        args = [sys.executable, "-m", "tests.cluster.node_proc", pg_schema_url, _NATS_URL]
        proc = subprocess.Popen(
            [*args, str(data), *(["--slow"] if slow else []), *options],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=env,
            cwd=root,
        )
        procs.append(proc)
        assert proc.stdout is not None
        lines = []
        for line in proc.stdout:
            lines.append(line)
            m = re.search(r"listening on (ws://\S+)", line)
            if m:
                # Keep draining its output so a chatty node never blocks on the pipe.
                threading.Thread(target=_drain, args=(proc, lines), daemon=True).start()
                return proc, m.group(1)
        raise AssertionError(f"node did not start ({proc.wait()}): {''.join(lines)}")

    yield start
    for proc in procs:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    for proc in procs:
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _drain(proc: subprocess.Popen[str], lines: list[str]) -> None:
    assert proc.stdout is not None
    for line in proc.stdout:
        lines.append(line)


@pytest.fixture
def shared_store(pg_schema_url: str) -> Iterator[object]:  # noqa: F811
    """The cluster's store, opened by the test itself (to read what the nodes wrote)."""
    from handoff_server.storage.postgres import PostgresStore

    store = PostgresStore(pg_schema_url, size=2)
    yield store
    store.close()


def add_agent(store: object, name: str) -> str:
    """Create agent ``name`` in the shared store; returns their token."""
    token = f"hnd_test_{name}"
    store.create_agent(  # type: ignore[attr-defined]
        AgentRecord(
            id=f"agt_{name}", name=name, role="agent", token_hash=hash_token(token),
            created_at=utcnow(),
        )
    )  # fmt: skip
    return token
