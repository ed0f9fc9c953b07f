"""Issue 11, when nobody can come: wait estimates, the queue gate and the fallbacks, through
a real server on an ephemeral port with real visitor and agent clients (and a real HTTP
receiver for the webhooks)."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from standardwebhooks import Webhook

from handoff_server.app import start_server
from handoff_server.client import Connection, connect_visitor, new_client_msg_id
from handoff_server.errors import ConfigError
from handoff_server.protocol import (
    AAnswerOffline,
    ACallbackDone,
    AClaim,
    AResolve,
    ASubscribeQueue,
    SAck,
    SError,
    SEvent,
    SFallbackOffer,
    SQueue,
    SQueueItem,
    SWaitEstimate,
    SWaitingWork,
    SWelcome,
    VChooseFallback,
    VLeaveMessage,
    VRequestCallback,
    VRequestHuman,
    VResume,
)
from handoff_server.store import NewEvent
from tests.conftest import create_token, make_settings
from tests.helpers import MAIL_HOOK, events, online_agent, run_handoff, say, start_visitor, wait_ack
from tests.server.test_webhooks import SECRET, Receiver, endpoint


@pytest.fixture
async def server(server_factory):
    """A real server that can keep every fallback it offers: offline messages' answers
    go to a mail hook (``MAIL_HOOK``; without one they are not offered)."""
    return await server_factory(webhooks=MAIL_HOOK)


ONE_AT_A_TIME = {"default_capacity": 1}
"""[assignment] for tests that need an agent to be full: one conversation each."""


def kind(*names: str) -> Any:
    """A predicate: an event of one of ``names``."""
    return lambda f: isinstance(f, SEvent) and f.event.kind in names


async def escalate(url: str, text: str = "I want to talk to a person", **visitor: Any):
    """A visitor who pressed "talk to a person": returns the connection, the conversation
    id and every frame up to the first wait estimate (and the offer, if one follows)."""
    conn, welcome, frames = await escalated(url, text, **visitor)
    return conn, welcome.conversation_id, frames


async def escalated(url: str, text: str = "I want to talk to a person", **visitor: Any):
    """:func:`escalate`, returning the ``welcome`` frame instead of the id."""
    conn, welcome = await start_visitor(url, **visitor)
    cmid = new_client_msg_id()
    await conn.send(VRequestHuman(type="request_human", client_msg_id=cmid, text=text))
    frames = await conn.recv_until(lambda f: isinstance(f, SWaitEstimate))
    with_offer = await _maybe(conn, SFallbackOffer)
    return conn, welcome, frames + with_offer


async def _maybe(conn: Connection, frame_type: type, wait: float = 0.5) -> list[Any]:
    """The frames up to one of ``frame_type`` within ``wait`` seconds, else nothing."""
    try:
        return await conn.recv_until(lambda f: isinstance(f, frame_type), wait)
    except TimeoutError:
        return []


def offer_of(frames: list[Any]) -> SFallbackOffer | None:
    return next((f for f in frames if isinstance(f, SFallbackOffer)), None)


async def send(conn: Connection, frame: Any) -> Any:
    """Send a frame with a client message id; returns its ack or error."""
    return (await exchange(conn, frame))[-1]


async def exchange(conn: Connection, frame: Any) -> list[Any]:
    """Send a frame with a client message id; returns every frame up to its ack or
    error (its event comes before the ack)."""
    await conn.send(frame)
    cmid = frame["client_msg_id"] if isinstance(frame, dict) else frame.client_msg_id
    return await wait_ack(conn, cmid)


_TYPES = {
    AClaim: "claim",
    AResolve: "resolve",
    ACallbackDone: "callback_done",
    AAnswerOffline: "answer_offline",
}


async def act(conn: Connection, frame_type: type, cid: str, **extra: Any) -> Any:
    """An agent's action on ``cid``; returns its ack or error."""
    frame = frame_type(
        type=_TYPES[frame_type], conversation_id=cid, client_msg_id=new_client_msg_id(), **extra
    )
    return await send(conn, frame)


