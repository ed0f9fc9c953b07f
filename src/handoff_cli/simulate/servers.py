"""Servers the simulator starts itself, for ``--policy`` and ``--compare``: each one a
``handoff serve`` subprocess on an ephemeral port, with its own data dir holding the
policy under test (stored as version 1) and one agent token per simulated agent.

The data dirs live under one root (``--data-dir``, else a temporary folder removed
afterwards). Their index caches are one folder, ``ROOT/cache`` (linked into each data
dir), so a KB's index is built once per root: the cache is keyed by the KB's content.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import secrets
import sys
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path

from handoff_server.config import StoreSettings
from handoff_server.errors import HandoffError
from handoff_server.escalation import Policy
from handoff_server.policies import save_policy
from handoff_server.store import AgentRecord, hash_token, open_store, utcnow

__all__ = ["StartedServer", "start_server", "stop_server"]

_LISTENING = re.compile(r"listening on (ws://\S+)")


@dataclass
class StartedServer:
    """A running ``handoff serve`` subprocess: its ``url``, ``data_dir`` and the agent
    ``tokens`` created for the simulated agents."""

    label: str
    data_dir: Path
    process: asyncio.subprocess.Process
    url: str
    tokens: list[str]


def _load_env() -> dict[str, str]:
    """The environment of a server the simulator starts: every simulated client comes
    from this machine's one address, so the per-address limits are lifted (unless the
    environment sets them)."""
    env = dict(os.environ)
    env.setdefault("HANDOFF_SERVER__MAX_CONNECTIONS_PER_IP", "100000")
    env.setdefault("HANDOFF_SERVER__RATE_LIMIT_PER_IP_PER_MINUTE", "1000000")
    return env


def _prepare(data_dir: Path, policy: Policy | None, agents: int) -> list[str]:
    """Store ``policy`` and create one agent token per simulated agent (at least one,
    for the agents' side of the report); returns the tokens."""
    shared = data_dir.parent / "cache"
    shared.mkdir(exist_ok=True)
    with contextlib.suppress(OSError):  # no links (some Windows setups): a cache each
        (data_dir / "cache").symlink_to(shared, target_is_directory=True)
    settings = StoreSettings(data_dir=data_dir)
    if policy is not None:
        save_policy(settings, policy, "handoff simulate")
    store = open_store(settings)
    tokens = []
    try:
        for n in range(max(agents, 1)):
            token = "hnd_" + secrets.token_urlsafe(32)
            store.create_agent(
                AgentRecord(
                    id="agt_" + uuid.uuid4().hex[:12],
                    name=f"Simulated agent {n + 1}",
                    role="agent",
                    token_hash=hash_token(token),
                    created_at=utcnow(),
                )
            )
            tokens.append(token)
    finally:
        store.close()
    return tokens


async def start_server(
    root: Path,
    label: str,
    policy: Policy | None,
    agents: int,
    serve_args: list[str],
    timeout: float = 600.0,
) -> StartedServer:
    """Start ``handoff serve --port 0`` in a new ``ROOT/LABEL-*`` folder with ``policy`` (``None``: the
    configuration's) and ``serve_args`` (``--kb``, ``--engine``, ``--config``); wait up
    to ``timeout`` seconds (a first index build) for it to listen.

    Raises :class:`~handoff_server.errors.HandoffError` (``server_failed``, naming its
    log file) when it exits or stays silent."""
    root.mkdir(parents=True, exist_ok=True)
    data_dir = Path(tempfile.mkdtemp(prefix=re.sub(r"[^A-Za-z0-9_.-]", "_", label) + "-", dir=root))
    tokens = await asyncio.to_thread(_prepare, data_dir, policy, agents)
    log_path = data_dir / "server.log"
    with log_path.open("wb") as log:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "handoff_cli", "serve", "--port", "0",
            "--data-dir", str(data_dir), "--log-level", "WARNING", *serve_args,
            stdout=asyncio.subprocess.PIPE, stderr=log, env=_load_env(),
        )  # fmt: skip
    assert process.stdout is not None
    try:
        async with asyncio.timeout(timeout):
            while line := await process.stdout.readline():
                found = _LISTENING.search(line.decode(errors="replace"))
                if found:
                    return StartedServer(label, data_dir, process, found.group(1), tokens)
    except TimeoutError:
        pass
    await stop_server(process)
    raise HandoffError(
        f"the server for {label!r} did not start; see {log_path}", code="server_failed"
    )


async def stop_server(process: asyncio.subprocess.Process) -> None:
    """SIGTERM (a graceful shutdown), then SIGKILL after 10 s."""
    if process.returncode is not None:
        return
    process.terminate()
    try:
        await asyncio.wait_for(process.wait(), 10)
    except TimeoutError:
        process.kill()
        await process.wait()
