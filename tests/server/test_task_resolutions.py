"""Every way a conversation becomes resolved is announced and counted the same way: an
agent's ``resolve``, a call back marked done (``callback_done``) and an offline message
answered (``answer_offline``) each send one ``conversation.resolved`` webhook saying how
(``via``), and the operator's analytics count each as the end of its handling. A real
server on an ephemeral port, real visitor and agent clients, a real HTTP receiver."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

from standardwebhooks import Webhook

from handoff_server.protocol import (
    AAnswerOffline,
    ACallbackDone,
    AClaim,
    AResolve,
    SAck,
    VLeaveMessage,
)
from handoff_server.protocol_operator import SAnalytics
from handoff_server.webhooks.bodies import slack_text
from tests.conftest import create_token
from tests.helpers import agent, online_agent
from tests.server.test_fallbacks import _callback, act, escalate, exchange, offer_of
from tests.server.test_operator_analytics import DAY1, Clock
from tests.server.test_operator_policy import ask
from tests.server.test_webhooks import SECRET, Receiver, endpoint

HOOKS = ["conversation.resolved", "offline_message.replied"]
"""What the receiver takes: resolutions, and the offline answers (so that offline
messages are offered: their answers reach the team's mail system)."""


async def _leave_message(url: str) -> str:
    """A visitor nobody could serve who left a message; the conversation id."""
    visitor, cid, frames = await escalate(url, name="Bea")
    assert offer_of(frames) is not None
    msg = VLeaveMessage(
        type="leave_message", client_msg_id="m1", email="bea@example.com", text="DNS help"
    )
    assert isinstance((await exchange(visitor, msg))[-1], SAck)
    await visitor.close()
    return cid


async def _ask_callback(url: str, name: str) -> str:
    """A visitor nobody could serve who asked for a call back; the conversation id."""
    visitor, cid, frames = await escalate(url, name=name)
    assert offer_of(frames) is not None
    assert isinstance((await exchange(visitor, _callback(phone="+49 30 901820")))[-1], SAck)
    await visitor.close()
    return cid


def _payloads(received: list[Any]) -> list[dict[str, Any]]:
    return [Webhook(SECRET).verify(r.body, r.headers) for r in received]


async def test_every_resolution_sends_one_resolved_webhook_saying_how(server_factory):
    receiver = Receiver()
    try:
        srv = await server_factory(webhooks=endpoint(receiver.url, events=HOOKS))
        called = await _ask_callback(srv.url, "Ada")
        written = await _leave_message(srv.url)
        spam = await _ask_callback(srv.url, "Cy")
        sam = await online_agent(srv.url, await create_token(srv, "Sam"))
        olga = await agent(srv.url, await create_token(srv, "Olga", "operator"))

        assert isinstance(await act(sam, ACallbackDone, called, text="called, sorted"), SAck)
        (done,) = _payloads(await receiver.wait_for(1))
        assert done["type"] == "conversation.resolved"
        assert done["data"] == {
            "conversation_id": called,
            "agent": done["data"]["agent"],
            "via": "callback",
        }
        assert done["data"]["agent"]["name"] == "Sam"

        answer = "Hi Bea, point your nameservers at ns1.example.com."
        assert isinstance(await act(sam, AAnswerOffline, written, text=answer), SAck)
        replied, resolved = _payloads(await receiver.wait_for(3))[1:]
        # The answer for the mail system first, then the resolution: the order they happened.
        assert (replied["type"], replied["data"]["text"]) == ("offline_message.replied", answer)
        assert resolved["type"] == "conversation.resolved"
        assert (resolved["data"]["conversation_id"], resolved["data"]["via"]) == (
            written,
            "offline_message",
        )
        assert resolved["data"]["agent"]["name"] == "Sam" and "text" not in resolved["data"]
        assert resolved["timestamp"] == replied["timestamp"]

        # An operator may resolve a pending call back outright: one resolution, as ever.
        assert isinstance(await act(olga, AResolve, spam, resolution="spam"), SAck)
        last = _payloads(await receiver.wait_for(4))[3]
        assert (last["type"], last["data"]["via"], last["data"]["resolution"]) == (
            "conversation.resolved",
            "resolve",
            "spam",
        )
        await asyncio.sleep(1.0)  # nothing is announced twice
        types = [(p["type"], p["data"]["conversation_id"]) for p in _payloads(receiver.requests)]
        assert types == [
            ("conversation.resolved", called),
            ("offline_message.replied", written),
            ("conversation.resolved", written),
            ("conversation.resolved", spam),
        ]
        await sam.close()
        await olga.close()
    finally:
        receiver.close()


async def test_a_claimed_call_back_done_ends_its_handling_in_the_analytics(server_factory):
    """An agent who claims a call back and marks it done five minutes later handled it
    for five minutes: the report counted only ``resolved`` as an end, so it was left
    out."""
    srv = await server_factory()
    clock = Clock()
    clock.at(DAY1, 10, 0)
    srv.service.clock = clock
    cid = await _ask_callback(srv.url, "Ada")
    sam = await online_agent(srv.url, await create_token(srv, "Sam"))
    assert isinstance(await act(sam, AClaim, cid), SAck)
    clock.now += timedelta(minutes=5)
    assert isinstance(await act(sam, ACallbackDone, cid, text="called back"), SAck)
    olga = await agent(srv.url, await create_token(srv, "Olga", "operator"))
    report = await ask(olga, {"type": "analytics"})
    assert isinstance(report, SAnalytics), report
    assert (report.handling.count, report.handling.median) == (1, 300.0)
    await sam.close()
    await olga.close()


def test_the_slack_line_says_how_it_was_resolved() -> None:
    def line(via: str) -> str:
        data = {"conversation_id": "c1", "agent": {"name": "Sam"}, "via": via}
        return slack_text({"type": "conversation.resolved", "data": data})

    assert line("resolve") == "Conversation c1 resolved by Sam"
    assert line("callback") == "Conversation c1 resolved by Sam (call back done)"
    assert line("offline_message") == "Conversation c1 resolved by Sam (offline message answered)"
