"""Issue 8, kind 2: a visitor receives a sentence written for them and, of the agent-side
analysis, at most the trigger's kind.

The tables below list every field a frame sent to a visitor may carry, per frame type and
per event kind. Real visitor clients drive a real server through an escalation by every
trigger (keyword, human request typed and pressed, low confidence, answerer failure, KB
entry, intent, sentiment, unresolved exchanges, an operator rule, an accepted offer),
through every agent action, a reopening and a resume; every raw frame they receive is
checked against the tables.
"""

from __future__ import annotations

import json
from typing import Any

from handoff_server.ai import Answer
from handoff_server.client import Connection, connect_visitor, new_client_msg_id
from handoff_server.errors import AnswererError
from handoff_server.frames import parse_server_frame
from handoff_server.protocol import (
    AAnswerOffline,
    ACallbackDone,
    AClaim,
    AHandback,
    ANote,
    AOpen,
    ARelease,
    AReply,
    AResolve,
    ATransfer,
    ATyping,
    SAck,
    SConversation,
    SEvent,
    STyping,
    SWelcome,
    VChooseFallback,
    VisitorInfo,
    VLeaveMessage,
    VMessage,
    VRequestCallback,
    VRequestHuman,
    VResume,
    VStart,
)
from tests.conftest import create_token
from tests.helpers import MAIL_HOOK, agent, events, say, wait_ack

FRAME_FIELDS = {
    "welcome": {"type", "conversation_id", "resume_token", "status", "last_seq", "limits"},
    "ack": {"type", "client_msg_id", "conversation_id", "seq", "duplicate"},
    "error": {"type", "code", "detail", "client_msg_id", "conversation_id"},
    "typing": {"type", "conversation_id", "role", "name", "active"},
    "event": {"type", "event"},
    "wait_estimate": {"type", "conversation_id", "minutes", "max_minutes", "ahead", "text"},
    "fallback_offer": {"type", "conversation_id", "reason", "text", "choices", "opens_at"},
}
"""Every frame type a visitor may receive, with every field it may carry."""

EVENT_FIELDS = {"conversation_id", "seq", "kind", "at", "actor", "data", "client_msg_id"}

DATA_FIELDS = {
    "conversation_started": {"visitor"},
    "visitor_message": {"text"},
    "ai_message": {"text", "sources", "confidence", "offer_handoff"},
    "escalated": {"text", "trigger"},
    "claimed": {"agent", "notice"},
    "released": {"agent", "notice"},
    "handed_back": {"agent", "notice"},
    "resolved": {"agent", "notice"},
    "agent_message": {"agent", "text"},
    "reopened": {"notice"},
    "transferred": {"notice"},
    "requeued": {"notice"},
    "system_message": {"text"},
    "fallback_chosen": {"option", "notice"},
    "callback_requested": {"phone", "email", "preferred_at", "note", "notice"},
    "offline_message": {"email", "text", "notice"},
    "callback_done": {"agent", "notice"},
    "offline_reply": {"agent", "text", "email", "notice"},
}
"""Every event kind a visitor may receive, with every field its data may carry."""

FALLBACK_KINDS = {
    "fallback_chosen",
    "callback_requested",
    "offline_message",
    "callback_done",
    "offline_reply",
}
"""The kinds of :func:`_fallbacks`' conversations (nobody could come)."""

NESTED_FIELDS = {"trigger": {"kind"}, "agent": {"name"}, "choices": {"option", "label"}}

SECRETS = [
    "index file is corrupt",  # the answerer's error
    "AnswererError",
    "PRIVATE",  # the agents' own words on actions, and their notes
    "evaluations",
    "threshold",
    "candidates",
    "analysis",
    "draft",
    "matched",  # "keyword 'cancel account' matched 'cancel my account'"
]


class RecordingConnection(Connection):
    """A real visitor connection that keeps every raw frame it receives."""

    def __init__(self, conn: Connection, log: list[str]) -> None:
        super().__init__(conn.ws)
        self.log = log

    async def recv(self, timeout: float | None = None) -> Any:
        import asyncio

        raw = await asyncio.wait_for(self.ws.recv(), timeout)
        self.log.append(raw)
        return parse_server_frame(raw)


class FailingAnswerer:
    """An engine whose index is broken."""

    def answer(self, question: str) -> Answer:
        raise AnswererError("index file is corrupt")


async def _visitor(url: str, log: list[str], **info: Any) -> tuple[RecordingConnection, str]:
    conn = RecordingConnection(await connect_visitor(url), log)
    await conn.send(VStart(type="start", visitor=VisitorInfo(**info)))
    frames = await conn.recv_until(
        lambda f: isinstance(f, SEvent) and f.event.kind == "conversation_started"
    )
    welcome = next(f for f in frames if isinstance(f, SWelcome))
    return conn, welcome.conversation_id


async def _escalate(url: str, log: list[str], text: str, **info: Any) -> str:
    conn, _ = await _visitor(url, log, **info)
    (esc,) = events(await say(conn, text), "escalated")
    await conn.close()
    return esc.data.trigger.kind


