"""Who holds what, and what waits, reaches every node even when no queue notice does:
two in-process nodes on one PostgreSQL schema with no bus between them (``[cluster]
bus`` unset, the limit of a lossy bus: every notice lost). Each re-reads the shared
queue every ``catch_up_seconds`` (docs/scaling.md, "Fan-out"), so a lost notice delays
a node by at most that long."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from handoff_server.app import RunningServer, start_server
from handoff_server.client import new_client_msg_id
from handoff_server.protocol import AClaim, SAck, SAgentStatus, SOffer
from tests.cluster.conftest import add_agent
from tests.cluster.test_multinode import _queued_conversation
from tests.cluster.test_shared_presence import EXPIRY, escalate, until_seen, watcher
from tests.conftest import make_settings
from tests.helpers import online_agent, wait_ack

CATCH_UP = 0.5
"""The nodes' ``catch_up_seconds``."""

Nodes = Callable[..., Awaitable[RunningServer]]


@pytest.fixture
async def nodes(pg_schema_url: str, tmp_path: Path, demo_answerer: Any) -> AsyncIterator[Nodes]:
    """``await node(**sections)``: one more node on the test's schema, no bus, catching
    up every :data:`CATCH_UP` seconds, re-estimating waits only on changes."""
    started: list[RunningServer] = []

    async def node(**sections: dict[str, Any]) -> RunningServer:
        settings = make_settings(
            tmp_path / f"n{len(started)}",
            store={"url": pg_schema_url},
            cluster={"catch_up_seconds": CATCH_UP},
            waiting={"refresh_seconds": 3600},
            **sections,
        )
        started.append(await start_server(settings, answerer=demo_answerer))
        return started[-1]

    yield node
    for running in started:
        await running.close()


async def test_a_claim_on_one_node_shows_in_the_other_nodes_roster(nodes, shared_store):
    """Sam, online on A, claims through A; B never hears of it by notice, yet its roster
    shows Sam's load within a catch-up (on the code before: never)."""
    a, b = await nodes(), await nodes()
    sam_token, lee_token = add_agent(shared_store, "sam"), add_agent(shared_store, "lee")
    lee = await watcher(b.url, lee_token)
    sam = await online_agent(a.url, sam_token)
    await until_seen(lee, "agt_sam", online=True, timeout=EXPIRY)
    cid = await _queued_conversation(shared_store)
    claim = new_client_msg_id()
    await sam.send(AClaim(type="claim", conversation_id=cid, client_msg_id=claim))
    assert isinstance((await wait_ack(sam, claim))[-1], SAck)
    claimed = time.monotonic()
    await lee.recv_until(
        lambda f: isinstance(f, SAgentStatus) and f.agent.id == "agt_sam" and f.agent.load == 1,
        CATCH_UP + 5,
    )
    took = time.monotonic() - claimed
    assert took <= CATCH_UP + 1.5, f"B learnt Sam's claim {took:.1f} s later"
    await sam.close()
    await lee.close()


async def test_a_conversation_queued_on_node_b_is_offered_on_node_a_without_a_notice(
    nodes, shared_store
):
    """Push: a visitor escalates through B, Sam is online on A only; A never gets B's
    queue notice, yet offers Sam the conversation within a catch-up."""
    push = {"mode": "push", "offer_timeout_seconds": 30}
    a, b = await nodes(assignment=push), await nodes(assignment=push)
    sam_token, lee_token = add_agent(shared_store, "sam"), add_agent(shared_store, "lee")
    lee = await watcher(b.url, lee_token)
    sam = await online_agent(a.url, sam_token)
    await until_seen(lee, "agt_sam", online=True, timeout=EXPIRY)
    visitor, cid, _ = await escalate(b.url)
    queued = time.monotonic()
    frames = await sam.recv_until(
        lambda f: isinstance(f, SOffer) and f.item.conversation_id == cid, CATCH_UP + 5
    )
    assert frames[-1].item.conversation_id == cid
    took = time.monotonic() - queued
    assert took <= CATCH_UP + 1.5, f"offered {took:.1f} s after it was queued"
    for conn in (visitor, sam, lee):
        await conn.close()


async def test_a_stopped_nodes_agents_conversation_is_returned_by_a_node_that_missed_the_claim(
    nodes, shared_store
):
    """Sam, on A only, claims through A after B started; A stops (its presence rows
    go). B learnt the claim only from the queue's re-read, and puts the conversation back
    in the queue past the grace period, once."""
    grace = {"disconnect_grace_seconds": 1.0}
    a, b = await nodes(assignment=grace), await nodes(assignment=grace)
    lee = await watcher(b.url, add_agent(shared_store, "lee"))
    sam = await online_agent(a.url, add_agent(shared_store, "sam"))
    await until_seen(lee, "agt_sam", online=True, timeout=EXPIRY)
    cid = await _queued_conversation(shared_store)
    claim = new_client_msg_id()
    await sam.send(AClaim(type="claim", conversation_id=cid, client_msg_id=claim))
    assert isinstance((await wait_ack(sam, claim))[-1], SAck)
    await asyncio.sleep(CATCH_UP * 3)  # B re-reads the queue meanwhile
    await a.close()  # its rows deleted: sam is connected nowhere
    deadline = time.monotonic() + EXPIRY + 5
    while shared_store.get_conversation(cid).status != "queued":
        assert time.monotonic() < deadline, "B never put it back in the queue"
        await asyncio.sleep(0.2)
    await asyncio.sleep(1.5)
    assert len(shared_store.events_of_kinds(["requeued"], None, None)) == 1
    await lee.close()
    await sam.close()
