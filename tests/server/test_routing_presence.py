"""Presence, capacity and teams through a real server with real agent clients: the
roster, the Staffing numbers other parts of routing read, the capacity refusal (alone
and under simultaneous claims), and agents who disconnect and come back within or past
the grace period (also across a restart)."""

from __future__ import annotations

import asyncio

from handoff_server.client import new_client_msg_id
from handoff_server.protocol import (
    APresence,
    ASubscribeQueue,
    SAck,
    SAgentStatus,
    SError,
    SQueue,
    SStaff,
)
from handoff_server.routing.presence import Staffing
from tests.conftest import create_token
from tests.helpers import agent
from tests.server.routing_kit import act, escalate, present, routing_server, visitor_event


def _status(staff: SStaff, name: str) -> tuple[str, bool, int, int]:
    (a,) = [a for a in staff.agents if a.name == name]
    return a.status, a.connected, a.load, a.capacity


async def _status_change(conn, name: str, status: str) -> SAgentStatus:
    frames = await conn.recv_until(
        lambda f: isinstance(f, SAgentStatus) and f.agent.name == name and f.agent.status == status
    )
    return frames[-1]


async def test_presence_is_said_by_the_agent_and_colleagues_see_it(server_factory):
    srv = await routing_server(server_factory)
    kim_token = await create_token(srv, "Kim", teams=["billing"])
    # A connection that never says its presence (a script, `handoff queue`) is no one online.
    script = await agent(srv.url, kim_token)
    sam, _, staff = await present(srv, "Sam", teams=["billing", "security"], capacity=4)
    assert _status(staff, "Sam") == ("online", True, 0, 4)
    assert _status(staff, "Kim") == ("offline", False, 0, 3)
    assert [a.teams for a in staff.agents if a.name == "Sam"] == [["billing", "security"]]
    staffing: Staffing = srv.desk.presence
    assert staffing.online_agents("billing") == 1

    kim, _, _ = await present(srv, "Kim", token=kim_token)
    assert (await _status_change(sam, "Kim", "online")).agent.connected
    await kim.send(APresence(type="presence", status="away"))
    await _status_change(sam, "Kim", "away")
    # Away is signed in but takes nothing: not counted online, no free capacity.
    assert staffing.online_agents("billing") == 1
    assert staffing.free_capacity("billing") == 4
    for conn in (script, sam, kim):
        await conn.close()


async def test_staffing_counts_per_team_and_calls_back_when_a_slot_frees(server_factory):
    srv = await routing_server(server_factory)
    staffing: Staffing = srv.desk.presence
    called: list[str | None] = []
    staffing.on_available(called.append)
    sam, _, _ = await present(srv, "Sam", teams=["billing"], capacity=2)
    kim, _, _ = await present(srv, "Kim", capacity=3)  # no teams: serves every team
    assert called == ["billing", None]  # each came online
    assert staffing.online_agents("billing") == 2
    assert staffing.online_agents("security") == 1
    assert staffing.online_agents(None) == 2
    assert staffing.free_capacity("billing") == 5
    assert staffing.free_capacity("security") == 3

    _, cid = await escalate(srv.url, "billing")
    assert isinstance(await act(sam, "claim", cid), SAck)
    assert staffing.free_capacity("billing") == 4
    assert staffing.free_capacity("security") == 3
    called.clear()
    assert isinstance(await act(sam, "resolve", cid), SAck)
    await asyncio.sleep(0)  # the callbacks run soon after the change, from the loop
    assert called == ["billing"]
    assert staffing.free_capacity("billing") == 5
    lee, _, _ = await present(srv, "Lee", teams=["security"], capacity=1)
    assert staffing.online_agents("security") == 2
    assert called[-1] == "security"
    for conn in (sam, kim, lee):
        await conn.close()