# --------------------------------------------------------------------------- estimates


async def test_the_estimate_is_sent_when_queued_and_again_when_an_agent_comes_online(server):
    visitor, cid, frames = await escalate(server.url)
    (esc,) = events(frames, "escalated")
    first = next(f for f in frames if isinstance(f, SWaitEstimate))
    assert frames.index(first) > frames.index(
        next(f for f in frames if isinstance(f, SEvent) and f.event is esc)
    )
    assert (first.conversation_id, first.minutes, first.ahead) == (cid, None, 0)
    assert "Nobody from the team is online" in first.text
    offer = offer_of(frames)
    assert offer is not None and offer.reason == "no_agents"
    assert [c.option for c in offer.choices] == [
        "wait",
        "callback",
        "offline_message",
        "ai_continues",
    ]

    sam = await online_agent(server.url, await create_token(server))
    again = await visitor.recv_until(lambda f: isinstance(f, SWaitEstimate), 10)
    told = again[-1]
    # Sam is free (3 slots by default): a slot is open for the visitor now.
    assert (told.minutes, told.max_minutes, told.ahead) == (0, None, 0)
    assert told.text == "You're next in line. A person should be with you in under a minute."
    work = await sam.recv_until(lambda f: isinstance(f, SWaitingWork), 10)
    assert [r.conversation_id for r in work[-1].items] == [cid]
    # The queue row shows agents what the visitor was told.
    await sam.send(ASubscribeQueue(type="subscribe_queue"))
    (row,) = (await sam.recv_until(lambda f: isinstance(f, SQueue), 10))[-1].items
    assert row.wait is not None and row.wait.minutes == 0 and row.wait.text == told.text
    assert row.fallback is not None and row.fallback.reason == "no_agents"
    assert row.fallback.chosen is None


async def test_the_estimate_is_told_again_only_when_it_changes_materially(server_factory):
    srv = await server_factory(assignment=ONE_AT_A_TIME)
    sam = await online_agent(srv.url, await create_token(srv))
    ada, ada_id, _ = await escalate(srv.url, name="Ada")
    assert isinstance(await act(sam, AClaim, ada_id), SAck)  # Sam is full now
    bob, bob_id, frames = await escalate(srv.url, name="Bob")
    told = next(f for f in frames if isinstance(f, SWaitEstimate))
    # One slot, busy; handling time 600 s by default: (0 - 0 + 1) x 600 / 1.
    assert (told.minutes, told.ahead) == (10, 0)
    assert told.text == "You're next in line. A person should be with you in about 10 minutes."
    assert offer_of(frames) is None  # 10 minutes is within the default 30-minute gate
    # A change that moves nobody's estimate tells nobody: a third visitor joins behind Bob.
    cy, _, cy_frames = await escalate(srv.url, name="Cy")
    cy_told = next(f for f in cy_frames if isinstance(f, SWaitEstimate))
    assert (cy_told.minutes, cy_told.ahead) == (20, 1)
    assert await _maybe(bob, SWaitEstimate, 1.0) == []
    # Sam resolves Ada: a slot frees, Bob is told again (10 minutes → under a minute).
    assert isinstance(await act(sam, AResolve, ada_id), SAck)
    again = await bob.recv_until(lambda f: isinstance(f, SWaitEstimate), 10)
    assert (again[-1].minutes, again[-1].ahead) == (0, 0)
    for conn in (ada, bob, cy, sam):
        await conn.close()


