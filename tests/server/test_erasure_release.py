"""A conversation erased beside the running server (``handoff erase --email``) leaves
everything the server held of it: the holder's slot, an open push offer, the waiting
lines, the subscriptions, and the connected agents' views. Real server, real clients, the real ``handoff erase``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from websockets.exceptions import ConnectionClosed

from handoff_server.client import connect_visitor
from handoff_server.client_reads import read_queue
from handoff_server.protocol import (
    AOpen,
    SAck,
    SAgentStatus,
    SConversation,
    SError,
    SOffer,
    SOfferEnded,
    SQueueItem,
    VisitorInfo,
    VResume,
)
from tests.conftest import ServerFactory
from tests.helpers import events, run_handoff, say, start_visitor
from tests.server.routing_kit import TEAM_TEXT, TEAMS_POLICY, act, escalate, present

ERIN = "erin.erased@example.org"


async def _escalated_with_email(url: str) -> tuple[Any, str]:
    conn, welcome = await start_visitor(url, name="Erin", email=ERIN)
    assert events(await say(conn, TEAM_TEXT[None]), "escalated")
    return conn, welcome.conversation_id


async def _erase(data: Path) -> None:
    done = await run_handoff("erase", "--email", ERIN, "--json", "--data-dir", str(data))
    assert done.returncode == 0, done.stderr


async def test_erasing_a_held_conversation_frees_its_holders_slot(
    server_factory: ServerFactory, tmp_path: Path
) -> None:
    """Sam (capacity 1) held Erin's conversation when it was erased: the server forgot
    it in its memory of recent conversations only, so Sam's load stayed 1 and his next
    claim was refused ``at_capacity`` until he disconnected past the grace period. Now
    the roster shows his load back to 0 and the claim is taken; nobody stays subscribed
    to the erased conversation."""
    data = tmp_path / "data"
    srv = await server_factory(data_dir=data, policy=TEAMS_POLICY)
    sam, _, _ = await present(srv, "Sam", capacity=1)
    erin, cid = await _escalated_with_email(srv.url)
    assert isinstance(await act(sam, "claim", cid), SAck)
    _, next_cid = await escalate(srv.url, None, name="Next")
    refused = await act(sam, "claim", next_cid)
    assert isinstance(refused, SError) and refused.code == "at_capacity"

    await _erase(data)
    frames = await sam.recv_until(
        lambda f: isinstance(f, SAgentStatus) and f.agent.name == "Sam" and f.agent.load == 0,
        timeout=10,
    )
    assert frames
    assert isinstance(await act(sam, "claim", next_cid), SAck)
    assert cid not in srv.gateway.hub.conversations
    await erin.close()


async def test_erasing_an_offered_conversation_ends_the_offer_and_frees_the_slot(
    server_factory: ServerFactory, tmp_path: Path
) -> None:
    """Push mode: Sam (capacity 1) had an open offer of Erin's conversation when it was
    erased, and the server no longer had it in its memory of recent conversations (it
    keeps the most recent only): the erasure watch never noticed it, the offer stayed
    open and held Sam's only slot until it expired. Now the offer ends (``taken``) and
    the next conversation is offered to Sam at once."""
    data = tmp_path / "data"
    srv = await server_factory(
        data_dir=data, policy=TEAMS_POLICY, assignment={"mode": "push", "offer_timeout_seconds": 60}
    )
    sam, _, _ = await present(srv, "Sam", capacity=1)
    erin, cid = await _escalated_with_email(srv.url)
    offer = (await sam.recv_until(lambda f: isinstance(f, SOffer), timeout=10))[-1]
    assert offer.item.conversation_id == cid
    srv.service.memory.clear()  # as if many newer conversations had pushed it out

    await _erase(data)
    ended = (await sam.recv_until(lambda f: isinstance(f, SOfferEnded), timeout=10))[-1]
    assert (ended.conversation_id, ended.reason) == (cid, "taken")
    _, next_cid = await escalate(srv.url, None, name="Next")
    offered = (await sam.recv_until(lambda f: isinstance(f, SOffer), timeout=10))[-1]
    assert offered.item.conversation_id == next_cid
    assert isinstance(await act(sam, "accept", next_cid), SAck)
    await erin.close()


async def test_an_erased_conversation_leaves_every_connected_agents_view(
    server_factory: ServerFactory, tmp_path: Path
) -> None:
    """The server forgot an erased conversation, but the agents connected kept its row
    (Sam watches the queue) and its packet (Kim opened it): nothing told them. Now both
    get a ``queue_item`` with ``erased`` whose row holds the id alone (no visitor
    details); a fresh queue no longer lists it either."""
    data = tmp_path / "data"
    srv = await server_factory(data_dir=data, policy=TEAMS_POLICY)
    sam, _, _ = await present(srv, "Sam")
    kim, _, _ = await present(srv, "Kim")
    erin, cid = await _escalated_with_email(srv.url)
    assert cid in {row.conversation_id for row in await read_queue(sam)}
    await kim.send(AOpen(type="open", conversation_id=cid, last_seq=0))
    (opened,) = [
        f
        for f in await kim.recv_until(lambda f: isinstance(f, SConversation), timeout=10)
        if isinstance(f, SConversation)
    ]
    assert opened.packet.visitor.email == ERIN

    await _erase(data)
    for conn in (sam, kim):
        frames = await conn.recv_until(
            lambda f: isinstance(f, SQueueItem) and f.item.conversation_id == cid, timeout=10
        )
        gone = frames[-1]
        assert gone.erased, gone
        assert gone.item.visitor == VisitorInfo() and gone.item.status == "resolved"
    assert cid not in {row.conversation_id for row in await read_queue(sam)}
    await erin.close()


async def test_an_erased_conversations_visitor_is_disconnected_and_cannot_resume(
    server_factory: ServerFactory, tmp_path: Path
) -> None:
    """The visitor of an erased conversation stayed connected: their page went on
    showing the erased transcript and their next message got ``not_found``. Now their
    connection is closed (1000, ``conversation erased``); resuming with the old token is
    refused ``bad_resume_token``, on which the clients start afresh (the web widget
    clears the transcript and says the conversation ended)."""
    data = tmp_path / "data"
    srv = await server_factory(data_dir=data, policy=TEAMS_POLICY)
    erin, welcome = await start_visitor(srv.url, name="Erin", email=ERIN)
    assert events(await say(erin, "how do I reset my password"), "ai_message")

    await _erase(data)
    with pytest.raises(ConnectionClosed) as closed:
        await erin.recv_until(lambda f: False, timeout=10)
    assert closed.value.rcvd is not None
    assert (closed.value.rcvd.code, closed.value.rcvd.reason) == (1000, "conversation erased")
    again = await connect_visitor(srv.url)
    resume = VResume(
        type="resume", conversation_id=welcome.conversation_id, resume_token=welcome.resume_token
    )
    await again.send(resume)
    refused = await again.recv(timeout=10)
    assert isinstance(refused, SError) and refused.code == "bad_resume_token", refused
    await again.close()