async def test_a_claim_past_capacity_is_refused_with_at_capacity(server_factory):
    srv = await routing_server(server_factory)
    sam, _, _ = await present(srv, "Sam", capacity=1)
    kim, _, _ = await present(srv, "Kim")
    _, first = await escalate(srv.url, "billing")
    _, second = await escalate(srv.url, None, name="Bo")
    assert isinstance(await act(sam, "claim", first), SAck)
    refused = await act(sam, "claim", second)
    assert isinstance(refused, SError) and refused.code == "at_capacity"
    assert "capacity 1" in refused.detail
    # Nothing was stored for the refusal: the conversation still waits, and Kim sees it.
    await kim.send(ASubscribeQueue(type="subscribe_queue", statuses=["queued"]))
    (queue,) = [f for f in await kim.recv_until(lambda f: isinstance(f, SQueue))][-1:]
    assert [i.conversation_id for i in queue.items] == [second]
    staff = await _roster(kim)
    assert _status(staff, "Sam")[2] == 1  # load
    assert isinstance(await act(sam, "resolve", first), SAck)
    assert isinstance(await act(sam, "claim", second), SAck)
    for conn in (sam, kim):
        await conn.close()


async def _roster(conn) -> SStaff:
    await conn.send(APresence(type="presence", status="online"))
    frames = await conn.recv_until(lambda f: isinstance(f, SStaff))
    return frames[-1]


async def test_simultaneous_claims_by_an_agent_at_capacity_one_wins(server_factory):
    """Two claims sent at once by an agent with one free slot: the capacity check and the
    claim are one step, so exactly one is stored."""
    srv = await routing_server(server_factory)
    sam, _, _ = await present(srv, "Sam", capacity=1)
    cids = [(await escalate(srv.url, "billing", name=f"V{n}"))[1] for n in range(2)]
    cmids = [new_client_msg_id() for _ in cids]
    for cid, cmid in zip(cids, cmids, strict=True):
        await sam.send({"type": "claim", "conversation_id": cid, "client_msg_id": cmid})
    answers = {}
    while len(answers) < 2:
        frame = await sam.recv(timeout=10)
        if isinstance(frame, SAck | SError) and frame.client_msg_id in cmids:
            answers[frame.client_msg_id] = frame
    kinds = sorted(type(a).__name__ for a in answers.values())
    assert kinds == ["SAck", "SError"]
    assert [a.code for a in answers.values() if isinstance(a, SError)] == ["at_capacity"]
    await sam.close()


async def test_200_simultaneous_claims_have_exactly_one_winner_each(server_factory):
    # 200 claims from each agent in a few seconds: past the default rate limit.
    srv = await routing_server(server_factory, server={"rate_limit_per_minute": 10_000})
    agents = [(await present(srv, name, capacity=1000))[0] for name in ("Sam", "Kim", "Lee")]
    cids: list[str] = []
    for batch in range(10):
        made = await asyncio.gather(
            *(escalate(srv.url, None, name=f"V{batch}-{n}") for n in range(20))
        )
        for conn, cid in made:
            await conn.close()
            cids.append(cid)
    assert len(set(cids)) == 200
    winners = []
    for cid in cids:
        results = await asyncio.gather(*(act(conn, "claim", cid) for conn in agents))
        acks = [n for n, r in enumerate(results) if isinstance(r, SAck)]
        refusals = [r.code for r in results if isinstance(r, SError)]
        assert len(acks) == 1, (cid, results)
        assert refusals == ["conflict", "conflict"], (cid, results)
        winners.append(acks[0])
    # Every stored conversation has one holder, the winner: the loads add up to 200.
    loads = {a.name: a.load for a in (await _roster(agents[0])).agents}
    assert sum(loads.values()) == 200
    assert sorted(loads.values()) == sorted(winners.count(n) for n in range(3))
    for conn in agents:
        await conn.close()


