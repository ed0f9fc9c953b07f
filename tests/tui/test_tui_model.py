"""The agent app's model and link without any Textual app: frames and events applied to a
plain :class:`AgentModel`, and the link service posting messages from a real server."""

from __future__ import annotations

import asyncio

import pytest

from handoff_server.protocol import AiMessage, AiMessageData, Event, Limits, parse_event
from handoff_tui.messages import Authenticated, ConnectionChanged, QueueReplaced
from handoff_tui.model import AgentModel, QueueView, ServerLimits
from handoff_tui.services import Link, ServerClient, action_frame
from handoff_tui.services.link import subscription
from handoff_tui.settings import TUISettings
from tests.conftest import create_token
from tests.tui_fixtures import KIM, NOW, SAM, keyword_packet, low_confidence_packet, queue_items


def _signed_in() -> AgentModel:
    model = AgentModel()
    model.signed_in(SAM)
    return model


def _event(cid: str, seq: int, kind: str, actor: str, cmid: str | None = None, **data) -> Event:
    return parse_event(
        {
            "conversation_id": cid,
            "seq": seq,
            "kind": kind,
            "at": NOW,
            "actor": actor,
            "data": data,
            "client_msg_id": cmid,
        }
    )


def test_a_new_escalation_is_news_only_after_the_first_queue_snapshot() -> None:
    """Rows arriving before the ``queue`` snapshot are no notification; a newly queued row
    after it is; a claim moves it to assigned, not news."""
    model = _signed_in()
    items = queue_items()
    assert model.apply_queue_item(items[0]) is None
    model.replace_queue(items[1:])
    assert set(model.queue.items) == {i.conversation_id for i in items[1:]}
    fresh = items[0].model_copy(update={"conversation_id": "c_new"})
    assert model.apply_queue_item(fresh) == "New escalation"
    claimed = fresh.model_copy(update={"status": "assigned", "assigned_agent": SAM})
    assert model.apply_queue_item(claimed) is None
    assert model.queue.items["c_new"].status == "assigned"


def test_a_release_is_news_to_colleagues_not_to_the_releaser() -> None:
    """A conversation back in the queue was announced to every agent, the one who had
    just released it too, as a "New escalation". A colleague's release (or a transfer
    to a team) is "Back in the queue"; this agent's own is no news (its ack said it)."""
    model = _signed_in()
    model.replace_queue(queue_items())
    base = queue_items()[0]
    for cid, holder, news in (("c_mine", SAM, None), ("c_kims", KIM, "Back in the queue")):
        held = base.model_copy(
            update={"conversation_id": cid, "status": "assigned", "assigned_agent": holder}
        )
        assert model.apply_queue_item(held) is None
        back = held.model_copy(update={"status": "queued", "assigned_agent": None})
        assert model.apply_queue_item(back) == news, cid


def test_opening_loading_and_live_events_count_unread_once() -> None:
    """An opened conversation takes its status from the queue row until its packet comes;
    a replayed event is stored once; others' events count as unread unless shown, the
    agent's own never."""
    model = _signed_in()
    model.replace_queue(queue_items())
    assert model.open("c_ada") is True
    assert model.open("c_ada") is False
    assert model.conversations["c_ada"].status == "queued"
    packet = low_confidence_packet()
    assert model.load(packet) is True
    conv = model.conversations["c_ada"]
    assert conv.last_seq == packet.last_seq
    assert model.add_event(packet.transcript[-1], showing=False) is False
    said = _event("c_ada", 6, "visitor_message", "visitor", text="still there?")
    assert model.add_event(said, showing=False) is True
    mine = _event("c_ada", 7, "claimed", "agent", agent=SAM.model_dump())
    assert model.add_event(mine, showing=False) is True
    theirs = _event("c_ada", 8, "note", "agent", agent=KIM.model_dump(), text="fyi")
    assert model.add_event(theirs, showing=True) is True
    assert conv.unread == 1
    assert conv.status == "assigned" and conv.assigned_agent == SAM
    other = _event("c_other", 1, "note", "agent", agent=KIM.model_dump(), text="x")
    assert model.add_event(other, showing=False) is False


def test_a_reply_is_pending_until_acknowledged_and_its_event_arrives() -> None:
    """Ack before the event: the line waits for the event's ``seq``; ack after it: gone at
    once. An action's ack names the action."""
    model = _signed_in()
    model.open("c_ada")
    model.load(low_confidence_packet())
    conv = model.conversations["c_ada"]
    model.add_pending("c_ada", "reply", "m1", "hello")
    assert model.acked("m1", "c_ada", 6) is None
    assert conv.pending["m1"].acked_seq == 6
    model.add_event(_event("c_ada", 6, "agent_message", "agent", agent=SAM.model_dump()), True)
    assert conv.pending == {}
    model.add_pending("c_ada", "note", "m2", "n")
    model.add_event(_event("c_ada", 7, "note", "agent", cmid="m2", agent=SAM.model_dump()), True)
    assert conv.pending == {}
    model.actions_in_flight["m3"] = ("c_ada", "claim")
    assert model.acked("m3", "c_ada", 8) == ("c_ada", "claim")
    assert model.acked("m3", "c_ada", 8) is None


