"""Push assignment: agents who passed on a conversation are no capacity for it. Real
server, real agent and visitor clients."""

from __future__ import annotations

from handoff_server.protocol import ASubscribeQueue, SQueue, SWaitEstimate
from tests.conftest import ServerFactory
from tests.server.routing_kit import next_offer, push_pair_asked


async def test_a_conversation_every_agent_passed_on_is_not_told_under_a_minute(
    server_factory: ServerFactory,
) -> None:
    """Push mode: both online agents declined the offer, so nobody is offered the
    conversation again until someone claims it; yet the visitor was told "A person
    should be with you in under a minute" on every refresh, the estimate counting the
    free slots of the agents who passed. Now their slots are left out of its estimate,
    which is told again at once (not at the next periodic refresh) and is no longer
    under a minute; the queue row shows it too."""
    _, agents, visitor, cid = await push_pair_asked(server_factory)
    kim, lee = agents["Kim"], agents["Lee"]

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