def check_visitor_frame(raw: str) -> dict[str, Any]:
    """Fail unless the raw frame carries only fields a visitor may receive."""
    frame = json.loads(raw)
    assert frame["type"] in FRAME_FIELDS, frame
    assert set(frame) <= FRAME_FIELDS[frame["type"]], frame
    for secret in SECRETS:
        assert secret not in raw, (secret, frame)
    if frame["type"] == "welcome":
        assert set(frame.get("limits") or {}) <= {"max_message_chars"}, frame  # no threshold
    if frame["type"] == "event":
        ev = frame["event"]
        assert set(ev) <= EVENT_FIELDS, ev
        assert ev["kind"] in DATA_FIELDS, ev
        assert set(ev["data"]) <= DATA_FIELDS[ev["kind"]], ev
        for key, allowed in NESTED_FIELDS.items():
            if key in ev["data"]:
                assert set(ev["data"][key]) <= allowed, ev
        if ev["actor"] != "visitor":
            assert ev["client_msg_id"] is None, ev
    for choice in frame.get("choices", []):
        assert set(choice) <= NESTED_FIELDS["choices"], frame
    return frame


async def _agent_actions(url: str, token: str, kim_token: str, log: list[str]) -> set[str]:
    """Every agent action on one conversation (a transfer, a return to the queue when
    an agent is gone), then a reopening and a resume."""
    visitor, cid = await _visitor(url, log, name="Vi", email="vi@example.com")
    assert events(await say(visitor, "cancel my account"), "escalated")
    sam = await agent(url, token)
    await sam.send(AOpen(type="open", conversation_id=cid))
    await sam.recv_until(lambda f: isinstance(f, SConversation))

    async def act(frame_type: Any, kind: str, **extra: Any) -> None:
        cmid = new_client_msg_id()
        await sam.send(frame_type(type=kind, conversation_id=cid, client_msg_id=cmid, **extra))
        assert isinstance((await wait_ack(sam, cmid))[-1], SAck)

    await act(AClaim, "claim")
    await sam.send(ATyping(type="typing", conversation_id=cid, active=True))
    await act(AReply, "reply", text="Hi Vi, Sam here.")
    await act(ANote, "note", text="PRIVATE note: retention offer?")
    await act(ARelease, "release", text="PRIVATE: not my area")
    await act(AClaim, "claim")
    await act(ATransfer, "transfer", to_team="security", note="PRIVATE: for the breach team")
    # Kim takes it and disconnects: past the grace period it goes back to the queue.
    kim = await agent(url, kim_token)
    cmid = new_client_msg_id()
    await kim.send(AClaim(type="claim", conversation_id=cid, client_msg_id=cmid))
    assert isinstance((await wait_ack(kim, cmid))[-1], SAck)
    await kim.close()
    await visitor.recv_until(lambda f: isinstance(f, SEvent) and f.event.kind == "requeued")
    await act(AClaim, "claim")
    await act(AHandback, "handback", text="PRIVATE: the AI can do this")
    assert events(await say(visitor, "I want to talk to a person"), "escalated")
    await act(AClaim, "claim")
    await act(AResolve, "resolve", text="PRIVATE: retained with a discount")
    await visitor.recv_until(lambda f: isinstance(f, SEvent) and f.event.kind == "resolved")
    assert events(await say(visitor, "how do I reset my password"), "ai_message")
    assert any(isinstance(f, STyping) for f in _parsed(log))
    # An error frame, and a resume that replays everything from the start.
    cmid = new_client_msg_id()
    await visitor.send(VMessage(type="message", client_msg_id=cmid, text="\u200b"))
    await wait_ack(visitor, cmid)
    resume_token = next(
        f.resume_token for f in _parsed(log) if isinstance(f, SWelcome) and f.conversation_id == cid
    )
    await visitor.close()
    again = RecordingConnection(await connect_visitor(url), log)
    await again.send(VResume(type="resume", conversation_id=cid, resume_token=resume_token))
    welcome = await again.recv(timeout=10)
    assert isinstance(welcome, SWelcome)
    replay = await again.recv_until(
        lambda f: isinstance(f, SEvent) and f.event.seq == welcome.last_seq
    )
    await again.close()
    await sam.close()
    return {f.event.kind for f in replay}


def _parsed(log: list[str]) -> list[Any]:
    return [parse_server_frame(raw) for raw in log]