async def test_a_resuming_visitor_is_told_the_estimate_and_the_open_offer(server):
    visitor, welcome, frames = await escalated(server.url)
    await visitor.close()
    again = await connect_visitor(server.url)
    cid = welcome.conversation_id
    await again.send(
        VResume(type="resume", conversation_id=cid, resume_token=welcome.resume_token, last_seq=0)
    )
    replay = await again.recv_until(lambda f: isinstance(f, SFallbackOffer))
    assert isinstance(replay[0], SWelcome)
    kinds = [type(f).__name__ if not isinstance(f, SEvent) else f.event.kind for f in replay[1:]]
    assert kinds[-2:] == ["SWaitEstimate", "SFallbackOffer"]
    assert "escalated" in kinds and kinds.index("escalated") < kinds.index("SWaitEstimate")
    assert replay[-1] == offer_of(frames)
    # Answered, the offer is not made again on the next resume.
    wait = VChooseFallback(type="choose_fallback", client_msg_id=new_client_msg_id(), option="wait")
    assert isinstance(await send(again, wait), SAck)
    await again.close()
    third = await connect_visitor(server.url)
    await third.send(
        VResume(type="resume", conversation_id=cid, resume_token=welcome.resume_token, last_seq=0)
    )
    frames = await third.recv_until(lambda f: isinstance(f, SWaitEstimate))
    assert await _maybe(third, SFallbackOffer, 1.0) == []
    assert events(frames, "fallback_chosen")[0].data.option == "wait"
    await third.close()


# --------------------------------------------------------------------------- the gate


async def test_the_gate_offers_the_fallbacks_past_the_queue_length(server_factory):
    gate = {"fallbacks": {"gate": {"max_queue_length": 1}, "offer": ["callback", "wait"]}}
    srv = await server_factory(policy=gate)
    sam = await online_agent(srv.url, await create_token(srv))
    first, _, frames = await escalate(srv.url)
    assert offer_of(frames) is None
    second, _, frames = await escalate(srv.url)
    offer = offer_of(frames)
    assert offer is not None and offer.reason == "queue_full"
    assert [c.option for c in offer.choices] == ["callback", "wait"]  # the operator's order
    assert "queue is full" in offer.text
    for conn in (first, second, sam):
        await conn.close()


async def test_the_gate_offers_the_fallbacks_past_the_wait_and_per_team(server_factory):
    policy = {
        "fallbacks": {
            "gate": {"max_wait_minutes": 5},
            "teams": {"billing": {"max_wait_minutes": 60}},
        }
    }
    srv = await server_factory(policy=policy, assignment=ONE_AT_A_TIME)
    sam = await online_agent(srv.url, await create_token(srv))
    ada, ada_id, _ = await escalate(srv.url, name="Ada")
    assert isinstance(await act(sam, AClaim, ada_id), SAck)
    bob, _, frames = await escalate(srv.url, name="Bob")
    offer = offer_of(frames)
    assert offer is not None and offer.reason == "wait_too_long"
    assert "about 10 minutes" in offer.text
    # "cancel my account" goes to team billing, whose gate allows an hour.
    cy, _ = await start_visitor(srv.url, name="Cy")
    assert events(await say(cy, "cancel my account"), "escalated")
    told = await cy.recv_until(lambda f: isinstance(f, SWaitEstimate))
    assert told[-1].minutes == 10 and await _maybe(cy, SFallbackOffer) == []
    await sam.send(ASubscribeQueue(type="subscribe_queue"))
    rows = (await sam.recv_until(lambda f: isinstance(f, SQueue)))[-1].items
    assert {r.visitor.name: r.team for r in rows} == {"Ada": None, "Bob": None, "Cy": "billing"}
    for conn in (ada, bob, cy, sam):
        await conn.close()


