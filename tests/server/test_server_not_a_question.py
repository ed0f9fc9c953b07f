"""Issue 8, kind 6 (second pass): no trigger is reported fired with no number behind it.

On a turn that is not a question (a typed or pressed request for a person, a courtesy
turn) the answerer's confidence measures nothing about the visitor's need, so the
confidence-based triggers (low_confidence, kb_entry, unresolved_exchanges) report "not a
question" and stay unfired; the agent is not told "also fired: low_confidence" while every
confidence shown is the question's 0.96."""

from __future__ import annotations

import json

import pytest

from handoff_server.client import new_client_msg_id
from handoff_server.protocol import AOpen, SConversation, SEvent, VRequestHuman
from tests.conftest import create_token
from tests.helpers import agent, events, run_handoff, say, start_visitor

QUESTION = "how do I point my domain at your nameservers"
CONFIDENCE_TRIGGERS = {"low_confidence", "kb_entry", "unresolved_exchanges"}


def _fired(evaluations: list[dict]) -> list[str]:
    return [e["trigger"] for e in evaluations if e["fired"]]


def _not_applicable(evaluations: list[dict], reason: str) -> None:
    for e in evaluations:
        if e["trigger"] in CONFIDENCE_TRIGGERS:
            assert not e["fired"] and e["value"] is None, e
            assert e["detail"] == f"not a question: {reason}", e


async def _packet(server, token: str, cid: str) -> dict:
    out = await run_handoff("transcript", cid, "--json", "--server", server.url, "--token", token)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


async def test_the_newcomers_script_fires_only_human_request(server):
    visit = await run_handoff(
        "visit", "--server", server.url, "--json",
        "-m", QUESTION, "-m", "I want to talk to a person",
    )  # fmt: skip
    assert visit.returncode == 0, visit.stderr
    frames = [json.loads(line) for line in visit.stdout.splitlines() if line.strip()]
    cid = next(f["conversation_id"] for f in frames if f.get("type") == "welcome")
    packet = await _packet(server, await create_token(server), cid)
    answer, escalated = (
        next(e for e in packet["transcript"] if e["kind"] == kind)
        for kind in ("ai_message", "escalated")
    )
    assert answer["data"]["confidence"] >= 0.9  # the question was answered well
    trigger = escalated["data"]["trigger"]
    assert trigger["kind"] == "human_request"
    assert _fired(trigger["evaluations"]) == ["human_request"], trigger["evaluations"]
    _not_applicable(trigger["evaluations"], "the visitor asked for a person")
    assert packet["trigger"]["evaluations"] == trigger["evaluations"]
    assert packet["confidence_history"] == [answer["data"]["confidence"]]


async def test_a_pressed_request_fires_only_human_request(server):
    visitor, welcome = await start_visitor(server.url)
    await say(visitor, QUESTION)
    await visitor.send(VRequestHuman(type="request_human", client_msg_id=new_client_msg_id()))
    await visitor.recv_until(lambda f: isinstance(f, SEvent) and f.event.kind == "escalated")
    sam = await agent(server.url, await create_token(server))
    await sam.send(AOpen(type="open", conversation_id=welcome.conversation_id, subscribe=False))
    packet = (await sam.recv_until(lambda f: isinstance(f, SConversation)))[-1].packet
    evaluations = [e.model_dump() for e in packet.trigger.evaluations]
    assert _fired(evaluations) == ["human_request"], evaluations
    _not_applicable(evaluations, "the visitor asked for a person")
    for conn in (visitor, sam):
        await conn.close()


@pytest.mark.parametrize("courtesy", ["thanks, that worked", "hello"])
async def test_a_courtesy_turn_reports_confidence_triggers_not_applicable(server, courtesy):
    visitor, welcome = await start_visitor(server.url)
    await say(visitor, QUESTION)
    assert events(await say(visitor, courtesy), "ai_message")
    packet = await _packet(server, await create_token(server), welcome.conversation_id)
    question, reply = [e["data"] for e in packet["transcript"] if e["kind"] == "ai_message"]
    assert question["question"] is True and reply["question"] is False
    assert "low_confidence" not in _fired(reply["evaluations"])
    _not_applicable(reply["evaluations"], "a courtesy turn")
    await visitor.close()
