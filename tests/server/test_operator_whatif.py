"""The what-if replay promises what the policy then does: stored turns replayed under an
edited policy give the figures the same visitor turns give for real once it is applied
(a real server, real visitors, a real operator)."""

from __future__ import annotations

from collections import Counter
from typing import Any

from handoff_server.protocol_operator import SPolicy, SPolicyValidation, SWhatIf
from tests.conftest import create_token
from tests.helpers import agent, events, say, start_visitor
from tests.server.test_operator_policy import apply, ask, policy_in_force

CONVERSATIONS = [
    ["how do I point my domain to your nameservers", "thanks!"],
    ["I want to move my site to you"],
    ["restore my files"],
    ["email not working", "email not working"],
    ["how much does it cost"],
    ["can I get a refund", "how long does a refund take to reach my card"],
    ["I want to cancel my account"],
    ["are you a bot?", "yes"],
    ["my website is slow", "this is useless, nothing works and I am furious!!"],
    ["I need help with billing"],
    ["how do I add a user"],
    ["my card was declined", "you charged me twice this month"],
    ["what is the weather today"],
]
"""Visitor turns that end in every way: answered, courtesy, low confidence, keyword,
intent, frustration, a person offered and accepted."""


async def converse(url: str, messages: list[str]) -> tuple[str, list[str]]:
    """Send ``messages`` until the AI hands off; the outcome (``contained`` or the
    trigger) and the messages the AI decided on."""
    conn, _ = await start_visitor(url)
    sent: list[str] = []
    try:
        for text in messages:
            sent.append(text)
            (esc,) = events(await say(conn, text), "escalated") or [None]
            if esc is not None:
                return esc.data.trigger.kind, sent
        return "contained", sent
    finally:
        await conn.close()


def side(outcomes: list[str]) -> dict[str, Any]:
    escalated = [o for o in outcomes if o != "contained"]
    return {
        "conversations": len(outcomes),
        "contained": len(outcomes) - len(escalated),
        "escalated": len(escalated),
        "by_trigger": dict(Counter(escalated)),
    }


async def test_what_if_figures_equal_what_the_applied_policy_then_does(server) -> None:
    op = await agent(server.url, await create_token(server, "Olga", "operator"))
    v1 = await policy_in_force(op)
    played = [await converse(server.url, messages) for messages in CONVERSATIONS]
    before = [outcome for outcome, _ in played]
    assert len(set(before)) >= 4  # the history ends in several ways

    edited = {**v1.policy, "threshold": 0.45}
    edited["keyword"] = {
        **v1.policy["keyword"],
        "phrases": [*v1.policy["keyword"]["phrases"], "refund"],
    }
    edited["sentiment"] = {**v1.policy["sentiment"], "enabled": False}
    what_if = await ask(op, {"type": "what_if", "policy": edited, "examples": 50})
    assert isinstance(what_if, SWhatIf), what_if
    assert what_if.turns == sum(len(sent) for _, sent in played)
    got = what_if.current.model_dump(
        include={"conversations", "contained", "escalated", "by_trigger"}
    )
    assert got == side(before)

    applied = await ask(op, apply(edited, v1.version))
    assert isinstance(applied, SPolicy)
    after = [(await converse(server.url, sent))[0] for _, sent in played]
    got = what_if.proposed.model_dump(
        include={"conversations", "contained", "escalated", "by_trigger"}
    )
    assert got == side(after)
    changed = [(b, a) for b, a in zip(before, after, strict=True) if b != a]
    assert changed, "the edit changes some outcomes"
    assert what_if.escalated_to_contained == sum(a == "contained" for _, a in changed)
    assert what_if.contained_to_escalated == sum(b == "contained" for b, _ in changed)
    assert what_if.trigger_changed == sum("contained" not in (b, a) for b, a in changed)
    assert sorted((e.before, e.after) for e in what_if.examples) == sorted(changed)
    # Each example names the stored visitor turn that decides the change.
    assert {e.text for e in what_if.examples} <= {t for _, sent in played for t in sent}


async def test_an_invalid_edited_policy_gets_its_problems_not_a_replay(server) -> None:
    op = await agent(server.url, await create_token(server, "Olga", "operator"))
    v1 = await policy_in_force(op)
    answer = await ask(op, {"type": "what_if", "policy": {**v1.policy, "threshold": 2}})
    assert isinstance(answer, SPolicyValidation) and not answer.ok
    assert answer.problems[0].loc == ["threshold"]