def test_a_refused_reply_fails_gives_its_text_back_and_is_replaced_by_the_next() -> None:
    """A refused reply is marked failed with the server's words and refills an empty
    draft (not one the agent is writing); the next send drops the failed line."""
    model = _signed_in()
    model.open("c_ada")
    conv = model.conversations["c_ada"]
    model.add_pending("c_ada", "reply", "m1", "first")
    assert model.fail_send("m1", "conflict: not yours") == (conv, True)
    assert conv.draft == "first" and conv.pending["m1"].status == "failed"
    assert conv.pending["m1"].error == "conflict: not yours"
    conv.draft = "typing something else"
    model.add_pending("c_ada", "reply", "m2", "second")
    assert set(conv.pending) == {"m2"}
    assert model.fail_send("m2", "conflict: x") == (conv, False)
    assert conv.draft == "typing something else"
    assert model.fail_send("unknown", "x") is None
    assert model.fail_send(None, "x") is None


def test_a_refused_open_is_kept_only_while_loading() -> None:
    """The server refusing ``open`` shows on a conversation still loading, not on one
    already loaded."""
    model = _signed_in()
    model.open("c_nope")
    assert model.open_failed("c_nope", "not_found: no such conversation") is True
    assert model.conversations["c_nope"].load_error == "not_found: no such conversation"
    model.open("c_ada")
    model.load(low_confidence_packet())
    assert model.open_failed("c_ada", "x") is False
    assert model.open_failed(None, "x") is False


def test_typing_from_others_shows_and_the_agents_own_does_not() -> None:
    """The visitor's typing and another agent's show; the agent's own echo does not."""
    model = _signed_in()
    model.open("c_ada")
    conv = model.conversations["c_ada"]
    assert model.typing("c_ada", "visitor", None, True) and conv.visitor_typing
    model.typing("c_ada", "agent", SAM.name, True)
    assert conv.agent_typing is None
    model.typing("c_ada", "agent", KIM.name, True)
    assert conv.agent_typing == KIM.name
    model.typing("c_ada", "agent", None, False)
    assert conv.agent_typing is None
    assert model.typing("c_closed", "visitor", None, True) is False


def test_open_conversations_cycle_close_and_name_their_tabs() -> None:
    """Tabs follow the opening order with names from the packet or the queue row; the
    next conversation after the last is the queue (``None``)."""
    model = _signed_in()
    model.replace_queue(queue_items())
    model.open("c_ada")
    model.open("c_grace")
    model.load(keyword_packet())
    model.open("c_unknown_conversation")
    assert [t[0] for t in model.tabs("c_grace")] == ["Ada Lovelace", "Grace Hopper", "c_unknow"]
    assert [t[2] for t in model.tabs("c_grace")] == [False, True, False]
    assert model.next_open(None) == "c_ada"
    assert model.next_open("c_ada") == "c_grace"
    assert model.next_open("c_unknown_conversation") is None
    model.close("c_grace")
    assert model.open_order == ["c_ada", "c_unknown_conversation"]
    assert "c_grace" not in model.conversations


def test_the_link_status_counts_failures_and_records_a_refusal() -> None:
    """A reconnect after failed attempts is worth saying; a refused token is recorded with
    the server's address."""
    model = AgentModel()
    model.link.server_url = "ws://h:1"
    assert model.link_changed("connected", 0.0, "") is False
    model.link.attempt = 2
    assert model.link_changed("connected", 0.0, "") is True
    assert model.link.attempt == 0
    model.link_changed("unauthorized", 0.0, "HTTP 403")
    assert model.link.refusal == "the server at ws://h:1 refused the token (HTTP 403)"


def test_limits_default_until_the_server_says_otherwise() -> None:
    """Without ``limits`` (an older server) the defaults stay: 4,000 characters, 0.70."""
    model = AgentModel()
    model.signed_in(SAM, None)
    assert (model.limits.max_message_chars, model.limits.threshold) == (4000, 0.70)
    model.signed_in(SAM, Limits(max_message_chars=120, threshold=0.55))
    assert model.limits == ServerLimits(max_message_chars=120, threshold=0.55)


def test_the_subscription_and_action_frames_follow_the_view() -> None:
    """``subscribe_queue`` lists the view's statuses; actions carry their id and text."""
    model = AgentModel()
    assert subscription(model).statuses == ["queued", "assigned"]
    model.queue.set_mode(QueueView.AI)
    assert subscription(model).statuses == ["ai", "queued", "assigned"]
    reply = action_frame("c1", "reply", "m1", "hi")
    assert (reply.type, reply.client_msg_id, reply.text) == ("reply", "m1", "hi")
    claim = action_frame("c1", "claim", "m2")
    assert (claim.type, claim.conversation_id) == ("claim", "c1")
    with pytest.raises(KeyError):
        action_frame("c1", "typing", "m3")


