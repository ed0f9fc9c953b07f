"""Agents' presence and capacity shared across nodes (docs/scaling.md, "Presence and
capacity across nodes"): an agent online on one node counts on every node (wait
estimates, the queue gate, push offers, the roster), their capacity holds whichever
nodes their claims go through, and a dead node's agents stop counting within the
presence time-to-live."""

from __future__ import annotations

import asyncio
import signal
import time
from datetime import timedelta
from typing import Any

from handoff_server.app import start_server
from handoff_server.client import Connection, new_client_msg_id
from handoff_server.config import ClusterSettings
from handoff_server.protocol import (
    AAccept,
    AClaim,
    APresence,
    ARelease,
    SAck,
    SAgentStatus,
    SFallbackOffer,
    SOffer,
    SStaff,
    SWaitEstimate,
    VRequestHuman,
)
from handoff_server.store import utcnow
from tests.cluster.conftest import add_agent
from tests.cluster.test_multinode import _outcome, _queued_conversation
from tests.conftest import make_settings
from tests.helpers import agent, online_agent, start_visitor, wait_ack

DEFAULTS = ClusterSettings()
EXPIRY = DEFAULTS.presence_ttl_seconds + DEFAULTS.presence_heartbeat_seconds
"""Seconds after a node's death by which the others stop counting its agents."""


async def watcher(url: str, token: str) -> Connection:
    """An agent who says ``away`` on ``url``: sees the roster and its changes, and is
    not online themselves (so they never count in a node's staffing)."""
    conn = await agent(url, token)
    await conn.send(APresence(type="presence", status="away"))
    await conn.recv_until(lambda f: isinstance(f, SStaff), 10)
    return conn


async def until_seen(conn: Connection, agent_id: str, online: bool, timeout: float) -> float:
    """Read ``conn``'s roster changes until ``agent_id`` shows online and connected (or,
    ``online=False``, not); returns the seconds it took."""
    started = time.monotonic()

    def shows(frame: Any) -> bool:
        if not isinstance(frame, SAgentStatus) or frame.agent.id != agent_id:
            return False
        return (frame.agent.status == "online" and frame.agent.connected) == online

    await conn.recv_until(shows, timeout)
    return time.monotonic() - started


async def escalate(url: str) -> tuple[Connection, str, list[Any]]:
    """A visitor on ``url`` asking for a person: the connection, the conversation id, and
    the frames up to the wait estimate and, if one follows within a second, the
    fallback offer."""
    conn, welcome = await start_visitor(url, name="Ada")
    await conn.send(
        VRequestHuman(type="request_human", client_msg_id=new_client_msg_id(), text="a person")
    )
    frames = await conn.recv_until(lambda f: isinstance(f, SWaitEstimate), 15)
    try:
        frames += await conn.recv_until(lambda f: isinstance(f, SFallbackOffer), 1.0)
    except TimeoutError:
        pass
    return conn, welcome.conversation_id, frames


async def test_an_agent_online_on_node_a_is_staff_for_a_visitor_on_node_b(cluster, shared_store):
    (_, a), (_, b) = cluster(), cluster()
    sam_token, lee_token = add_agent(shared_store, "sam"), add_agent(shared_store, "lee")
    lee = await watcher(b, lee_token)
    sam = await online_agent(a, sam_token)
    await until_seen(lee, "agt_sam", online=True, timeout=EXPIRY)
    visitor, _, frames = await escalate(b)
    estimate = next(f for f in frames if isinstance(f, SWaitEstimate))
    assert estimate.minutes == 0, estimate.text  # sam has a free slot: under a minute
    assert "Nobody from the team is online" not in estimate.text
    assert not [f for f in frames if isinstance(f, SFallbackOffer)], "offered the fallbacks"
    for conn in (visitor, sam, lee):
        await conn.close()


