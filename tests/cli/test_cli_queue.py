"""`handoff queue` on a long queue: more queued conversations than the server lets one
connection send frames per minute (60 by default)."""

from __future__ import annotations

import json

from tests.conftest import create_token
from tests.helpers import run_handoff, say, start_visitor


async def test_a_queue_longer_than_the_rate_limit_is_listed_whole(server):
    conns = []
    for i in range(62):
        conn, _ = await start_visitor(server.url, name=f"Visitor {i}")
        await say(conn, "I want to talk to a person")
        conns.append(conn)
    token = await create_token(server)

    plain = await run_handoff("queue", "--server", server.url, "--token", token)
    assert plain.returncode == 0, plain.stderr
    assert len(plain.stdout.splitlines()) == 62

    full = await run_handoff("queue", "--json", "--server", server.url, "--token", token)
    assert full.returncode == 0, full.stderr
    rows = json.loads(full.stdout)
    assert len(rows) == 62 and all(r["transcript"] for r in rows)
    for conn in conns:
        await conn.close()
