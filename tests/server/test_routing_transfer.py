"""Transfer, release, handback and resolve through a real server with real clients:
to an agent and to a team with a note the visitor never sees, release to the original
place in the queue, the AI answering again after a handback, the resolution code and
the AI verdict stored on the resolved event, and every refusal storing nothing."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from handoff_server.client import Connection, connect_visitor
from handoff_server.frames import parse_server_frame
from handoff_server.protocol import (
    AOpen,
    ASubscribeQueue,
    HandoffPacket,
    SAck,
    SConversation,
    SError,
    SEvent,
    SQueue,
    VisitorInfo,
    VStart,
)
from tests.helpers import events, say
from tests.server.routing_kit import (
    TEAM_TEXT,
    act,
    next_offer,
    present,
    routing_server,
    visitor_event,
)

NOTE = "VIP customer PRIVATE-NOTE: refund already approved"


class RawVisitor(Connection):
    """A real visitor connection that keeps every raw frame it receives."""

    def __init__(self, conn: Connection) -> None:
        super().__init__(conn.ws)
        self.raw: list[str] = []

    async def recv(self, timeout: float | None = None) -> Any:
        import asyncio

        raw = await asyncio.wait_for(self.ws.recv(), timeout)
        self.raw.append(raw)
        return parse_server_frame(raw)


async def _visitor(
    url: str, team: str | None = "billing", name: str = "Ada"
) -> tuple[RawVisitor, str]:
    conn = RawVisitor(await connect_visitor(url))
    await conn.send(VStart(type="start", visitor=VisitorInfo(name=name)))
    welcome = (await conn.recv_until(lambda f: isinstance(f, SEvent)))[0]
    assert events(await say(conn, TEAM_TEXT[team]), "escalated")
    return conn, welcome.conversation_id


async def _packet(conn, cid: str) -> HandoffPacket:
    await conn.send(AOpen(type="open", conversation_id=cid, subscribe=False))
    return (await conn.recv_until(lambda f: isinstance(f, SConversation)))[-1].packet


async def _queue(conn, statuses=("queued",)) -> list:
    await conn.send(ASubscribeQueue(type="subscribe_queue", statuses=list(statuses)))
    return (await conn.recv_until(lambda f: isinstance(f, SQueue)))[-1].items


async def test_transfer_to_an_agent_with_a_note_the_visitor_never_sees(server_factory):
    srv = await routing_server(server_factory)
    sam, _, _ = await present(srv, "Sam")
    kim, _, staff = await present(srv, "Kim")
    kim_id = next(a.id for a in staff.agents if a.name == "Kim")
    visitor, cid = await _visitor(srv.url)
    assert isinstance(await act(sam, "claim", cid), SAck)
    assert isinstance(await act(sam, "transfer", cid, to_agent=kim_id, note=NOTE), SAck)

    told = await visitor_event(visitor, "transferred")
    assert told.data.model_dump() == {"notice": "A colleague is taking over this conversation."}
    assert told.actor == "agent"
    assert not any("PRIVATE-NOTE" in r or "Kim" in r or kim_id in r for r in visitor.raw)

    packet = await _packet(kim, cid)
    assert packet.assigned_agent is not None and packet.assigned_agent.name == "Kim"
    (event,) = [e for e in packet.transcript if e.kind == "transferred"]
    assert event.data.note == NOTE and event.data.agent.name == "Sam"
    assert event.data.to_agent.name == "Kim" and event.data.to_team is None
    refused = await act(sam, "reply", cid, text="still here?")
    assert isinstance(refused, SError) and refused.code == "conflict"
    assert isinstance(await act(kim, "reply", cid, text="Hi, Kim here."), SAck)
    for conn in (sam, kim, visitor):
        await conn.close()


async def test_transfer_to_a_team_keeps_the_queue_place_and_reaches_the_team(server_factory):
    srv = await routing_server(server_factory, push_teams=["security"])
    sam, _, _ = await present(srv, "Sam", teams=["billing"])
    lee, _, _ = await present(srv, "Lee", teams=["security"])
    visitor, first = await _visitor(srv.url, "billing", "Ada")
    other_visitor, second = await _visitor(srv.url, None, "Bo")
    before = {i.conversation_id: i.queued_at for i in await _queue(sam)}
    assert isinstance(await act(sam, "claim", first), SAck)
    answer = await act(sam, "transfer", first, to_team="security", note=NOTE)
    assert isinstance(answer, SAck)
    offer = await next_offer(lee)  # security pushes: Lee, its one agent, is offered it
    assert (offer.item.conversation_id, offer.item.team) == (first, "security")
    told = await visitor_event(visitor, "transferred")
    assert set(told.data.model_dump()) == {"notice"}
    assert not any("PRIVATE-NOTE" in r or "security" in r for r in visitor.raw)
    items = await _queue(sam)
    assert [i.conversation_id for i in items] == [first, second]
    assert items[0].queued_at == before[first] and items[0].team == "security"
    for conn in (sam, lee, visitor, other_visitor):
        await conn.close()


@pytest.mark.parametrize(
    ("fields", "code"),
    [
        ({"to_agent": "agt_nobody"}, "not_found"),
        ({"to_agent": "@kim"}, "at_capacity"),
        ({"to_agent": "@lee"}, "invalid_state"),  # away
        ({"to_agent": "@sam"}, "invalid_state"),  # to yourself
        ({"to_agent": "@kim", "to_team": "billing"}, "invalid_frame"),
        ({}, "invalid_frame"),
        ({"to_team": "[red]x[/red]"}, "invalid_frame"),
        ({"to_team": "billing", "note": "\u200b"}, "empty_message"),
    ],
)
async def test_a_refused_transfer_stores_nothing(server_factory, fields, code):
    srv = await routing_server(server_factory)
    sam, _, staff = await present(srv, "Sam")
    kim, _, staff = await present(srv, "Kim", capacity=1)
    lee, _, staff = await present(srv, "Lee", status="away")
    ids = {"@" + a.name.lower(): a.id for a in staff.agents}
    visitor, cid = await _visitor(srv.url)
    _, busy = await _visitor(srv.url, None, "Bo")
    assert isinstance(await act(kim, "claim", busy), SAck)
    assert isinstance(await act(sam, "claim", cid), SAck)
    before = await _packet(sam, cid)
    target = {k: ids.get(v, v) if k == "to_agent" else v for k, v in fields.items()}
    refused = await act(sam, "transfer", cid, **target)
    assert isinstance(refused, SError) and refused.code == code, refused
    after = await _packet(sam, cid)
    assert after.last_seq == before.last_seq and after.assigned_agent == before.assigned_agent
    for conn in (sam, kim, lee, visitor):
        await conn.close()


async def test_only_the_holder_or_an_operator_transfers_an_assigned_conversation(server_factory):
    from tests.conftest import create_token

    srv = await routing_server(server_factory)
    sam, _, _ = await present(srv, "Sam")
    kim, _, _ = await present(srv, "Kim")
    olga, _, _ = await present(srv, "Olga", token=await create_token(srv, "Olga", "operator"))
    visitor, cid = await _visitor(srv.url)
    assert isinstance(await act(sam, "claim", cid), SAck)
    refused = await act(kim, "transfer", cid, to_team="security")
    assert isinstance(refused, SError) and refused.code == "conflict"
    assert isinstance(await act(olga, "transfer", cid, to_team="security"), SAck)
    resolved = await act(olga, "resolve", cid)
    assert isinstance(resolved, SAck)
    refused = await act(olga, "transfer", cid, to_team="billing")
    assert isinstance(refused, SError) and refused.code == "invalid_state"
    for conn in (sam, kim, olga, visitor):
        await conn.close()


async def test_release_returns_the_conversation_to_its_original_place(server_factory):
    srv = await routing_server(server_factory)
    sam, _, _ = await present(srv, "Sam")
    ada, first = await _visitor(srv.url, "billing", "Ada")
    bo, second = await _visitor(srv.url, "billing", "Bo")
    before = await _queue(sam)
    assert [i.conversation_id for i in before] == [first, second]
    assert isinstance(await act(sam, "claim", first), SAck)
    assert isinstance(await act(sam, "release", first), SAck)
    after = await _queue(sam)
    assert [i.conversation_id for i in after] == [first, second]
    assert after[0].queued_at == before[0].queued_at
    for conn in (sam, ada, bo):
        await conn.close()


async def test_after_a_handback_the_ai_answers_the_next_message(server_factory):
    srv = await routing_server(server_factory)
    sam, _, _ = await present(srv, "Sam")
    visitor, cid = await _visitor(srv.url)
    assert isinstance(await act(sam, "claim", cid), SAck)
    assert isinstance(await act(sam, "handback", cid), SAck)
    await visitor_event(visitor, "handed_back")
    frames = await say(visitor, "how do I point my domain to your nameservers")
    (answer,) = events(frames, "ai_message")
    assert answer.data.sources == ["dns-nameservers"]
    assert not events(frames, "escalated")
    for conn in (sam, visitor):
        await conn.close()


async def test_resolve_stores_the_resolution_and_the_ai_verdict(server_factory):
    srv = await routing_server(server_factory)
    sam, _, _ = await present(srv, "Sam")
    visitor, cid = await _visitor(srv.url)
    assert isinstance(await act(sam, "claim", cid), SAck)
    bad = await act(sam, "resolve", cid, resolution="solved-ish")
    assert isinstance(bad, SError) and bad.code == "invalid_frame"
    bad = await act(sam, "resolve", cid, resolution="answered", ai_verdict="meh")
    assert isinstance(bad, SError) and bad.code == "invalid_frame"
    answer = await act(sam, "resolve", cid, resolution="answered", ai_verdict="wrong")
    assert isinstance(answer, SAck)
    told = await visitor_event(visitor, "resolved")
    assert "resolution" not in told.data.model_dump()
    assert not any("ai_verdict" in r or "answered" in r for r in visitor.raw)
    (event,) = [e for e in (await _packet(sam, cid)).transcript if e.kind == "resolved"]
    stored = event.data.model_dump()
    assert (stored["resolution"], stored["ai_verdict"]) == ("answered", "wrong")
    for conn in (sam, visitor):
        await conn.close()


async def test_a_transfer_refused_at_capacity_states_the_real_load(server_factory):
    """Transfers racing to one free slot: the loser was told "Kim already holds 0
    conversations (capacity 1)" (only held conversations counted, not the transfer
    being stored that took the slot). The refusal states the whole load."""
    srv = await routing_server(server_factory)
    kim, _, staff = await present(srv, "Kim", capacity=1)
    kim_id = next(a.id for a in staff.agents if a.name == "Kim")
    holders = []
    for name in ("Sam", "Lee", "Bo", "Cy"):
        agent_conn, _, _ = await present(srv, name)
        visitor, cid = await _visitor(srv.url, None, f"V{name}")
        assert isinstance(await act(agent_conn, "claim", cid), SAck)
        holders.append((agent_conn, visitor, cid))
    answers = await asyncio.gather(
        *(act(conn, "transfer", cid, to_agent=kim_id) for conn, _, cid in holders)
    )
    refused = [a for a in answers if isinstance(a, SError)]
    assert len(refused) == 3 and all(a.code == "at_capacity" for a in refused), answers
    for answer in refused:
        assert "Kim has no free slot: capacity 1, 1 in use (" in answer.detail, answer
        assert "holds 0" not in answer.detail
    for conn in (kim, *(c for h in holders for c in h[:2])):
        await conn.close()
