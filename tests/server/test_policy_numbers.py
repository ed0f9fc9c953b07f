"""Every number in a policy is finite and strictly a number, whichever way the policy
comes in: an operator's frame (JSON with ``NaN``/``Infinity`` literals), ``handoff policy
import`` of a JSON or TOML file (real server, real clients, the real CLI)."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from handoff_server.protocol_operator import SPolicy, SPolicyValidation
from tests.conftest import create_token
from tests.helpers import agent, events, run_handoff, say, start_visitor
from tests.server.test_operator_policy import MIDDLING, apply, ask, policy_in_force

COVERED = "how do I point my domain to your nameservers"
"""Answered with confidence ≥ 0.70 on the demo KB: the AI answers it."""


def _set(body: dict[str, Any], loc: tuple[str | int, ...], value: Any) -> dict[str, Any]:
    out = copy.deepcopy(body)
    node: Any = out
    for key in loc[:-1]:
        node = node[key]
    node[loc[-1]] = value
    return out


def _with_rule(body: dict[str, Any], when: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(body)
    out["rules"].insert(0, {"name": "attack", "when": when})
    return out


BAD_NUMBERS: list[tuple[tuple[str | int, ...], Any, str]] = [
    (("threshold",), float("nan"), "finite"),
    (("threshold",), float("inf"), "finite"),
    (("threshold",), True, "not true/false"),
    (("threshold",), "0.5", "not text"),
    (("sentiment", "threshold"), float("-inf"), "finite"),
    (("human_request", "min_probability"), True, "not true/false"),
    (("unresolved_exchanges", "count"), True, "not true/false"),
    (("unresolved_exchanges", "count"), 3.0, "valid integer"),
    (("keyword", "max_gap"), "2", "not text"),
    (("ai_error_priority",), False, "not true/false"),
    (("fallbacks", "gate", "max_wait_minutes"), float("nan"), "finite"),
    (("fallbacks", "gate", "max_queue_length"), "20", "not text"),
    (("intent", "categories", 0, "priority"), True, "not true/false"),
    (("intent", "categories", 0, "min_probability"), float("nan"), "finite"),
]


@pytest.mark.parametrize(("loc", "value", "says"), BAD_NUMBERS, ids=lambda x: repr(x))
async def test_a_bad_number_is_refused_at_its_field_and_nothing_is_applied(
    server, loc: tuple[str | int, ...], value: Any, says: str
) -> None:
    op = await agent(server.url, await create_token(server, "Olga", "operator"))
    v1 = await policy_in_force(op)
    body = _set(v1.policy, loc, value)
    checked = await ask(op, {"type": "policy_validate", "policy": body})
    assert isinstance(checked, SPolicyValidation) and not checked.ok, checked
    places = {tuple(p.loc): p.message for p in checked.problems}
    assert says in places[loc], places
    refused = await ask(op, apply(body, v1.version))
    assert isinstance(refused, SPolicyValidation) and not refused.ok, refused
    assert (await policy_in_force(op)).version == v1.version


async def test_a_nan_bound_in_a_rule_is_refused_and_turns_keep_their_outcome(server) -> None:
    """``confidence lt NaN`` or ``ge -inf`` would change which turns escalate; refused,
    the AI keeps answering the question it answers."""
    op = await agent(server.url, await create_token(server, "Olga", "operator"))
    v1 = await policy_in_force(op)
    for when, loc in [
        ({"not": {"confidence": {"lt": float("nan")}}}, ("not", "confidence", "lt")),
        ({"confidence": {"ge": float("-inf")}}, ("confidence", "ge")),
        ({"exchanges": {"ge": True}}, ("exchanges", "ge")),
        ({"sentiment": {"lt": "0"}}, ("sentiment", "lt")),
    ]:
        refused = await ask(op, apply(_with_rule(v1.policy, when), v1.version))
        assert isinstance(refused, SPolicyValidation) and not refused.ok, (when, refused)
        assert ("rules", 0, "when", *loc) in [tuple(p.loc) for p in refused.problems]
    assert (await policy_in_force(op)).version == v1.version
    conn, _ = await start_visitor(server.url)
    assert events(await say(conn, COVERED), "ai_message")
    (esc,) = events(await say(conn, MIDDLING), "escalated")
    assert esc.data.trigger.kind == "low_confidence"
    await conn.close()


async def test_a_raw_frame_with_json_nan_literals_is_refused(server) -> None:
    """The wire's JSON parser reads ``NaN`` and ``Infinity``: the policy still refuses them."""
    op = await agent(server.url, await create_token(server, "Olga", "operator"))
    v1 = await policy_in_force(op)
    text = json.dumps(v1.policy).replace('"threshold": 0.7', '"threshold": NaN', 1)
    assert "NaN" in text
    raw = f'{{"type": "policy_validate", "request_id": "r-nan", "policy": {text}}}'
    await op.send(raw)
    frames = await op.recv_until(lambda f: getattr(f, "request_id", None) == "r-nan")
    answer = frames[-1]
    assert isinstance(answer, SPolicyValidation) and not answer.ok
    assert [(p.loc, p.message) for p in answer.problems] == [
        (["threshold"], "Input should be a finite number")
    ]


async def test_policy_import_refuses_bad_numbers_with_bad_policy(
    server_factory, tmp_path: Path
) -> None:
    data = tmp_path / "data"
    srv = await server_factory(data_dir=data)
    op = await agent(srv.url, await create_token(srv, "Olga", "operator"))
    v1 = await policy_in_force(op)
    cases = {
        "nan.json": json.dumps({**v1.policy, "threshold": float("nan")}),
        "inf.json": json.dumps(_set(v1.policy, ("sentiment", "threshold"), float("-inf"))),
        "bool.json": json.dumps({**v1.policy, "threshold": True}),
        "nan.toml": "threshold = nan\n",
        "text.toml": 'threshold = "0.4"\n',
    }
    for name, text in cases.items():
        path = tmp_path / name
        path.write_text(text)
        done = await run_handoff("policy", "import", str(path), "--data-dir", str(data))
        assert done.returncode == 1, (name, done.stdout, done.stderr)
        assert "bad_policy" in done.stderr and "threshold" in done.stderr, (name, done.stderr)
    current = await policy_in_force(op)
    assert isinstance(current, SPolicy) and current.version == v1.version
    assert current.policy["threshold"] == 0.7