async def test_the_link_turns_a_real_servers_frames_into_messages(server) -> None:
    """Outside any app: the link connects to a real server, says so, signs in and posts
    the queue snapshot it asked for; a bad token ends the link with ``unauthorized``."""
    token = await create_token(server)
    posted: list[object] = []
    model = AgentModel()
    link = Link(ServerClient(server.url, token), TUISettings(), model, posted.append)
    task = asyncio.create_task(link.run())
    try:
        for _ in range(200):
            if any(isinstance(m, QueueReplaced) for m in posted):
                break
            await asyncio.sleep(0.05)
        kinds = [type(m) for m in posted]
        assert kinds[:3] == [ConnectionChanged, Authenticated, QueueReplaced], kinds
        assert link.connected and await link.send(subscription(model))
    finally:
        task.cancel()
    refused: list[object] = []
    bad = Link(ServerClient(server.url, "hnd_wrong"), TUISettings(), AgentModel(), refused.append)
    await asyncio.wait_for(bad.run(), timeout=10)
    assert [getattr(m, "state", None) for m in refused] == ["unauthorized"]


def test_a_conversation_back_with_the_ai_shows_no_stale_trigger_team_or_analysis() -> None:
    """Resolve → the visitor writes again (reopened): the panel's trigger, priority, team
    and analysis come from live events, not from the packet loaded before; a new handoff
    shows the new trigger. (A newcomer saw 'KB entry server-outage', team
    senior-engineering and the old question on a conversation back with the AI.)"""
    model = _signed_in()
    model.open("c_ada")
    packet = low_confidence_packet()
    model.load(packet)
    conv = model.conversations["c_ada"]
    assert conv.current_trigger() == packet.trigger and packet.trigger is not None
    seq = packet.last_seq
    model.add_event(_event("c_ada", seq + 1, "resolved", "agent", agent=SAM.model_dump()), True)
    model.add_event(_event("c_ada", seq + 2, "reopened", "system", text="again"), True)
    assert conv.current_trigger() is None and conv.routing() == (0, None)
    fresh = 'About the visitor\'s question "how do I reset my password": account-password-reset'
    answer = _event(
        "c_ada", seq + 3, "ai_message", "ai", text="Reset it here.", analysis=fresh, question=True
    )
    model.add_event(answer, True)
    assert conv.question_analysis() == fresh
    trigger = {"kind": "keyword", "detail": "keyword 'cancel account' matched"}
    again = _event(
        "c_ada", seq + 4, "escalated", "system", trigger=trigger, priority=2, team="billing"
    )
    model.add_event(again, True)
    current = conv.current_trigger()
    assert current is not None and current.kind == "keyword"
    assert conv.routing() == (2, "billing")


def test_typing_is_said_again_while_the_agent_keeps_typing() -> None:
    """The server lets one ``typing active=true`` hold a few seconds: an agent typing for
    10 s sends it again every 3 s, and ``active=false`` once idle (not after each key)."""
    from handoff_server.protocol import ATyping
    from handoff_tui.services.typing import TypingSignal

    sent: list[ATyping] = []
    now = [0.0]
    timers: list[object] = []

    class _Timer:
        def __init__(self, callback) -> None:
            self.callback, self.stopped = callback, False

        def stop(self) -> None:
            self.stopped = True

    def set_timer(_seconds, callback):
        timers.append(timer := _Timer(callback))
        return timer

    signal = TypingSignal(3.0, set_timer, sent.append, clock=lambda: now[0])
    for step in range(21):  # a key every 0.5 s for 10 s
        now[0] = step * 0.5
        signal.typed("c_ada")
    assert [f.active for f in sent] == [True, True, True, True]
    timers[-1].callback()  # idle
    assert [f.active for f in sent][-1] is False and len(sent) == 5


def test_ai_partial_text_is_kept_until_the_turn_ends() -> None:
    """The AI's text while written is kept per open conversation, cleared when it ends or
    when the turn's stored event arrives."""
    model = _signed_in()
    model.open("c_ada")
    model.load(low_confidence_packet())
    conv = model.conversations["c_ada"]
    assert model.ai_partial("c_ada", "To set up") and conv.ai_partial == "To set up"
    assert model.ai_partial("c_ada", None) and conv.ai_partial is None
    assert model.ai_partial("c_closed", "x") is False
    model.ai_partial("c_ada", "half an answer")
    last = max(conv.events.values(), key=lambda e: e.seq)
    ai = AiMessage(
        kind="ai_message",
        conversation_id="c_ada",
        seq=last.seq + 1,
        at=last.at,
        actor="ai",
        data=AiMessageData(text="The answer", confidence=0.9),
    )
    assert model.add_event(ai, showing=True) and conv.ai_partial is None