async def test_back_within_the_grace_period_keeps_presence_and_conversations(server_factory):
    srv = await routing_server(server_factory, disconnect_grace_seconds=0.4)
    sam, sam_token, _ = await present(srv, "Sam")
    kim, _, _ = await present(srv, "Kim")
    visitor, cid = await escalate(srv.url, "billing")
    assert isinstance(await act(sam, "claim", cid), SAck)
    await sam.close()
    gone = await kim.recv_until(
        lambda f: isinstance(f, SAgentStatus) and f.agent.name == "Sam" and not f.agent.connected
    )
    assert gone[-1].agent.status == "online"  # kept during the grace period
    sam, _, staff = await present(srv, "Sam", token=sam_token)
    assert _status(staff, "Sam") == ("online", True, 1, 3)
    await asyncio.sleep(0.6)  # past the first grace period: it was cancelled
    staff = await _roster(kim)
    assert _status(staff, "Sam") == ("online", True, 1, 3)
    assert list(srv.desk.presence.holders) == [cid]
    for conn in (sam, kim, visitor):
        await conn.close()


async def test_past_the_grace_period_conversations_go_back_in_place_and_the_visitor_is_told(
    server_factory,
):
    srv = await routing_server(server_factory, disconnect_grace_seconds=0.3)
    sam, _, _ = await present(srv, "Sam")
    kim, _, _ = await present(srv, "Kim")
    ada, first = await escalate(srv.url, "billing", name="Ada")
    bo, second = await escalate(srv.url, "billing", name="Bo")
    await kim.send(ASubscribeQueue(type="subscribe_queue", statuses=["queued"]))
    before = (await kim.recv_until(lambda f: isinstance(f, SQueue)))[-1]
    queued_at = {i.conversation_id: i.queued_at for i in before.items}
    assert isinstance(await act(sam, "claim", first), SAck)
    await sam.close()
    requeued = await visitor_event(ada, "requeued")
    # The visitor gets a neutral sentence, nothing of who or why.
    assert set(requeued.data.model_dump()) == {"notice"}
    assert "queue" in requeued.data.notice
    await _status_change(kim, "Sam", "offline")
    await kim.send(ASubscribeQueue(type="subscribe_queue", statuses=["queued"]))
    after = (await kim.recv_until(lambda f: isinstance(f, SQueue)))[-1]
    assert [i.conversation_id for i in after.items] == [first, second]
    assert after.items[0].queued_at == queued_at[first]
    assert after.items[0].assigned_agent is None
    for conn in (kim, ada, bo):
        await conn.close()


async def test_after_a_restart_a_holder_has_the_grace_period_to_come_back(server_factory, tmp_path):
    data = tmp_path / "d"
    first = await server_factory(data_dir=data, assignment={"disconnect_grace_seconds": 0.3})
    sam_token = await create_token(first, "Sam")
    kim_token = await create_token(first, "Kim")
    sam, _, _ = await present(first, "Sam", token=sam_token)
    _, kept = await escalate(first.url, None, name="Ada")
    _, lost = await escalate(first.url, None, name="Bo")
    assert isinstance(await act(sam, "claim", kept), SAck)
    kim, _, _ = await present(first, "Kim", token=kim_token)
    assert isinstance(await act(kim, "claim", lost), SAck)
    await first.close()

    second = await server_factory(data_dir=data, assignment={"disconnect_grace_seconds": 0.3})
    sam, _, staff = await present(second, "Sam", token=sam_token)  # Sam comes back in time
    assert _status(staff, "Sam")[2] == 1 and _status(staff, "Kim")[2] == 1
    frames = await sam.recv_until(
        lambda f: isinstance(f, SAgentStatus) and f.agent.name == "Kim" and f.agent.load == 0,
        timeout=10,
    )
    assert frames[-1].agent.status == "offline"
    await sam.send(ASubscribeQueue(type="subscribe_queue", statuses=["queued", "assigned"]))
    queue = (await sam.recv_until(lambda f: isinstance(f, SQueue)))[-1]
    where = {
        i.conversation_id: (i.status, i.assigned_agent and i.assigned_agent.name)
        for i in queue.items
    }
    assert where == {kept: ("assigned", "Sam"), lost: ("queued", None)}
    await sam.close()
