"""Benchmark: what keeping every queued visitor told costs as the queue grows.

A real server (store on disk, ``synchronous=FULL``) with ``N`` queued conversations, made
straight in the store, and the waiting room's :meth:`refresh` timed three ways:

- first: every visitor is told an estimate for the first time (one write each);
- no change: nothing moved, nothing is written (the periodic refresh);
- agent online: an agent signs in, every estimate goes from "nobody online" to a figure
  (one write each), then ``waiting_work`` lists them oldest first.

Printed as a table with the ratio against the same run with ``--baseline`` conversations.

Usage::

    PYTHONPATH=src:. .venv/bin/python benchmarks/bench_waiting.py [--rows 1000] [--baseline 10]
"""

from __future__ import annotations

import argparse
import asyncio
import platform
import tempfile
import time
import uuid
from datetime import timedelta
from pathlib import Path

from tests.conftest import make_settings

from handoff_server.ai import Answer
from handoff_server.app import RunningServer, start_server
from handoff_server.store import AgentRecord, ConversationRecord, NewEvent, hash_token, utcnow


class Idle:
    """An answerer never asked anything here."""

    def answer(self, question: str) -> Answer:
        return Answer(text="", confidence=0.0)


async def fill(srv: RunningServer, rows: int) -> None:
    """``rows`` queued conversations, oldest first, over three teams."""
    db = srv.store.store
    now = utcnow()
    for n in range(rows):
        at = now - timedelta(seconds=rows - n)
        conv = ConversationRecord(
            id=uuid.uuid4().hex,
            status="ai",
            resume_token_hash=hash_token(str(n)),
            created_at=at,
            updated_at=at,
        )
        await srv.store.call(db.create_conversation, conv, [NewEvent(kind="conversation_started")])
        team = (None, "billing", "dns")[n % 3]
        updates = {"status": "queued", "queued_at": at, "team": team}
        await srv.store.call(db.append_events, conv.id, [], updates)


class Discard:
    """A connection that drops every frame pushed to it."""

    def push(self, frame: object) -> None:
        """Drop ``frame``."""


async def measure(rows: int) -> dict[str, float]:
    """Seconds for each refresh with ``rows`` queued conversations."""
    with tempfile.TemporaryDirectory() as data:
        srv = await start_server(make_settings(Path(data)), answerer=Idle())
        try:
            await fill(srv, rows)
            room = srv.service.waiting
            out = {}
            start = time.perf_counter()
            told = await room.refresh()
            out["first"] = time.perf_counter() - start
            assert len(told) == rows, (len(told), rows)
            start = time.perf_counter()
            assert await room.refresh() == []
            out["no change"] = time.perf_counter() - start
            # An agent is online (as their presence frame makes them), without the
            # background offer_work the presence change would start beside the timed one.
            bench = AgentRecord(
                id="ag_bench", name="Bench", role="agent", token_hash="-", created_at=utcnow()
            )
            state = srv.desk.presence.know(bench)
            state.status, state.links = "online", 1
            state.clients.add(Discard())
            start = time.perf_counter()
            offered = await room.offer_work(None)
            out["agent online"] = time.perf_counter() - start
            assert len(offered) == rows
            return out
        finally:
            await srv.close()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1000)
    parser.add_argument("--baseline", type=int, default=10)
    args = parser.parse_args()
    base = await measure(args.baseline)
    big = await measure(args.rows)
    print(f"python {platform.python_version()}, {platform.machine()}")
    print(
        f"{'refresh':<14}{args.baseline:>8} queued{args.rows:>10} queued{'ratio':>8}{'per row':>10}"
    )
    for key in base:
        per_row = big[key] / args.rows * 1000
        print(
            f"{key:<14}{base[key] * 1000:>11.1f} ms{big[key] * 1000:>12.1f} ms"
            f"{big[key] / base[key]:>8.1f}{per_row:>8.2f} ms"
        )


if __name__ == "__main__":
    asyncio.run(main())
