"""The lifecycle table: every agent action in every standing, every visitor action in
every status, with the refusal sentences and codes the server has always sent (pinned
here, and once more through a real server)."""

from __future__ import annotations

import pytest

from handoff_server.client import Connection, new_client_msg_id
from handoff_server.conversations.lifecycle import (
    Move,
    Refusal,
    agent_outcome,
    agent_transition,
    visitor_transition,
)
from handoff_server.errors import HandoffError
from handoff_server.protocol import AgentInfo, SAck, SError, VRequestHuman
from tests.conftest import create_token
from tests.helpers import agent, say, start_visitor, wait_ack

SAM = AgentInfo(id="a1", name="Sam", role="agent")
KIM = AgentInfo(id="a2", name="Kim", role="agent")
OLGA = AgentInfo(id="o1", name="Olga", role="operator")

EXPECTED = {
    # (action, status, holder, actor): status after it, or (code, message)
    ("claim", "ai", None, KIM): "assigned",
    ("claim", "queued", None, KIM): "assigned",
    ("claim", "assigned", KIM, KIM): ("invalid_state", "you already have this conversation"),
    ("claim", "assigned", SAM, KIM): ("conflict", "already claimed by Sam"),
    ("claim", "assigned", SAM, OLGA): ("conflict", "already claimed by Sam"),
    ("claim", "resolved", SAM, KIM): ("invalid_state", "the conversation is resolved"),
    ("reply", "ai", None, KIM): ("invalid_state", "claim the conversation before you reply (it is ai)"),
    ("reply", "queued", None, KIM): ("invalid_state", "claim the conversation before you reply (it is queued)"),
    ("reply", "assigned", KIM, KIM): "assigned",
    ("reply", "assigned", SAM, KIM): ("conflict", "assigned to Sam; you cannot reply"),
    ("reply", "assigned", SAM, OLGA): ("conflict", "assigned to Sam; you cannot reply"),
    ("reply", "resolved", KIM, KIM): ("invalid_state", "claim the conversation before you reply (it is resolved)"),
    ("note", "ai", None, KIM): "ai",
    ("note", "queued", None, KIM): "queued",
    ("note", "assigned", SAM, KIM): "assigned",
    ("note", "resolved", SAM, KIM): "resolved",
    ("resolve", "ai", None, KIM): "resolved",
    ("resolve", "queued", None, KIM): "resolved",
    ("resolve", "assigned", KIM, KIM): "resolved",
    ("resolve", "assigned", SAM, KIM): ("conflict", "assigned to Sam"),
    ("resolve", "assigned", SAM, OLGA): "resolved",
    ("resolve", "resolved", SAM, OLGA): ("invalid_state", "the conversation is already resolved"),
    ("release", "ai", None, KIM): ("invalid_state", "claim the conversation before you release (it is ai)"),
    ("release", "queued", None, KIM): ("invalid_state", "claim the conversation before you release (it is queued)"),
    ("release", "assigned", KIM, KIM): "queued",
    ("release", "assigned", SAM, KIM): ("conflict", "assigned to Sam; you cannot release"),
    ("release", "assigned", SAM, OLGA): ("conflict", "assigned to Sam; you cannot release"),
    ("release", "resolved", KIM, KIM): ("invalid_state", "claim the conversation before you release (it is resolved)"),
    ("handback", "ai", None, OLGA): ("invalid_state", "only a queued or assigned conversation can be handed back (it is ai)"),
    ("handback", "queued", None, KIM): "ai",
    ("handback", "assigned", KIM, KIM): "ai",
    ("handback", "assigned", SAM, KIM): ("conflict", "assigned to Sam"),
    ("handback", "assigned", SAM, OLGA): "ai",
    ("handback", "resolved", SAM, SAM): ("invalid_state", "only a queued or assigned conversation can be handed back (it is resolved)"),
}  # fmt: skip


