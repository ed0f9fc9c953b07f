"""Assignment through a real server with real agent clients: team routing, push offers
to the least-loaded agent with an accept time-out (short, configured), declines, pull
teams that get no offers, waiting work offered in order when an agent comes online, an
agent's teams first in their queue, and an accept racing a claim."""

from __future__ import annotations

import asyncio

from handoff_server.protocol import (
    AOpen,
    APresence,
    ASubscribeQueue,
    SAck,
    SConversation,
    SError,
    SOffer,
    SQueue,
    SStaff,
    SWaitingWork,
)
from tests.server.routing_kit import (
    act,
    escalate,
    first_offer,
    next_offer,
    offer_ended,
    present,
    routing_server,
)


async def _frames_until_roster(conn) -> list:
    """Everything the connection received before the answer to a ``presence`` sent now:
    the server sends frames to one connection in order, so an offer made before it
    would be among them."""
    await conn.send(APresence(type="presence", status="online"))
    return await conn.recv_until(lambda f: isinstance(f, SStaff))


async def test_team_routing_offers_only_to_agents_of_the_team(server_factory):
    srv = await routing_server(server_factory, push_teams=["billing", "security"])
    sam, _, _ = await present(srv, "Sam", teams=["billing"])
    lee, _, _ = await present(srv, "Lee", teams=["security"])
    _, billing = await escalate(srv.url, "billing")
    offer = await next_offer(sam)
    assert (offer.item.conversation_id, offer.item.team) == (billing, "billing")
    assert not [f for f in await _frames_until_roster(lee) if isinstance(f, SOffer)]
    _, security = await escalate(srv.url, "security", name="Bo")
    offer = await next_offer(lee)
    assert (offer.item.conversation_id, offer.item.team) == (security, "security")
    assert not [f for f in await _frames_until_roster(sam) if isinstance(f, SOffer)]
    for conn in (sam, lee):
        await conn.close()


async def test_push_offers_the_least_loaded_agent(server_factory):
    srv = await routing_server(server_factory, mode="push")
    sam, _, _ = await present(srv, "Sam")
    first_visitor, first = await escalate(srv.url, "billing")
    offer = await next_offer(sam)
    assert offer.item.conversation_id == first
    assert isinstance(await act(sam, "accept", first), SAck)
    kim, _, _ = await present(srv, "Kim")
    _, second = await escalate(srv.url, "billing", name="Bo")
    offer = await next_offer(kim)  # Kim holds nothing, Sam one
    assert offer.item.conversation_id == second
    assert not [f for f in await _frames_until_roster(sam) if isinstance(f, SOffer)]
    for conn in (sam, kim, first_visitor):
        await conn.close()


async def test_an_offer_not_accepted_in_time_goes_to_the_next_agent(server_factory):
    srv = await routing_server(server_factory, mode="push", offer_timeout_seconds=0.3)
    sam, _, _ = await present(srv, "Sam")
    kim, _, _ = await present(srv, "Kim")
    _, cid = await escalate(srv.url, "billing")
    first = await first_offer({"Sam": sam, "Kim": kim})
    slow, other = (sam, kim) if first == "Sam" else (kim, sam)
    ended = await offer_ended(slow)
    assert (ended.conversation_id, ended.reason) == (cid, "expired")
    offer = await next_offer(other)
    assert offer.item.conversation_id == cid and offer.timeout_seconds == 0.3
    late = await act(slow, "accept", cid)
    assert isinstance(late, SError) and late.code == "invalid_state"
    assert isinstance(await act(other, "accept", cid), SAck)
    await other.send(AOpen(type="open", conversation_id=cid))
    packet = (await other.recv_until(lambda f: isinstance(f, SConversation)))[-1].packet
    claimed = [e for e in packet.transcript if e.kind == "claimed"]
    assert [c.data.via for c in claimed] == ["offer"]
    assert packet.assigned_agent is not None and packet.status == "assigned"
    for conn in (sam, kim):
        await conn.close()


async def test_declines_pass_it_on_and_when_everyone_passed_it_waits_for_a_claim(server_factory):
    srv = await routing_server(server_factory, mode="push")
    sam, _, _ = await present(srv, "Sam")
    kim, _, _ = await present(srv, "Kim")
    _, cid = await escalate(srv.url, "billing")
    name = await first_offer({"Sam": sam, "Kim": kim})
    first, second = (sam, kim) if name == "Sam" else (kim, sam)
    await first.send({"type": "decline", "conversation_id": cid})
    assert (await offer_ended(first)).reason == "declined"
    await next_offer(second)
    await second.send({"type": "decline", "conversation_id": cid})
    assert (await offer_ended(second)).reason == "declined"
    # Nobody else can take it: it waits in the queue, where a claim still works.
    assert not [f for f in await _frames_until_roster(first) if isinstance(f, SOffer)]
    assert isinstance(await act(first, "claim", cid), SAck)
    refused = await act(second, "accept", cid)
    assert isinstance(refused, SError) and refused.code == "invalid_state"
    for conn in (sam, kim):
        await conn.close()


async def test_pull_teams_get_no_offers(server_factory):
    srv = await routing_server(server_factory, mode="push", pull_teams=["billing"])
    sam, _, _ = await present(srv, "Sam")
    _, billing = await escalate(srv.url, "billing")
    assert not [f for f in await _frames_until_roster(sam) if isinstance(f, SOffer)]
    _, other = await escalate(srv.url, None, name="Bo")  # no team: the default mode, push
    assert (await next_offer(sam)).item.conversation_id == other
    assert isinstance(await act(sam, "claim", billing), SAck)
    await sam.close()


