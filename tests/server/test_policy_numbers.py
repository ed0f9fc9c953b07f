"""Every number in a policy is finite and strictly a number, whichever way the policy
comes in: an operator's frame, ``handoff policy import`` of a JSON or TOML file (real
server, real clients, the real CLI). ``NaN`` and ``Infinity`` never reach a policy over
the wire (JSON has no such numbers: the frame is ``invalid_json``); the policy model
refuses them too, for files and the environment."""

from __future__ import annotations

import copy
import json
import math
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from handoff_server.escalation.policy import Policy
from handoff_server.protocol import SError
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


def _non_finite(value: Any) -> bool:
    return isinstance(value, float) and not math.isfinite(value)


def _model_refuses(body: dict[str, Any], loc: tuple[str | int, ...], says: str) -> None:
    """The policy model itself refuses ``body`` at ``loc`` saying ``says``."""
    with pytest.raises(ValidationError) as exc:
        Policy.model_validate(body)
    places = {tuple(e["loc"]): e["msg"] for e in exc.value.errors()}
    assert says in places[loc], places


async def _refused(op: Any, frame: dict[str, Any], non_finite: bool) -> list[Any]:
    """``frame`` refused: as not JSON when it holds a non-finite number, else by the
    policy's validation; returns the problems (none for ``invalid_json``)."""
    answer = await ask(op, frame)
    if non_finite:
        assert isinstance(answer, SError) and answer.code == "invalid_json", answer
        return []
    assert isinstance(answer, SPolicyValidation) and not answer.ok, answer
    return list(answer.problems)


@pytest.mark.parametrize(("loc", "value", "says"), BAD_NUMBERS, ids=lambda x: repr(x))
async def test_a_bad_number_is_refused_at_its_field_and_nothing_is_applied(
    server, loc: tuple[str | int, ...], value: Any, says: str
) -> None:
    op = await agent(server.url, await create_token(server, "Olga", "operator"))
    v1 = await policy_in_force(op)
    body = _set(v1.policy, loc, value)
    _model_refuses(body, loc, says)
    problems = await _refused(op, {"type": "policy_validate", "policy": body}, _non_finite(value))
    if problems:
        places = {tuple(p.loc): p.message for p in problems}
        assert says in places[loc], places
    await _refused(op, apply(body, v1.version), _non_finite(value))
    assert (await policy_in_force(op)).version == v1.version


async def test_a_nan_bound_in_a_rule_is_refused_and_turns_keep_their_outcome(server) -> None:
    """``confidence lt NaN`` or ``ge -inf`` would change which turns escalate; refused,
    the AI keeps answering the question it answers."""
    op = await agent(server.url, await create_token(server, "Olga", "operator"))
    v1 = await policy_in_force(op)
    for when, loc, bound in [
        ({"not": {"confidence": {"lt": float("nan")}}}, ("not", "confidence", "lt"), math.nan),
        ({"confidence": {"ge": float("-inf")}}, ("confidence", "ge"), -math.inf),
        ({"exchanges": {"ge": True}}, ("exchanges", "ge"), True),
        ({"sentiment": {"lt": "0"}}, ("sentiment", "lt"), "0"),
    ]:
        body = _with_rule(v1.policy, when)
        with pytest.raises(ValidationError) as exc:
            Policy.model_validate(body)
        assert ("rules", 0, "when", *loc) in [tuple(e["loc"]) for e in exc.value.errors()]
        problems = await _refused(op, apply(body, v1.version), _non_finite(bound))
        if problems:
            assert ("rules", 0, "when", *loc) in [tuple(p.loc) for p in problems]
    assert (await policy_in_force(op)).version == v1.version
    conn, _ = await start_visitor(server.url)
    assert events(await say(conn, COVERED), "ai_message")
    (esc,) = events(await say(conn, MIDDLING), "escalated")
    assert esc.data.trigger.kind == "low_confidence"
    await conn.close()


async def test_a_raw_frame_with_json_nan_literals_is_refused(server) -> None:
    """Python's JSON parser reads ``NaN`` and ``Infinity``; JSON has no such numbers, so
    the frame is refused as not JSON before any policy sees it."""
    op = await agent(server.url, await create_token(server, "Olga", "operator"))
    v1 = await policy_in_force(op)
    text = json.dumps(v1.policy).replace('"threshold": 0.7', '"threshold": NaN', 1)
    assert "NaN" in text
    raw = f'{{"type": "policy_validate", "request_id": "r-nan", "policy": {text}}}'
    await op.send(raw)
    answer = await op.recv(timeout=10)
    assert isinstance(answer, SError) and answer.code == "invalid_json", answer
    assert (await policy_in_force(op)).version == v1.version


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
