"""A call back or an offline message is a promise to the visitor: nobody who does not
hold the conversation may drop it (handback, resolve), and a later choice does not
overwrite it. Real server, real clients, webhooks to a real HTTP receiver."""

from __future__ import annotations

import asyncio
from typing import Any

from standardwebhooks import Webhook

from handoff_server.client import Connection, new_client_msg_id
from handoff_server.protocol import (
    ASubscribeQueue,
    QueueItem,
    SAck,
    SError,
    SEvent,
    SQueue,
    VLeaveMessage,
)
from tests.conftest import ServerFactory, create_token
from tests.helpers import MAIL_HOOK, agent
from tests.server.routing_kit import act
from tests.server.test_fallbacks import _callback, escalate, offer_of, send
from tests.server.test_webhooks import SECRET, Receiver, endpoint


def _message(text: str = "please email me the invoice") -> VLeaveMessage:
    return VLeaveMessage(
        type="leave_message", client_msg_id=new_client_msg_id(), email="d@example.com", text=text
    )


async def _row(conn: Connection, cid: str) -> QueueItem:
    """The conversation's queue row as an agent subscribing to the queue sees it."""
    await conn.send(ASubscribeQueue(type="subscribe_queue"))
    frames = await conn.recv_until(lambda f: isinstance(f, SQueue))
    (row,) = [r for r in frames[-1].items if r.conversation_id == cid]
    return row


def _refused(frame: Any, words: str) -> bool:
    return isinstance(frame, SError) and frame.code == "invalid_state" and words in frame.detail


async def test_a_pending_task_cannot_be_handed_back_or_resolved_by_whoever_does_not_hold_it(
    server_factory: ServerFactory,
) -> None:
    """Any agent could ``handback`` a queued call back or offline message nobody held:
    acked, the task left the queue and the visitor was told "You're back with our AI
    assistant", the promised call back lost (docs/routing.md: nothing escalated is
    dropped). Now handback is refused to everyone who does not hold it (operators too),
    a plain resolve to agents; finishing the task, or claiming it first, still works,
    and a live queued conversation can still be handed back by anyone."""
    srv = await server_factory(webhooks=MAIL_HOOK)
    mallory = await agent(srv.url, await create_token(srv, "Mallory"))
    olga = await agent(srv.url, await create_token(srv, "Olga", role="operator"))

    caller, cid, frames = await escalate(srv.url, name="Cal")
    assert offer_of(frames) is not None
    assert isinstance(await send(caller, _callback(phone="+49 30 901820")), SAck)
    assert _refused(await act(mallory, "handback", cid), "waiting for a call back")
    assert _refused(await act(olga, "handback", cid), "claim the conversation before you hand")
    assert _refused(await act(mallory, "resolve", cid), "finish it with callback_done")
    row = await _row(mallory, cid)
    assert row.status == "queued" and row.fallback is not None
    assert row.fallback.chosen == "callback"
    done = await act(mallory, "callback_done", cid, text="called, sorted")
    assert isinstance(done, SAck)

    writer, mid, _ = await escalate(srv.url, name="Dee")
    assert isinstance(await send(writer, _message()), SAck)
    assert _refused(await act(mallory, "handback", mid), "left an offline message")
    assert isinstance(await act(mallory, "claim", mid), SAck)
    assert isinstance(await act(mallory, "release", mid), SAck)
    assert _refused(await act(olga, "handback", mid), "answer it with answer_offline")
    kept = await _row(olga, mid)
    assert kept.fallback is not None and kept.fallback.chosen == "offline_message"
    assert isinstance(await act(olga, "answer_offline", mid, text="Here it is"), SAck)
    seen = await writer.recv_until(
        lambda f: isinstance(f, SEvent) and f.event.kind == "offline_reply"
    )
    assert "handed_back" not in [f.event.kind for f in seen if isinstance(f, SEvent)]

    live, lid, _ = await escalate(srv.url, name="Liv")
    assert isinstance(await act(mallory, "handback", lid), SAck)
    for conn in (caller, writer, live, mallory, olga):
        await conn.close()


def _choose(option: str) -> dict[str, str]:
    return {"type": "choose_fallback", "client_msg_id": new_client_msg_id(), "option": option}


async def test_a_later_choice_does_not_overwrite_an_arranged_task(
    server_factory: ServerFactory,
) -> None:
    """A visitor who left an offline message and then chose ``ai_continues`` had both
    accepted: the row kept the message but said ``ai_continues``, and the agent's
    ``answer_offline`` was refused ("the visitor left no offline message"); a call back
    then an offline message replaced each other, a webhook sent for each. Now the
    first task stands: a later choice is refused (``invalid_state``) with what is
    arranged, the row, the agent's answer and the webhooks all follow the first."""
    receiver = Receiver()
    try:
        hooks = endpoint(
            receiver.url,
            events=["callback.requested", "offline_message.created", "offline_message.replied"],
        )
        srv = await server_factory(webhooks=hooks)
        sam = await agent(srv.url, await create_token(srv))

        writer, mid, _ = await escalate(srv.url, name="Dee")
        assert isinstance(await send(writer, _message()), SAck)
        switched = await send(writer, _choose("ai_continues"))
        assert _refused(switched, "already saved: a person will answer it by email at d@")
        calls = await send(writer, _callback(phone="+49 30 901820"))
        assert _refused(calls, "Your message is already saved")
        again = await send(writer, _message("another one"))
        assert _refused(again, "Your message is already saved")
        row = await _row(sam, mid)
        assert row.fallback is not None and row.fallback.chosen == "offline_message"
        assert row.fallback.message == "please email me the invoice"
        assert isinstance(await act(sam, "answer_offline", mid, text="Here it is"), SAck)

        caller, cid, _ = await escalate(srv.url, name="Cal")
        assert isinstance(await send(caller, _callback(phone="+49 30 901820")), SAck)
        later = await send(caller, _message())
        assert _refused(later, "A call back is already arranged: a person will get back to")
        assert _refused(await send(caller, _choose("wait")), "by phone at +4930901820")
        assert isinstance(await act(sam, "callback_done", cid), SAck)

        got = await receiver.wait_for(3)
        types = sorted(Webhook(SECRET).verify(r.body, r.headers)["type"] for r in got)
        await asyncio.sleep(1.0)  # a refused choice must not have sent one too
        assert len(receiver.requests) == 3
        assert types == ["callback.requested", "offline_message.created", "offline_message.replied"]
        for conn in (writer, caller, sam):
            await conn.close()
    finally:
        receiver.close()