async def test_capacity_holds_across_nodes_for_an_agent_connected_to_both(cluster, shared_store):
    """Sam (capacity 1) is connected to A and B and claims two queued conversations at
    once, one through each node, round after round: exactly one claim wins each round;
    then, holding one, a claim through the other node is refused."""
    (_, a), (_, b) = cluster(), cluster()
    token = add_agent(shared_store, "sam")
    shared_store.update_agent("agt_sam", [], 1)
    on_a, on_b = await online_agent(a, token), await online_agent(b, token)
    for round_ in range(10):
        cids = [await _queued_conversation(shared_store) for _ in range(2)]
        ids = (new_client_msg_id(), new_client_msg_id())
        await asyncio.gather(
            on_a.send(AClaim(type="claim", conversation_id=cids[0], client_msg_id=ids[0])),
            on_b.send(AClaim(type="claim", conversation_id=cids[1], client_msg_id=ids[1])),
        )
        results = await asyncio.gather(_outcome(on_a, ids[0]), _outcome(on_b, ids[1]))
        assert sorted(results) == ["at_capacity", "won"], (round_, results)
        held = [c.id for c in shared_store.list_conversations(["assigned"])]
        assert len(held) == 1, (round_, held)
        won, conn = (cids[0], on_a) if results[0] == "won" else (cids[1], on_b)
        other, other_conn = (cids[1], on_b) if conn is on_a else (cids[0], on_a)
        # One held: a claim through the other node, after the first is stored, is refused.
        late = new_client_msg_id()
        await other_conn.send(AClaim(type="claim", conversation_id=other, client_msg_id=late))
        assert await _outcome(other_conn, late) == "at_capacity", round_
        release = new_client_msg_id()
        await conn.send(ARelease(type="release", conversation_id=won, client_msg_id=release))
        assert isinstance((await wait_ack(conn, release))[-1], SAck)
    assert len(shared_store.events_of_kinds(["claimed"], None, None)) == 10
    await on_a.close()
    await on_b.close()


async def test_a_killed_nodes_agents_expire_from_the_other_nodes(cluster, shared_store):
    (proc_a, a), (_, b) = cluster(), cluster()
    sam_token, lee_token = add_agent(shared_store, "sam"), add_agent(shared_store, "lee")
    lee = await watcher(b, lee_token)
    sam = await online_agent(a, sam_token)
    await until_seen(lee, "agt_sam", online=True, timeout=EXPIRY)
    proc_a.send_signal(signal.SIGKILL)
    proc_a.wait()
    killed = time.monotonic()
    await until_seen(lee, "agt_sam", online=False, timeout=EXPIRY + 5)
    took = time.monotonic() - killed
    assert took <= EXPIRY + 2, f"sam still counted {took:.1f} s after node A died"
    # Nobody is online now: a visitor on B is told so and offered the fallbacks.
    visitor, _, frames = await escalate(b)
    estimate = next(f for f in frames if isinstance(f, SWaitEstimate))
    assert estimate.minutes is None and "Nobody from the team is online" in estimate.text
    fallback = next(f for f in frames if isinstance(f, SFallbackOffer))
    assert fallback.reason == "no_agents"
    await visitor.close()
    await lee.close()
    await sam.close()


async def test_a_conversation_queued_on_node_b_is_offered_to_an_agent_on_node_a(
    cluster, shared_store
):
    (_, a), (_, b) = cluster(False, "--push"), cluster(False, "--push")
    sam_token, lee_token = add_agent(shared_store, "sam"), add_agent(shared_store, "lee")
    lee = await watcher(b, lee_token)
    sam = await online_agent(a, sam_token)
    await until_seen(lee, "agt_sam", online=True, timeout=EXPIRY)
    visitor, cid, _ = await escalate(b)
    frames = await sam.recv_until(lambda f: isinstance(f, SOffer), 10)
    assert frames[-1].item.conversation_id == cid
    accept = new_client_msg_id()
    await sam.send(AAccept(type="accept", conversation_id=cid, client_msg_id=accept))
    assert isinstance((await wait_ack(sam, accept))[-1], SAck)
    stored = shared_store.get_conversation(cid)
    assert stored.status == "assigned" and stored.assigned_agent_id == "agt_sam"
    for conn in (visitor, sam, lee):
        await conn.close()