async def test_business_hours_across_a_time_zone(tmp_path: Path, demo_answerer):
    clock = [datetime(2026, 3, 2, 13, 30, tzinfo=UTC)]  # a Monday: 08:30 in New York
    hours = {"timezone": "America/New_York", "start": "09:00", "end": "17:00"}
    settings = make_settings(
        tmp_path / "d",
        policy={"business_hours": hours, "fallbacks": {"outside_business_hours": True}},
    )
    srv = await start_server(settings, answerer=demo_answerer, clock=lambda: clock[0])
    try:
        sam = await online_agent(srv.url, await create_token(srv))
        early, early_id, frames = await escalate(srv.url)
        offer = offer_of(frames)
        assert offer is not None and offer.reason == "closed"
        assert offer.opens_at == datetime(2026, 3, 2, 14, 0, tzinfo=UTC)  # 09:00 EST
        assert "we open again today at 09:00 (America/New_York)" in offer.text
        # A call back at 18:00 New York time is outside the hours; 10:00 the next day is not.
        late = datetime(2026, 3, 2, 18, 0, tzinfo=UTC) + timedelta(hours=5)
        refused = await send(early, _callback(phone="+1 212 555 0100", preferred_at=late))
        assert isinstance(refused, SError) and refused.code == "invalid_frame"
        assert "outside business hours" in refused.detail and "America/New_York" in refused.detail
        fine = datetime(2026, 3, 3, 15, 0, tzinfo=UTC)
        assert isinstance(
            await send(early, _callback(phone="+1 212 555 0100", preferred_at=fine)), SAck
        )
        clock[0] = datetime(2026, 3, 2, 14, 30, tzinfo=UTC)  # 09:30 in New York: open
        later, _, frames = await escalate(srv.url)
        assert offer_of(frames) is None
        for conn in (early, later, sam):
            await conn.close()
    finally:
        await srv.close()


async def _closed_offer_text(tmp_path: Path, answerer: Any, hours: dict[str, Any], at: datetime):
    """The text of the ``closed`` offer a visitor gets at ``at`` from a real server with
    business ``hours``."""
    settings = make_settings(
        tmp_path / f"d{len(list(tmp_path.iterdir()))}",
        policy={"business_hours": hours, "fallbacks": {"outside_business_hours": True}},
    )
    srv = await start_server(settings, answerer=answerer, clock=lambda: at)
    try:
        conn, _, frames = await escalate(srv.url)
        offer = offer_of(frames)
        await conn.close()
    finally:
        await srv.close()
    assert offer is not None and offer.reason == "closed", frames
    return offer.text


async def test_the_opening_is_told_as_the_visitor_would_say_it(tmp_path: Path, demo_answerer):
    """The offer said "we open again on Tuesday at 09:00" at 03:00 on that Tuesday, named
    only a weekday for an opening more than a week off, and promised a start a
    daylight-saving change skips with the whole span (never open then)."""
    ny = {"timezone": "America/New_York", "start": "09:00", "end": "17:00"}
    cases = [
        (datetime(2026, 3, 3, 8, 0, tzinfo=UTC), ny, "today at 09:00"),  # Tue 03:00 EST
        (datetime(2026, 3, 3, 23, 0, tzinfo=UTC), ny, "tomorrow at 09:00"),  # Tue 18:00
        (datetime(2026, 3, 6, 23, 0, tzinfo=UTC), ny, "on Monday at 09:00"),  # Fri 18:00
        (  # Tuesday to Friday a week of holidays: Monday the 16th
            datetime(2026, 3, 3, 23, 0, tzinfo=UTC),
            {**ny, "holidays": [f"2026-03-{d:02d}" for d in (4, 5, 6, 9, 10, 11, 12, 13)]},
            "on Monday 16 March at 09:00",
        ),
        (  # Sundays 02:15-02:45: on 8 March (02:00 -> 03:00) there is no such span
            datetime(2026, 3, 7, 17, 0, tzinfo=UTC),
            {**ny, "days": ["sun"], "start": "02:15", "end": "02:45"},
            "on Sunday 15 March at 02:15",
        ),
    ]
    for at, hours, told in cases:
        text = await _closed_offer_text(tmp_path, demo_answerer, hours, at)
        assert f"we open again {told} (America/New_York)" in text, (at, text)


