"""Push assignment: agents who passed on a conversation are no capacity for it. Real
server, real agent and visitor clients."""

from __future__ import annotations

from handoff_server.client import new_client_msg_id
from handoff_server.protocol import ASubscribeQueue, SQueue, SWaitEstimate, VRequestHuman
from tests.conftest import ServerFactory
from tests.helpers import start_visitor
from tests.server.routing_kit import TEAMS_POLICY, next_offer, present


async def test_a_conversation_every_agent_passed_on_is_not_told_under_a_minute(
    server_factory: ServerFactory,
) -> None:
    """Push mode: both online agents declined the offer, so nobody is offered the
    conversation again until someone claims it; yet the visitor was told "A person
    should be with you in under a minute" on every refresh, the estimate counting the
    free slots of the agents who passed. Now their slots are left out of its estimate,
    which is told again at once (not at the next periodic refresh) and is no longer
    under a minute; the queue row shows it too."""
    srv = await server_factory(
        policy=TEAMS_POLICY,
        assignment={"mode": "push", "default_capacity": 2, "offer_timeout_seconds": 60},
        waiting={"refresh_seconds": 600, "default_handling_seconds": 600},
    )
    kim, _, _ = await present(srv, "Kim")
    lee, _, _ = await present(srv, "Lee")
    visitor, welcome = await start_visitor(srv.url, name="Dee")
    cid = welcome.conversation_id
    await visitor.send(
        VRequestHuman(type="request_human", client_msg_id=new_client_msg_id(), text="a person")
    )
    first = (await visitor.recv_until(lambda f: isinstance(f, SWaitEstimate)))[-1]
    assert first.minutes == 0 and "under a minute" in first.text

    declined = 0
    for _ in range(2):
        for conn in (kim, lee):
            try:
                offer = await next_offer(conn, timeout=1)
            except TimeoutError:
                continue
            assert offer.item.conversation_id == cid
            await conn.send({"type": "decline", "conversation_id": cid})
            declined += 1
    assert declined == 2
    told = (await visitor.recv_until(lambda f: isinstance(f, SWaitEstimate), timeout=5))[-1]
    assert told.minutes is not None and told.minutes >= 1
    assert "under a minute" not in told.text

    await kim.send(ASubscribeQueue(type="subscribe_queue"))
    rows = (await kim.recv_until(lambda f: isinstance(f, SQueue)))[-1].items
    (row,) = [r for r in rows if r.conversation_id == cid]
    assert row.wait is not None and row.wait.minutes == told.minutes
    for conn in (visitor, kim, lee):
        await conn.close()
