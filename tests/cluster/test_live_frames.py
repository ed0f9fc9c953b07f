"""Frames that are not events cross nodes (see conftest): typing both ways, a wait
estimate and fallback offer made by another node's waiting room, the llm engine's
``ai_partial``; each reaches a client once. And ``waiting_work`` for work queued through
another node."""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import Iterator
from typing import Any

import pytest

from handoff_server.app import start_server
from handoff_server.client import new_client_msg_id
from handoff_server.config import TYPING_EXPIRY_SECONDS
from handoff_server.protocol import (
    AClaim,
    AOpen,
    APresence,
    ATyping,
    SAiPartial,
    SConversation,
    SEvent,
    SFallbackOffer,
    STyping,
    SWaitEstimate,
    SWaitingWork,
    VMessage,
    VTyping,
)
from tests.cluster.conftest import NATS_ENV, add_agent
from tests.conftest import make_settings
from tests.helpers import agent, online_agent, say, start_visitor, wait_ack
from tests.llm_fake import ScriptedModelServer, scripted_answer
from tests.server.test_llm_answers import PASSWORD_Q, llm, slow

HUMAN = "I need to talk to a real person"
NATS_URL = os.environ.get(NATS_ENV)  # read before the autouse fixture clears HANDOFF_*


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
    lee = await agent(b, add_agent(shared_store, "lee"))  # on sam's node, not following it
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
    assert not [f for f in await frames_for(lee, 0.2) if isinstance(f, STyping)], "not theirs"
    for conn in (visitor, sam, kim, lee):
        await conn.close()


async def test_typing_relayed_by_a_node_that_dies_ends_on_the_others(cluster, shared_store):
    (proc_a, a), (_, b) = cluster(), cluster()
    token = add_agent(shared_store, "sam")
    visitor, welcome = await start_visitor(a, name="Ada")
    cid = welcome.conversation_id
    await say(visitor, HUMAN)
    sam = await agent(b, token)
    await follow(sam, cid)
    await visitor.send(VTyping(type="typing", active=True))
    await sam.recv_until(lambda f: isinstance(f, STyping) and f.active, timeout=10)
    proc_a.send_signal(signal.SIGKILL)  # A never says the visitor stopped
    loop = asyncio.get_running_loop()
    killed = loop.time()
    got = await sam.recv_until(lambda f: isinstance(f, STyping), timeout=TYPING_EXPIRY_SECONDS + 15)
    assert got[-1] == STyping(conversation_id=cid, role="visitor", name=None, active=False)
    assert loop.time() - killed >= TYPING_EXPIRY_SECONDS - 1, "ended before it expired"
    await sam.close()


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


async def test_a_node_that_has_not_heard_of_an_agent_yet_does_not_say_nobody_is_online(
    cluster, shared_store
):
    """B re-estimates every second but hears the other nodes' presence only every 30 s:
    Sam, online on A since after B's last heartbeat, is unknown to B. The estimate A
    told (Sam online) is newer than what B knows, so B leaves it: no "nobody online",
    no fallback offer, until B has heard (it used to tell both within a second, racing
    the heartbeat under load)."""
    a = cluster(False, "--refresh", "600")[1]
    cluster(False, "--refresh", "1", "--heartbeat", "30")
    sam = await online_agent(a, add_agent(shared_store, "sam"))
    visitor, _ = await start_visitor(a, name="Ada")
    told = await say(visitor, HUMAN)
    told += await frames_for(visitor, 3)
    estimates = [f.minutes for f in told if isinstance(f, SWaitEstimate)]
    assert estimates and None not in estimates, estimates
    assert not [f for f in told if isinstance(f, SFallbackOffer)]
    await visitor.close()
    await sam.close()


async def test_waiting_work_queued_through_one_node_reaches_an_agent_on_another(
    cluster, shared_store
):
    """The work is queued through A, Sam comes online on B: B, which learns of Sam
    itself, tells Sam's connection once (``waiting_work`` is not relayed: each node tells
    its own connections, tests/cluster/test_waiting_work_once.py)."""
    (_, a), (_, b) = cluster(), cluster()
    visitor, welcome = await start_visitor(a, name="Ada")
    await say(visitor, HUMAN)  # queued through A: nobody online
    kim = await agent(a, add_agent(shared_store, "kim"))  # another agent, on A
    sam = await online_agent(b, add_agent(shared_store, "sam"))  # online on B
    frames = await sam.recv_until(lambda f: isinstance(f, SWaitingWork), timeout=10)
    work = frames[-1]
    assert [i.conversation_id for i in work.items] == [welcome.conversation_id]
    assert not [f for f in await frames_for(sam, 2.5) if isinstance(f, SWaitingWork)]
    assert not [f for f in await frames_for(kim, 0.2) if isinstance(f, SWaitingWork)], "sam's"
    for conn in (visitor, sam, kim):
        await conn.close()


@pytest.fixture
def model() -> Iterator[ScriptedModelServer]:
    """The scripted model server, on a free port, for one test."""
    with ScriptedModelServer() as srv:
        yield srv


async def test_the_ai_answer_as_written_reaches_an_agent_on_another_node(
    pg_schema_url, tmp_path, demo_answerer, model, shared_store
):
    """Two in-process nodes on the machine's NATS: the llm engine answers the visitor on
    A; an agent following the conversation on B sees the partial text, ended (``done``)
    before the stored answer, each frame once."""
    if NATS_URL is None:
        pytest.skip(f"{NATS_ENV} is not set (.ci/run sets it once NATS answers)")
    model.script = slow(scripted_answer)
    nodes = []
    for i, answerer in enumerate((llm(demo_answerer, model), demo_answerer)):
        settings = make_settings(
            tmp_path / f"n{i}", store={"url": pg_schema_url}, cluster={"bus": NATS_URL}
        )
        nodes.append(await start_server(settings, answerer=answerer))
    a, b = nodes
    try:
        visitor, welcome = await start_visitor(a.url)
        watcher = await agent(b.url, add_agent(shared_store, "sam"))
        await follow(watcher, welcome.conversation_id)
        cmid = new_client_msg_id()
        await visitor.send(VMessage(type="message", client_msg_id=cmid, text=PASSWORD_Q))
        frames = await watcher.recv_until(
            lambda f: isinstance(f, SEvent) and f.event.kind == "ai_message", timeout=30
        )
        partials = [f for f in frames if isinstance(f, SAiPartial)]
        assert partials, "no partial text reached node B"
        assert (partials[-1].done, partials[-1].outcome) == (True, "answered")
        texts = [p.text for p in partials[:-1]]
        assert texts == sorted(set(texts), key=texts.index) and all(texts), "a partial twice"
        assert all(texts[i + 1].startswith(texts[i]) for i in range(len(texts) - 1))
        assert not [f for f in await frames_for(watcher, 1.0) if isinstance(f, SAiPartial)]
        await visitor.close()
        await watcher.close()
    finally:
        for node in nodes:
            await node.close()
