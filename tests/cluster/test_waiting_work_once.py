"""``waiting_work`` once per connection across nodes: with presence and queue rows
shared, every node learns of an agent freeing a slot; an agent connected to two nodes
must still get each frame once on each connection (docs/scaling.md, "Frames that are
not events")."""

from __future__ import annotations

import asyncio
from typing import Any

from handoff_server.client import new_client_msg_id
from handoff_server.protocol import AClaim, ARelease, SAck, SWaitingWork
from tests.cluster.conftest import add_agent
from tests.cluster.test_multinode import _queued_conversation
from tests.cluster.test_shared_presence import EXPIRY, until_seen, watcher
from tests.helpers import online_agent, wait_ack


async def work_frames(conn: Any, seconds: float) -> list[SWaitingWork]:
    """The ``waiting_work`` frames ``conn`` gets in the next ``seconds``."""
    got: list[SWaitingWork] = []
    loop = asyncio.get_running_loop()
    end = loop.time() + seconds
    while (left := end - loop.time()) > 0:
        try:
            frame = await conn.recv(timeout=left)
        except TimeoutError:
            break
        if isinstance(frame, SWaitingWork):
            got.append(frame)
    return got


async def test_an_agent_on_two_nodes_gets_each_waiting_work_once_per_connection(
    cluster, shared_store
):
    """Sam, online on A and on B, releases a conversation through A while another
    waits: A learns it from its own change, B from A's queue notice; each of Sam's
    connections gets one ``waiting_work`` (on the code before, two each: its own node's
    and the other node's relayed copy)."""
    (_, a), (_, b) = cluster(), cluster()
    sam_token, lee_token = add_agent(shared_store, "sam"), add_agent(shared_store, "lee")
    lee = await watcher(b, lee_token)
    held = await _queued_conversation(shared_store)
    waiting = await _queued_conversation(shared_store)
    on_a = await online_agent(a, sam_token)
    await until_seen(lee, "agt_sam", online=True, timeout=EXPIRY)
    on_b = await online_agent(b, sam_token)
    claim = new_client_msg_id()
    await on_a.send(AClaim(type="claim", conversation_id=held, client_msg_id=claim))
    assert isinstance((await wait_ack(on_a, claim))[-1], SAck)
    await asyncio.gather(work_frames(on_a, 3.0), work_frames(on_b, 3.0))  # settle

    release = new_client_msg_id()
    await on_a.send(ARelease(type="release", conversation_id=held, client_msg_id=release))
    assert isinstance((await wait_ack(on_a, release))[-1], SAck)
    got_a, got_b = await asyncio.gather(work_frames(on_a, 4.0), work_frames(on_b, 4.0))
    for name, got in (("A", got_a), ("B", got_b)):
        assert len(got) == 1, f"sam's connection on {name} got {len(got)} waiting_work"
        assert {i.conversation_id for i in got[0].items} == {held, waiting}, name
    for conn in (on_a, on_b, lee):
        await conn.close()
