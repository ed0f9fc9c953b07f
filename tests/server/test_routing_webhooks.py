"""Routing's webhooks through a real server to a real HTTP receiver on 127.0.0.1:
``conversation.assigned`` when a pushed offer is accepted (by whom, ``via: "offer"``),
``conversation.transferred`` (to an agent, to a team, with the note) and the
resolution and AI verdict on ``conversation.resolved``; each verified with the
Standard Webhooks reference verifier."""

from __future__ import annotations

import asyncio

from standardwebhooks import Webhook

from handoff_server.protocol import SAck
from handoff_server.webhooks.bodies import slack_text
from tests.server.routing_kit import act, escalate, first_offer, present
from tests.server.test_webhooks import SECRET, endpoint, receiver  # noqa: F401 (fixture)


async def _payloads(receiver, count: int) -> list[dict]:  # noqa: F811
    got = await receiver.wait_for(count)
    return [Webhook(SECRET).verify(r.body, r.headers) for r in got]


async def test_push_transfer_and_resolve_are_announced(server_factory, receiver):  # noqa: F811
    srv = await server_factory(
        policy={"keyword": {"phrases": ["cancel account"], "teams": {"cancel account": "billing"}}},
        assignment={"mode": "push"},
        webhooks=endpoint(
            receiver.url,
            events=["conversation.assigned", "conversation.transferred", "conversation.resolved"],
        ),
    )
    sam, _, _ = await present(srv, "Sam")
    kim, _, staff = await present(srv, "Kim")
    ids = {a.name: a.id for a in staff.agents}
    visitor, cid = await escalate(srv.url, "billing")
    first = await asyncio.wait_for(first_offer({"Sam": sam, "Kim": kim}), 10)
    holder, other = (sam, kim) if first == "Sam" else (kim, sam)
    assert isinstance(await act(holder, "accept", cid), SAck)
    other_name = "Kim" if first == "Sam" else "Sam"
    note = "PRIVATE: <@channel> refund approved"
    assert isinstance(await act(holder, "transfer", cid, to_agent=ids[other_name], note=note), SAck)
    assert isinstance(await act(other, "transfer", cid, to_team="security"), SAck)
    assert isinstance(await act(other, "claim", cid), SAck)
    answer = await act(other, "resolve", cid, resolution="referred", ai_verdict="not_attempted")
    assert isinstance(answer, SAck)

    assigned, to_agent, to_team, claimed, resolved = await _payloads(receiver, 5)
    assert assigned["type"] == "conversation.assigned"
    assert assigned["data"]["agent"]["name"] == first and assigned["data"]["via"] == "offer"
    assert to_agent["type"] == "conversation.transferred"
    assert to_agent["data"]["agent"]["name"] == first
    assert to_agent["data"]["to_agent"]["id"] == ids[other_name]
    assert to_agent["data"]["note"] == note and "to_team" not in to_agent["data"]
    assert to_team["data"]["to_team"] == "security" and "to_agent" not in to_team["data"]
    assert claimed["type"] == "conversation.assigned" and "via" not in claimed["data"]
    assert resolved["data"]["resolution"] == "referred"
    assert resolved["data"]["ai_verdict"] == "not_attempted"
    # In a Slack channel the note's text is inert.
    assert slack_text(to_agent) == f"Conversation {cid} transferred by {first} to {other_name}"
    assert slack_text(to_team).endswith("to team security")
    for conn in (sam, kim, visitor):
        await conn.close()