@pytest.mark.parametrize(("action", "status", "holder", "actor"), list(EXPECTED))
def test_agent_action_table(action, status, holder, actor) -> None:
    expected = EXPECTED[(action, status, holder, actor)]
    outcome = agent_outcome(action, status, holder, actor)
    if isinstance(expected, str):
        assert isinstance(outcome, Move)
        assert agent_transition(action, status, holder, actor).to in (expected, None)
        assert (outcome.to or status) == expected
    else:
        assert isinstance(outcome, Refusal)
        with pytest.raises(HandoffError) as info:
            agent_transition(action, status, holder, actor)
        assert (info.value.code, info.value.detail) == expected


def test_a_holder_name_is_data_not_a_template() -> None:
    odd = AgentInfo(id="a9", name="{status} {holder!r} {0}", role="agent")
    with pytest.raises(HandoffError) as info:
        agent_transition("claim", "assigned", odd, KIM)
    assert info.value.detail == "already claimed by {status} {holder!r} {0}"


def test_visitor_actions() -> None:
    assert visitor_transition("message", "ai").to is None
    assert visitor_transition("message", "assigned").to is None
    assert visitor_transition("message", "resolved").to == "ai"
    assert visitor_transition("request_human", "ai").to is None
    assert visitor_transition("request_human", "resolved").to == "ai"
    for status in ("queued", "assigned"):
        with pytest.raises(HandoffError) as info:
            visitor_transition("request_human", status)
        assert (info.value.code, info.value.detail) == (
            "invalid_state",
            "a person has already been asked for in this conversation",
        )


async def _act(conn: Connection, frame_type: str, cid: str, **fields: str) -> object:
    """Send an agent action; ``"ok"`` when acknowledged, else the error's (code, detail)."""
    cmid = new_client_msg_id()
    await conn.send({"type": frame_type, "conversation_id": cid, "client_msg_id": cmid, **fields})
    last = (await wait_ack(conn, cmid))[-1]
    return "ok" if isinstance(last, SAck) else (last.code, last.detail)


async def test_refusals_through_a_real_server(server) -> None:
    sam = await agent(server.url, await create_token(server, "Sam"))
    kim = await agent(server.url, await create_token(server, "Kim"))
    olga = await agent(server.url, await create_token(server, "Olga", role="operator"))
    visitor, welcome = await start_visitor(server.url)
    cid = welcome.conversation_id
    await say(visitor, "I want to talk to a person")
    cmid = new_client_msg_id()
    await visitor.send(VRequestHuman(type="request_human", client_msg_id=cmid))
    (refused,) = [f for f in await wait_ack(visitor, cmid) if isinstance(f, SError)]
    assert (refused.code, refused.detail) == (
        "invalid_state",
        "a person has already been asked for in this conversation",
    )
    assert await _act(sam, "reply", cid, text="hi") == (
        "invalid_state",
        "claim the conversation before you reply (it is queued)",
    )
    assert await _act(sam, "claim", cid) == "ok"
    assert await _act(sam, "claim", cid) == ("invalid_state", "you already have this conversation")
    assert await _act(kim, "claim", cid) == ("conflict", "already claimed by Sam")
    assert await _act(kim, "reply", cid, text="hi") == (
        "conflict",
        "assigned to Sam; you cannot reply",
    )
    assert await _act(kim, "release", cid) == ("conflict", "assigned to Sam; you cannot release")
    assert await _act(kim, "resolve", cid) == ("conflict", "assigned to Sam")
    assert await _act(kim, "handback", cid) == ("conflict", "assigned to Sam")
    assert await _act(olga, "resolve", cid) == "ok"
    assert await _act(sam, "resolve", cid) == (
        "invalid_state",
        "the conversation is already resolved",
    )
    assert await _act(sam, "claim", cid) == ("invalid_state", "the conversation is resolved")
    assert await _act(sam, "handback", cid) == (
        "invalid_state",
        "only a queued or assigned conversation can be handed back (it is resolved)",
    )
    assert await _act(kim, "note", cid, text="for the record") == "ok"
    assert await _act(kim, "claim", "nope") == ("not_found", "no conversation 'nope'")
    for conn in (sam, kim, olga, visitor):
        await conn.close()