async def test_waiting_work_is_offered_in_order_when_an_agent_comes_online(server_factory):
    srv = await routing_server(server_factory, mode="push")
    cids = [(await escalate(srv.url, "billing", name=f"V{n}"))[1] for n in range(3)]
    sam, _, _ = await present(srv, "Sam", capacity=2)
    first, second = await next_offer(sam), await next_offer(sam)
    assert [first.item.conversation_id, second.item.conversation_id] == cids[:2]
    assert first.item.queued_at < second.item.queued_at
    # Two open offers fill Sam's two slots: the third waits.
    assert not [f for f in await _frames_until_roster(sam) if isinstance(f, SOffer)]
    assert isinstance(await act(sam, "accept", cids[0]), SAck)
    assert isinstance(await act(sam, "accept", cids[1]), SAck)
    assert isinstance(await act(sam, "resolve", cids[0]), SAck)
    third = await next_offer(sam)  # a slot freed: the next in line
    assert third.item.conversation_id == cids[2]
    await sam.close()


async def test_an_agent_sees_their_teams_queue_first(server_factory):
    srv = await routing_server(server_factory)
    _, billing = await escalate(srv.url, "billing")
    _, none = await escalate(srv.url, None, name="Bo")
    _, security = await escalate(srv.url, "security", name="Cy")
    lee, _, _ = await present(srv, "Lee", teams=["security"])
    await lee.send(ASubscribeQueue(type="subscribe_queue"))
    queue = (await lee.recv_until(lambda f: isinstance(f, SQueue)))[-1]
    assert [(i.conversation_id, i.team) for i in queue.items][0] == (security, "security")
    assert {i.conversation_id for i in queue.items} == {billing, none, security}
    await lee.close()


async def test_an_accept_racing_a_claim_has_one_winner(server_factory):
    srv = await routing_server(server_factory, push_teams=["billing"])
    sam, _, _ = await present(srv, "Sam", teams=["billing"])
    kim, _, _ = await present(srv, "Kim", teams=["security"])
    for n in range(20):
        _, cid = await escalate(srv.url, "billing", name=f"V{n}")
        await next_offer(sam)
        accepted, claimed = await asyncio.gather(act(sam, "accept", cid), act(kim, "claim", cid))
        wins = [r for r in (accepted, claimed) if isinstance(r, SAck)]
        assert len(wins) == 1, (accepted, claimed)
        winner = sam if wins[0] is accepted else kim
        assert isinstance(await act(winner, "resolve", cid), SAck)
    for conn in (sam, kim):
        await conn.close()


async def test_an_offer_moves_on_at_once_when_its_agent_goes_away_or_drops(server_factory):
    srv = await routing_server(server_factory, mode="push")
    sam, _, _ = await present(srv, "Sam")
    kim, _, _ = await present(srv, "Kim")
    _, cid = await escalate(srv.url, "billing")
    name = await first_offer({"Sam": sam, "Kim": kim})
    first, second = (sam, kim) if name == "Sam" else (kim, sam)
    await first.send(APresence(type="presence", status="away"))
    assert (await offer_ended(first)).reason == "declined"
    assert (await next_offer(second)).item.conversation_id == cid
    await second.close()  # the second agent drops: nobody else can take it now
    await first.send(APresence(type="presence", status="online"))
    # Back online, the first agent is not offered it again (they passed on it this time
    # in the queue); a claim still works.
    assert not [f for f in await _frames_until_roster(first) if isinstance(f, SOffer)]
    assert srv.desk.offers.open == {}
    assert isinstance(await act(first, "claim", cid), SAck)
    await first.close()


def test_assignment_settings_say_which_teams_push_and_refuse_contradictions():
    import pytest

    from handoff_server.config import load_settings
    from handoff_server.errors import ConfigError

    a = load_settings(None, {"assignment": {"push_teams": ["billing"]}}).assignment
    assert (a.pushes("billing"), a.pushes("security"), a.pushes(None)) == (True, False, False)
    a = load_settings(None, {"assignment": {"mode": "push", "pull_teams": ["sales"]}}).assignment
    assert (a.pushes("billing"), a.pushes("sales"), a.pushes(None)) == (True, False, True)
    for bad, needle in [
        ({"push_teams": ["x"], "pull_teams": ["x"]}, "both push_teams and pull_teams"),
        ({"push_teams": ["[red]"]}, "assignment.push_teams.0"),
        ({"default_capacity": 0}, "assignment.default_capacity"),
        ({"offer_timeout_seconds": 0}, "assignment.offer_timeout_seconds"),
        ({"mode": "round-robin"}, "assignment.mode"),
    ]:
        with pytest.raises(ConfigError) as info:
            load_settings(None, {"assignment": bad})
        assert needle in str(info.value) and info.value.code == "bad_config"


async def test_waiting_work_goes_only_to_agents_who_can_take_it(server_factory):
    """A billing agent coming online is offered the billing work that waits (pull); a
    security agent, who cannot take it, is not sent it, and an agent at capacity is not
    either."""
    srv = await routing_server(server_factory)
    lee, _, _ = await present(srv, "Lee", teams=["security"])
    full, _, _ = await present(srv, "Max", capacity=1)
    _, busy = await escalate(srv.url, "security", name="Cy")
    assert isinstance(await act(full, "claim", busy), SAck)
    await _frames_until_roster(lee)
    await _frames_until_roster(full)
    _, billing = await escalate(srv.url, "billing")
    sam, _, _ = await present(srv, "Sam", teams=["billing"])
    work = (await sam.recv_until(lambda f: isinstance(f, SWaitingWork), 10))[-1]
    assert [i.conversation_id for i in work.items] == [billing]
    for other in (lee, full):
        assert not [f for f in await _frames_until_roster(other) if isinstance(f, SWaitingWork)]
    for conn in (lee, full, sam):
        await conn.close()