async def test_business_hours_that_are_never_open_are_refused(tmp_path: Path) -> None:
    """``start == end`` passed validation though the span is empty (never open), and the
    visitor was promised an opening that never comes; it is refused as a bad config, a
    bad policy file and a bad ``policy_apply``."""
    policy = {"business_hours": {"start": "09:00", "end": "09:00"}}
    config = tmp_path / "handoff.toml"
    config.write_text('[policy.business_hours]\nstart = "09:00"\nend = "09:00"\n')
    served = await run_handoff("serve", "--config", str(config), "--data-dir", str(tmp_path / "d"))
    assert served.returncode == 2, served
    assert "start and end are both 09:00:00" in served.stderr and "Traceback" not in served.stderr
    with pytest.raises(ConfigError, match="the span is empty"):
        make_settings(tmp_path / "d2", policy=policy)
    file = tmp_path / "hours.toml"
    file.write_text('[business_hours]\nstart = "09:00"\nend = "09:00"\n')
    imported = await run_handoff("policy", "import", str(file), "--data-dir", str(tmp_path / "d"))
    assert imported.returncode == 1 and "the span is empty" in imported.stderr, imported
    assert "Traceback" not in imported.stderr


# --------------------------------------------------------------------------- fallbacks


def _callback(**fields: Any) -> VRequestCallback:
    return VRequestCallback(type="request_callback", client_msg_id=new_client_msg_id(), **fields)


async def test_a_callback_is_a_task_agents_see_and_mark_done(server_factory):
    receiver = Receiver()
    try:
        srv = await server_factory(webhooks=endpoint(receiver.url, events=["callback.requested"]))
        visitor, cid, frames = await escalate(srv.url, name="Ada")
        assert offer_of(frames) is not None
        # Bad input is refused before anything is stored.
        bad = await send(
            visitor, {"type": "request_callback", "client_msg_id": "c1", "phone": "12345"}
        )
        assert isinstance(bad, SError) and bad.code == "invalid_frame" and "phone" in bad.detail
        none = await send(visitor, {"type": "request_callback", "client_msg_id": "c2"})
        assert isinstance(none, SError) and "phone number or an email" in none.detail
        past = await send(
            visitor, _callback(phone="+49 30 901820", preferred_at=datetime(2020, 1, 1, tzinfo=UTC))
        )
        assert isinstance(past, SError) and past.detail == "preferred_at: the time has passed"
        ok = await exchange(visitor, _callback(phone="+49 30 901820", note="about my invoice"))
        assert isinstance(ok[-1], SAck)
        (asked,) = events(ok, "callback_requested")
        assert asked.data.phone == "+4930901820" and asked.data.preferred_at is None
        assert asked.data.notice.startswith(
            "Thanks: a person will get back to you by phone at +4930901820"
        )
        (got,) = await receiver.wait_for(1)
        payload = Webhook(SECRET).verify(got.body, got.headers)
        assert payload["type"] == "callback.requested"
        data = payload["data"]
        assert (data["conversation_id"], data["phone"], data["note"]) == (
            cid,
            "+4930901820",
            "about my invoice",
        )
        assert data["packet"]["visitor"]["name"] == "Ada"
        assert data["packet"]["transcript"][-1]["kind"] == "callback_requested"

        sam = await online_agent(srv.url, await create_token(srv))
        await sam.send(ASubscribeQueue(type="subscribe_queue"))
        (row,) = (await sam.recv_until(lambda f: isinstance(f, SQueue)))[-1].items
        assert row.status == "queued" and row.fallback is not None
        assert row.fallback.chosen == "callback" and row.fallback.callback is not None
        assert row.fallback.callback.phone == "+4930901820"
        wrong = await act(sam, AAnswerOffline, cid, text="hello")
        assert isinstance(wrong, SError) and wrong.code == "invalid_state"
        done_frame = ACallbackDone(
            type="callback_done", conversation_id=cid, client_msg_id="d1", text="called, sorted"
        )
        acted = await exchange(sam, done_frame)
        assert isinstance(acted[-1], SAck)
        (left,) = [f for f in acted if isinstance(f, SQueueItem)]
        assert (left.item.conversation_id, left.item.status) == (cid, "resolved")
        done = await visitor.recv_until(kind("callback_done"))
        assert done[-1].event.data.notice == "Sam got back to you; this conversation is resolved."
        assert "called, sorted" not in done[-1].model_dump_json()  # the agent's note stays theirs
        await visitor.close()
        await sam.close()
    finally:
        receiver.close()


