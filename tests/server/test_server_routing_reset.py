"""Issue 8, kinds 5/6 (second pass): a conversation back with the AI carries no routing.

After resolve → the visitor writes again (reopened, status ``ai``), and after a handback,
the queue row and the handoff packet have no trigger, no team and priority 0: a ``p1 team:
billing`` on a conversation the AI holds tells agents something false. The escalation's
trigger, team and priority stay in its ``escalated`` event (the history)."""

from __future__ import annotations

import json
from typing import Any

from handoff_server.client import Connection, new_client_msg_id
from handoff_server.protocol import AClaim, AHandback, AResolve, ASubscribeQueue, SQueue
from tests.conftest import create_token
from tests.helpers import agent, events, run_handoff, say, start_visitor, wait_ack

DISPUTE = "you charged me twice this month"  # default intent billing_dispute: p1, team billing


async def _act(sam: Connection, frame_type: Any, kind: str, cid: str) -> None:
    cmid = new_client_msg_id()
    await sam.send(frame_type(type=kind, conversation_id=cid, client_msg_id=cmid))
    await wait_ack(sam, cmid)


async def _escalate_and_claim(visitor: Connection, sam: Connection, cid: str) -> None:
    escalated = events(await say(visitor, DISPUTE), "escalated")
    trigger = escalated[-1].data.trigger if escalated else None
    assert trigger is not None and trigger.kind == "intent", escalated
    await _act(sam, AClaim, "claim", cid)


async def _ai_row(watcher: Connection, cid: str) -> Any:
    """``cid``'s row in a fresh snapshot of the AI view (subscribing again sends one)."""
    await watcher.send(ASubscribeQueue(type="subscribe_queue", statuses=["ai"]))
    snapshot = (await watcher.recv_until(lambda f: isinstance(f, SQueue), timeout=15))[-1]
    return next(i for i in snapshot.items if i.conversation_id == cid)


async def _packet(server, token: str, cid: str) -> dict[str, Any]:
    out = await run_handoff("transcript", cid, "--json", "--server", server.url, "--token", token)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def _assert_no_routing(row: Any, packet: dict[str, Any], escalations: int) -> None:
    assert (row.trigger, row.team, row.priority) == (None, None, 0), row
    assert packet["status"] == "ai"
    assert (packet["trigger"], packet["team"], packet["priority"]) == (None, None, 0), packet
    history = [e for e in packet["transcript"] if e["kind"] == "escalated"]
    assert len(history) == escalations
    assert all(
        (e["data"]["trigger"]["kind"], e["data"]["team"], e["data"]["priority"])
        == ("intent", "billing", 1)
        for e in history
    ), history


async def test_reopened_and_handed_back_conversations_carry_no_routing(server):
    token = await create_token(server, "Sam", role="operator")
    sam = await agent(server.url, token)
    watcher = await agent(server.url, await create_token(server, "Kim"))
    visitor, welcome = await start_visitor(server.url, name="Dee")
    cid = welcome.conversation_id

    await _escalate_and_claim(visitor, sam, cid)
    await _act(sam, AResolve, "resolve", cid)
    assert events(await say(visitor, "how do I reset my password"), "ai_message")
    _assert_no_routing(await _ai_row(watcher, cid), await _packet(server, token, cid), 1)

    await _escalate_and_claim(visitor, sam, cid)
    await _act(sam, AHandback, "handback", cid)
    _assert_no_routing(await _ai_row(watcher, cid), await _packet(server, token, cid), 2)

    for conn in (visitor, sam, watcher):
        await conn.close()