async def test_visitor_frames_carry_only_allowed_fields(server_factory):
    log: list[str] = []
    server = await server_factory(assignment={"disconnect_grace_seconds": 0.3}, webhooks=MAIL_HOOK)
    url = server.url
    token = await create_token(server, "Sam")
    kim_token = await create_token(server, "Kim")
    fired = {
        await _escalate(url, log, "what's a good recipe for sourdough bread"),
        await _escalate(url, log, "cancel my account"),
        await _escalate(url, log, "I want to talk to a person"),
        await _escalate(url, log, "my site was hacked"),
        await _escalate(url, log, "I will sue you, see you in court"),
        await _escalate(url, log, "this is useless, I hate this!!! 😡😡"),
    }
    pressed, _ = await _visitor(url, log)
    await pressed.send(VRequestHuman(type="request_human", client_msg_id=new_client_msg_id()))
    esc = await pressed.recv_until(lambda f: isinstance(f, SEvent) and f.event.kind == "escalated")
    fired.add(esc[-1].event.data.trigger.kind)
    await pressed.close()

    broken = await server_factory(answerer=FailingAnswerer())
    fired.add(await _escalate(broken.url, log, "how do I reset my password"))

    fired |= await _rule_offer_and_unresolved(server_factory, log)
    fallbacks = await _fallbacks(server_factory, log)
    replayed = await _agent_actions(url, token, kim_token, log)

    assert fired == {
        "low_confidence",
        "keyword",
        "human_request",
        "kb_entry",
        "intent",
        "sentiment",
        "ai_error",
        "rule",
        "unresolved_exchanges",
    }
    assert replayed == set(DATA_FIELDS) - {"system_message"} - FALLBACK_KINDS
    assert fallbacks == FALLBACK_KINDS
    seen = {check_visitor_frame(raw)["type"] for raw in log}
    assert seen == set(FRAME_FIELDS)


def _choice(option: str) -> Any:
    """The visitor's answer to an offer of ``option``."""
    cmid = new_client_msg_id()
    if option == "callback":
        return VRequestCallback(type="request_callback", client_msg_id=cmid, phone="+4930901820")
    if option == "offline_message":
        return VLeaveMessage(
            type="leave_message", client_msg_id=cmid, email="vi@example.com", text="write back"
        )
    return VChooseFallback(type="choose_fallback", client_msg_id=cmid, option=option)


async def _fallbacks(server_factory, log: list[str]) -> set[str]:
    """Nobody online: one visitor goes on with the AI, then asks for a call back, which
    an agent marks done; another leaves a message, which an agent answers by email.
    Returns the fallback kinds the visitors received."""
    server = await server_factory(webhooks=MAIL_HOOK)
    for choices in (("ai_continues", "callback"), ("offline_message",)):
        conn, cid = await _visitor(server.url, log, name="Vi", email="vi@example.com")
        assert events(await say(conn, "I want to talk to a person"), "escalated")
        await conn.recv_until(lambda f: type(f).__name__ == "SFallbackOffer")
        for option in choices:
            frame = _choice(option)
            await conn.send(frame)
            assert isinstance((await wait_ack(conn, frame.client_msg_id))[-1], SAck)
        sam = await agent(server.url, await create_token(server, "Sam"))
        cmid = new_client_msg_id()
        task: Any = (
            ACallbackDone(
                type="callback_done", conversation_id=cid, client_msg_id=cmid, text="PRIVATE"
            )
            if "callback" in choices
            else AAnswerOffline(
                type="answer_offline", conversation_id=cid, client_msg_id=cmid, text="Hi Vi"
            )
        )
        await sam.send(task)
        assert isinstance((await wait_ack(sam, cmid))[-1], SAck)
        await sam.close()
        await conn.recv_until(
            lambda f: isinstance(f, SEvent) and f.event.kind in ("callback_done", "offline_reply")
        )
        await conn.close()
    return {
        f.event.kind
        for f in _parsed(log)
        if isinstance(f, SEvent) and f.event.kind in FALLBACK_KINDS
    }


async def _rule_offer_and_unresolved(server_factory, log: list[str]) -> set[str]:
    """An operator's rule, an accepted offer of a person, and a conversation in circles."""
    rules = [
        {"name": "circles", "when": {"trigger": "unresolved_exchanges"}},
        {
            "name": "vip page",
            "when": {"all": [{"page_url": "*/vip*"}, {"exchanges": {"ge": 2}}]},
            "team": "vip",
            "priority": 5,
        },
        {
            "name": "offer when unsure",
            "when": {"confidence": {"lt": 0.7}},
            "action": "offer_handoff",
        },
    ]
    server = await server_factory(policy={"rules": rules})
    fired = set()
    vip, _ = await _visitor(server.url, log, page_url="https://host.example/vip/")
    assert events(await say(vip, "how do I reset my password"), "ai_message")
    (esc,) = events(await say(vip, "how do I point my domain to your nameservers"), "escalated")
    fired.add(esc.data.trigger.kind)
    await vip.close()

    offered, _ = await _visitor(server.url, log)
    (ai,) = events(await say(offered, "our server is down and we lost data"), "ai_message")
    assert ai.data.offer_handoff is True
    (esc,) = events(await say(offered, "yes"), "escalated")
    fired.add(esc.data.trigger.kind)
    await offered.close()

    circles, _ = await _visitor(server.url, log)
    for text in ("our server is down and we lost data", "what's a good recipe for sourdough bread"):
        assert events(await say(circles, text), "ai_message")
    (esc,) = events(await say(circles, "which football team won the league"), "escalated")
    fired.add(esc.data.trigger.kind)
    await circles.close()
    return fired
