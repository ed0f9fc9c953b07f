"""Frames that are not events cross nodes (see conftest): typing both ways, a wait
estimate and fallback offer made by another node's waiting room, ``waiting_work`` for an
agent's connection on another node; each reaches a client once."""

from __future__ import annotations

import asyncio
from typing import Any

from handoff_server.client import new_client_msg_id
from handoff_server.protocol import (
    AClaim,
    AOpen,
    APresence,
    ATyping,
    SConversation,
    SFallbackOffer,
    STyping,
    SWaitEstimate,
    SWaitingWork,
    VTyping,
)
from tests.cluster.conftest import add_agent
from tests.helpers import agent, online_agent, say, start_visitor, wait_ack

HUMAN = "I need to talk to a real person"


async def frames_for(conn: Any, seconds: float) -> list[Any]:
    """Every frame ``conn`` gets in the next ``seconds``."""
    got: list[Any] = []
    loop = asyncio.get_running_loop()
    end = loop.time() + seconds
    while (left := end - loop.time()) > 0:
        try:
            got.append(await conn.recv(timeout=left))
        except TimeoutError:
            break
    return got


def typing(frames: list[Any], role: str, active: bool) -> list[STyping]:
    return [f for f in frames if isinstance(f, STyping) and f.role == role and f.active is active]


async def follow(conn: Any, cid: str) -> None:
    """Open the conversation, subscribed to it."""
    await conn.send(AOpen(type="open", conversation_id=cid))
    await conn.recv_until(lambda f: isinstance(f, SConversation), timeout=10)


async def test_typing_crosses_nodes_both_ways_once_per_client(cluster, shared_store):
    (_, a), (_, b) = cluster(), cluster()
    sam_token, kim_token = add_agent(shared_store, "sam"), add_agent(shared_store, "kim")
    visitor, welcome = await start_visitor(a, name="Ada")
    cid = welcome.conversation_id
    await say(visitor, HUMAN)
    sam, kim = await agent(b, sam_token), await agent(a, kim_token)  # kim: on the visitor's node
    cmid = new_client_msg_id()
    await sam.send(AClaim(type="claim", conversation_id=cid, client_msg_id=cmid))
    await wait_ack(sam, cmid)
    await follow(sam, cid)
    await follow(kim, cid)

    await visitor.send(VTyping(type="typing", active=True))
    got = await sam.recv_until(lambda f: isinstance(f, STyping), timeout=10)
    assert got[-1] == STyping(conversation_id=cid, role="visitor", name=None, active=True)

    await sam.send(ATyping(type="typing", conversation_id=cid, active=True))
    got = await visitor.recv_until(lambda f: isinstance(f, STyping), timeout=10)
    assert got[-1] == STyping(conversation_id=cid, role="agent", name="sam", active=True)
    await sam.send(ATyping(type="typing", conversation_id=cid, active=False))
    got = await visitor.recv_until(lambda f: isinstance(f, STyping) and not f.active, timeout=10)
    assert got[-1].name == "sam"

    # Each client got each frame once: no echo from the other node, no second copy.
    later = {name: await frames_for(c, 1.5) for name, c in (("sam", sam), ("kim", kim))}
    later["visitor"] = await frames_for(visitor, 0.5)
    assert typing(later["sam"], "visitor", True) == []
    assert typing(later["sam"], "agent", True) == [], "sam's own typing came back"
    assert len(typing(later["kim"], "visitor", True)) == 1, later["kim"]
    assert len(typing(later["kim"], "agent", True)) == 1, later["kim"]
    assert len(typing(later["kim"], "agent", False)) == 1, later["kim"]
    assert typing(later["visitor"], "agent", True) == []
    assert typing(later["visitor"], "visitor", True) == [], "the visitor's own typing came back"
    for conn in (visitor, sam, kim):
        await conn.close()


async def test_another_nodes_wait_estimate_and_fallback_offer_reach_the_visitor(
    cluster, shared_store
):
    # A recomputes estimates only when its queue changes; B, where nobody is, every second.
    a = cluster(False, "--refresh", "600")[1]
    cluster(False, "--refresh", "1")
    sam = await online_agent(a, add_agent(shared_store, "sam"))
    visitor, welcome = await start_visitor(a, name="Ada")
    told = await say(visitor, HUMAN)
    told += await frames_for(visitor, 0.5)
    first = [f for f in told if isinstance(f, SWaitEstimate)]
    assert first and first[-1].minutes is not None, "sam is online: a known wait"
    assert not [f for f in told if isinstance(f, SFallbackOffer)], "the queue takes them"

    await sam.send(APresence(type="presence", status="away"))  # nobody can come now
    frames = await visitor.recv_until(lambda f: isinstance(f, SFallbackOffer), timeout=15)
    offer = frames[-1]
    assert (offer.conversation_id, offer.reason) == (welcome.conversation_id, "no_agents")
    estimates = [f for f in frames if isinstance(f, SWaitEstimate)]
    assert estimates and estimates[-1].minutes is None, "B's estimate: nobody online"
    rest = await frames_for(visitor, 2.5)
    assert not [f for f in rest if isinstance(f, SFallbackOffer)], "the offer came twice"
    await visitor.close()
    await sam.close()


async def test_waiting_work_reaches_the_agents_connection_on_another_node(cluster, shared_store):
    (_, a), (_, b) = cluster(), cluster()
    visitor, welcome = await start_visitor(b, name="Ada")
    await say(visitor, HUMAN)  # queued: nobody online
    token = add_agent(shared_store, "sam")
    on_b = await agent(b, token)  # signed in on B, not declaring presence there
    await online_agent(a, token)  # online on A: A offers sam the waiting work
    frames = await on_b.recv_until(lambda f: isinstance(f, SWaitingWork), timeout=10)
    work = frames[-1]
    assert [i.conversation_id for i in work.items] == [welcome.conversation_id]
    assert not [f for f in await frames_for(on_b, 1.5) if isinstance(f, SWaitingWork)]
    await visitor.close()
    await on_b.close()
