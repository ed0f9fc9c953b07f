"""Secrets and visitor data at rest and in logs (issue 14): no token or email in the
log at any level, a data dir only its owner can read."""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

from websockets.asyncio.client import connect

from handoff_server.client import connect_agent
from handoff_server.protocol import SAuthenticated
from tests.helpers import say, serve_logging, start_visitor


async def test_debug_log_holds_no_token_and_no_email(tmp_path: Path) -> None:
    """At DEBUG, websockets logs every handshake header and frame: the agent's bearer
    token (header, ``?token=`` and ``auth`` frame), the visitor's resume token and email
    were all in the log. Now a redacting filter rewrites every record first."""
    data = tmp_path / "data"
    env = {k: v for k, v in os.environ.items() if not k.startswith("HANDOFF_")}
    created = subprocess.run(
        [sys.executable, "-m", "handoff_cli", "token", "create", "--name", "Sam",
         "--data-dir", str(data)],
        capture_output=True, text=True, check=True, env=env,
    )  # fmt: skip
    token = created.stdout.strip().splitlines()[-1]
    proc, url, lines = serve_logging(data, "--log-level", "DEBUG")
    try:
        conn = await connect_agent(url, token)  # Authorization: Bearer
        assert isinstance(await conn.recv(timeout=10), SAuthenticated)
        await conn.close()
        async with connect(f"{url}/v1/agent?token={token}") as ws:
            await ws.recv()
        async with connect(f"{url}/v1/agent") as ws:
            await ws.send('{"type": "auth", "token": "%s"}' % token)  # noqa: UP031
            await ws.recv()
        visitor, welcome = await start_visitor(url, name="Ada", email="ada.lovelace@example.org")
        await say(visitor, "my email is ada.lovelace@example.org, how do I reset my password")
        await visitor.close()
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)
    log = "".join(lines)
    assert "DEBUG" in log and "/v1/agent" in log  # the log is there, at DEBUG
    assert token not in log
    assert token[4:20] not in log
    assert "ada.lovelace@example.org" not in log
    assert welcome.resume_token not in log


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


async def test_data_dir_and_database_files_are_private(server_factory: Any, tmp_path: Path) -> None:
    """The database holding visitors' messages, emails and token hashes was created
    0644 (world-readable) in a 0755 folder. Now the data dir is created 0700 and the
    database with its ``-wal`` and ``-shm`` files 0600; an old 0644 database is
    tightened on open."""
    data = tmp_path / "fresh" / "data"
    srv = await server_factory(data_dir=data)
    conn, _ = await start_visitor(srv.url, email="ada@example.org")
    await say(conn, "how do I reset my password")
    await conn.close()
    assert _mode(data) == 0o700
    db = data / "handoff.sqlite3"
    for part in (db, db.with_name(db.name + "-wal"), db.with_name(db.name + "-shm")):
        assert part.exists(), part
        assert _mode(part) == 0o600, (part, oct(_mode(part)))
    await srv.close()

    for part in data.glob("handoff.sqlite3*"):
        os.chmod(part, 0o644)
    await server_factory(data_dir=data)
    assert [oct(_mode(p)) for p in data.glob("handoff.sqlite3*")] == ["0o600"] * len(
        list(data.glob("handoff.sqlite3*"))
    )


def test_redact_covers_every_secret_shape() -> None:
    """Each shape of secret the log may carry, as websockets and httpx write them."""
    from handoff_server.logredact import redact

    cases = {
        "> GET /v1/agent?token=hnd_abc-DEF_1 HTTP/1.1": "hnd_abc",
        "< Authorization: Bearer s3cr3t": "s3cr3t",
        """< TEXT '{"type":"auth","token":"s3cr3t"}' [30 bytes]""": "s3cr3t",
        """> TEXT '{"type":"welcome","resume_token":"r3sume"}'""": "r3sume",
        "secret whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw": "MfKQ9r8",
        "HTTP Request: POST https://hooks.slack.com/services/T0/B0/XyZ": "XyZ",
        # any endpoint's path, such as Slack behind a proxy or Discord's token
        'HTTP Request: POST http://127.0.0.1:8799/services/T0/B0/SUPERSECRET "HTTP/1.1 200 OK"': (
            "SUPERSECRET"
        ),
        "HTTP Request: POST https://discord.com/api/webhooks/1/t0k3n?wait=true": "t0k3n",
        "{'phone': '+1 555 0100'}": "555",
        "mail Ada.L+x@ex-ample.co.uk now": "Ada.L",
    }
    for line, secret in cases.items():
        assert secret not in redact(line), (line, redact(line))
    assert redact("nothing secret here") == "nothing secret here"
    kept = redact('HTTP Request: POST http://127.0.0.1:8799/x/y "HTTP/1.1 503 Service Unavailable"')
    assert (
        kept
        == 'HTTP Request: POST http://127.0.0.1:8799/[redacted] "HTTP/1.1 503 Service Unavailable"'
    )