async def test_an_offline_message_is_not_offered_when_no_answer_can_reach_the_visitor(
    server_factory, caplog: pytest.LogCaptureFixture
):
    """An offline message is "answered by email", and handoff sends no email: the
    answer goes out as the ``offline_message.replied`` webhook for the team's mail
    system. With no endpoint receiving it (the default), the visitor was offered
    "Leave a message (answered by email)" and told a person would answer by email, the
    agent's answer was acknowledged, and it went nowhere. It is not offered then (the
    start log says why), and a ``leave_message`` is refused as not offered."""
    with caplog.at_level(logging.INFO, logger="handoff_server.app"):
        srv = await server_factory(
            webhooks={
                "endpoints": [{**MAIL_HOOK["endpoints"][0], "events": ["callback.requested"]}]
            }
        )
    assert any("offline messages are not offered" in r.getMessage() for r in caplog.records)
    visitor, cid, frames = await escalate(srv.url)
    offer = offer_of(frames)
    assert offer is not None
    assert [c.option for c in offer.choices] == ["wait", "callback", "ai_continues"]
    left = await send(
        visitor,
        VLeaveMessage(
            type="leave_message",
            client_msg_id=new_client_msg_id(),
            email="ada@example.com",
            text="please write back",
        ),
    )
    assert isinstance(left, SError) and left.code == "invalid_state", left
    assert "not offered" in left.detail
    await visitor.close()


async def test_an_offline_message_is_answered_by_email(server_factory):
    receiver = Receiver()
    try:
        hooks = endpoint(
            receiver.url, events=["offline_message.created", "offline_message.replied"]
        )
        srv = await server_factory(webhooks=hooks)
        visitor, cid, _ = await escalate(srv.url)
        bad = await send(
            visitor, {"type": "leave_message", "client_msg_id": "m1", "email": "ada@", "text": "hi"}
        )
        assert isinstance(bad, SError) and bad.code == "invalid_frame" and "email" in bad.detail
        blank = await send(
            visitor,
            VLeaveMessage(
                type="leave_message", client_msg_id="m2", email="ada@example.com", text="\u200b"
            ),
        )
        assert isinstance(blank, SError) and blank.code == "empty_message"
        msg = VLeaveMessage(
            type="leave_message",
            client_msg_id="m3",
            email="Ada@Example.com",
            text="My DNS is broken",
        )
        ok = await exchange(visitor, msg)
        assert isinstance(ok[-1], SAck)
        (left,) = events(ok, "offline_message")
        assert (left.data.email, left.data.text) == ("Ada@example.com", "My DNS is broken")
        sam = await online_agent(srv.url, await create_token(srv))
        reply = "Hi Ada, point your nameservers at ns1.example.com and wait an hour."
        assert isinstance(await act(sam, AAnswerOffline, cid, text=reply), SAck)
        sent = await visitor.recv_until(kind("offline_reply"))
        assert sent[-1].event.data.text == reply
        created, replied = (
            Webhook(SECRET).verify(r.body, r.headers) for r in await receiver.wait_for(2)
        )
        assert created["type"] == "offline_message.created"
        assert created["data"]["text"] == "My DNS is broken" and "packet" in created["data"]
        assert replied["type"] == "offline_message.replied"
        assert (replied["data"]["email"], replied["data"]["text"]) == ("Ada@example.com", reply)
        assert replied["data"]["agent"]["name"] == "Sam"
        again = await act(sam, AAnswerOffline, cid, text="twice?")
        assert isinstance(again, SError) and again.code == "invalid_state"
        await visitor.close()
        await sam.close()
    finally:
        receiver.close()