async def test_a_holder_connected_to_another_node_keeps_their_conversation(
    pg_schema_url, shared_store, tmp_path, demo_answerer
):
    """Node B starts while Sam, connected to node A only, holds a conversation: past the
    grace period B must not put it back in the queue (Sam is there, on A). Once Sam's
    last connection anywhere is gone, it goes back once."""
    nodes = []

    async def node(name: str) -> Any:
        settings = make_settings(
            tmp_path / name,
            store={"url": pg_schema_url},
            assignment={"disconnect_grace_seconds": 1.0},
        )
        nodes.append(await start_server(settings, answerer=demo_answerer))
        return nodes[-1]

    try:
        a = await node("a")
        token = add_agent(shared_store, "sam")
        sam = await online_agent(a.url, token)
        cid = await _queued_conversation(shared_store)
        claim = new_client_msg_id()
        await sam.send(AClaim(type="claim", conversation_id=cid, client_msg_id=claim))
        assert isinstance((await wait_ack(sam, claim))[-1], SAck)
        await node("b")  # sees cid held by Sam, who has no connection on B
        await asyncio.sleep(3)  # three grace periods
        stored = shared_store.get_conversation(cid)
        assert (stored.status, stored.assigned_agent_id) == ("assigned", "agt_sam")
        await sam.close()
        deadline = time.monotonic() + EXPIRY + 5
        while shared_store.get_conversation(cid).status != "queued":
            assert time.monotonic() < deadline, "never back in the queue"
            await asyncio.sleep(0.2)
        await asyncio.sleep(2)  # both nodes' grace periods are over
        assert len(shared_store.events_of_kinds(["requeued"], None, None)) == 1
    finally:
        for running in nodes:
            await running.close()


async def _offer_of(conn: Connection, cid: str, timeout: float) -> SOffer | None:
    """The offer of ``cid`` ``conn`` gets within ``timeout`` seconds, else ``None``."""
    try:
        frames = await conn.recv_until(
            lambda f: isinstance(f, SOffer) and f.item.conversation_id == cid, timeout
        )
    except TimeoutError:
        return None
    return frames[-1]


async def test_a_pushed_conversation_is_offered_on_one_node_at_a_time(cluster, shared_store):
    """Sam online on A, Lee online on B, both push: each node would offer a queued
    conversation to its own agent; the shared lease lets one offer be open at a time,
    and when it expires (5 s) the other node offers it to its agent."""
    (_, a), (_, b) = cluster(False, "--push"), cluster(False, "--push")
    sam_token, lee_token = add_agent(shared_store, "sam"), add_agent(shared_store, "lee")
    lee = await online_agent(b, lee_token)
    sam = await online_agent(a, sam_token)
    await until_seen(lee, "agt_sam", online=True, timeout=EXPIRY)
    visitor, cid, _ = await escalate(b)
    conns = {"sam": sam, "lee": lee}
    first, first_offer = "", None
    deadline = time.monotonic() + 10
    while first_offer is None and time.monotonic() < deadline:
        for name, conn in conns.items():
            first, first_offer = name, await _offer_of(conn, cid, 0.2)
            if first_offer is not None:
                break
    assert first_offer is not None, "offered to nobody"
    other = "lee" if first == "sam" else "sam"
    # While the first offer is open, the other node offers it to nobody.
    still_open = (first_offer.expires_at - utcnow()).total_seconds() - 0.3
    assert still_open > 1, still_open
    assert await _offer_of(conns[other], cid, still_open) is None, "offered on both nodes"
    # Once it expired, the other node offers it (it looks again an offer's time after
    # the lease was refused; once more if that was a moment too early).
    second = await _offer_of(conns[other], cid, 15.0)
    assert second is not None, f"{other} never got the offer"
    opened = second.expires_at - timedelta(seconds=second.timeout_seconds)
    assert opened >= first_offer.expires_at - timedelta(seconds=0.2)
    for conn in (visitor, sam, lee):
        await conn.close()