async def test_the_ai_continues_until_a_person_claims(server):
    visitor, cid, _ = await escalate(server.url)
    chose = VChooseFallback(
        type="choose_fallback", client_msg_id=new_client_msg_id(), option="ai_continues"
    )
    ok = await exchange(visitor, chose)
    assert isinstance(ok[-1], SAck)
    (picked,) = events(ok, "fallback_chosen")
    assert "a person will follow up in this chat" in picked.data.notice
    (answer,) = events(await say(visitor, "how do I reset my password"), "ai_message")
    assert answer.data.confidence is not None and answer.data.confidence >= 0.7
    (held,) = events(await say(visitor, "what's a good recipe for sourdough bread"), "ai_message")
    assert "a person will follow up on it here" in held.data.text
    sam = await online_agent(server.url, await create_token(server))
    assert isinstance(await act(sam, AClaim, cid), SAck)
    frames = await say(visitor, "thanks, are you there?", ai_expected=False)
    assert isinstance(frames[-1], SAck)
    assert events(await _maybe(visitor, SEvent, 1.0), "ai_message") == []
    await visitor.close()
    await sam.close()


async def test_an_interrupted_turn_of_the_ai_going_on_is_finished_on_restart(
    server_factory, tmp_path
):
    """A crash between storing the message of a visitor the AI goes on helping (they
    chose ``ai_continues`` while queued) and the AI's reply: the restarted server
    finishes the turn, as it does for a conversation with the AI."""
    data = tmp_path / "shared-data"
    first = await server_factory(data_dir=data)
    visitor, cid, _ = await escalate(first.url)
    chose = VChooseFallback(
        type="choose_fallback", client_msg_id=new_client_msg_id(), option="ai_continues"
    )
    assert isinstance((await exchange(visitor, chose))[-1], SAck)
    await visitor.close()
    message = NewEvent(
        kind="visitor_message", data={"text": "how do I reset my password"}, client_msg_id="m1"
    )
    await first.store.call(first.store.store.append_events, cid, [message], {})
    await first.close()
    second = await server_factory(data_dir=data)
    stored = await second.store.call(second.store.store.events_after, cid, 0)
    assert [e.kind for e in stored][-2:] == ["visitor_message", "ai_message"]
    assert stored[-1].data["entry_id"] == "account-password-reset"
    conv = await second.store.call(second.store.store.get_conversation, cid)
    assert conv.status == "queued"  # still waiting for the person who follows up


async def test_only_what_was_offered_can_be_chosen(server_factory):
    srv = await server_factory(policy={"fallbacks": {"offer": ["wait"]}})
    visitor, _, frames = await escalate(srv.url)
    assert [c.option for c in offer_of(frames).choices] == ["wait"]
    refused = await send(visitor, _callback(email="ada@example.com"))
    assert isinstance(refused, SError) and refused.code == "invalid_state"
    assert refused.detail == "'callback' was not offered in this conversation"
    wait = VChooseFallback(type="choose_fallback", client_msg_id="w1", option="wait")
    assert isinstance(await send(visitor, wait), SAck)
    again = await send(visitor, wait)
    assert isinstance(again, SAck) and again.duplicate
    await visitor.close()


async def test_waiting_work_is_offered_oldest_first_when_an_agent_comes_online(server):
    older, older_id, _ = await escalate(server.url, name="Old")
    assert isinstance(await send(older, _callback(email="old@example.com")), SAck)
    newer, newer_id, _ = await escalate(server.url, name="New")
    sam = await online_agent(server.url, await create_token(server))
    work = (await sam.recv_until(lambda f: isinstance(f, SWaitingWork), 10))[-1]
    assert [r.conversation_id for r in work.items] == [older_id, newer_id]
    assert work.items[0].fallback.chosen == "callback"
    for conn in (older, newer, sam):
        await conn.close()
