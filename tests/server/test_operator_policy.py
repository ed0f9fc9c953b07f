"""The operator's policy frames on a real server: roles, apply, conflicts, history,
rollback, and live pushes of versions stored elsewhere (real clients, the real CLI)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from handoff_server.client import Connection, new_client_msg_id
from handoff_server.protocol import SError
from handoff_server.protocol_operator import SPolicy, SPolicyHistory, SPolicyValidation
from tests.conftest import create_token
from tests.helpers import agent, events, run_handoff, say, start_visitor

MIDDLING = "I want to move my site to you"
"""Confidence about 0.56 on the demo KB: escalated at 0.70, answered at 0.45."""


async def ask(conn: Connection, frame: dict[str, Any]) -> Any:
    """Send an operator request with a fresh ``request_id``; the frame answering it."""
    rid = new_client_msg_id()
    await conn.send({**frame, "request_id": rid})
    frames = await conn.recv_until(lambda f: getattr(f, "request_id", None) == rid, timeout=20)
    return frames[-1]


async def policy_in_force(conn: Connection) -> SPolicy:
    answer = await ask(conn, {"type": "policy_get", "subscribe": False})
    assert isinstance(answer, SPolicy), answer
    return answer


def apply(policy: dict[str, Any], base: int, **extra: Any) -> dict[str, Any]:
    return {
        "type": "policy_apply",
        "client_msg_id": new_client_msg_id(),
        "policy": policy,
        "base_version": base,
        **extra,
    }


async def test_an_agent_token_cannot_read_or_change_the_policy(server) -> None:
    agent_conn = await agent(server.url, await create_token(server, "Sam", "agent"))
    op = await agent(server.url, await create_token(server, "Olga", "operator"))
    before = await policy_in_force(op)
    body = {**before.policy, "threshold": 0.1}
    for frame in (
        apply(body, before.version),
        {"type": "policy_get"},
        {"type": "policy_rollback", "client_msg_id": "c1", "version": 1, "base_version": 1},
        {"type": "what_if", "policy": body},
    ):
        refused = await ask(agent_conn, frame)
        assert isinstance(refused, SError) and refused.code == "forbidden", refused
        assert refused.client_msg_id == frame.get("client_msg_id")
    after = await policy_in_force(op)
    assert (after.version, after.policy) == (before.version, before.policy)
    conn, _ = await start_visitor(server.url)
    (esc,) = events(await say(conn, MIDDLING), "escalated")  # still the 0.70 threshold
    assert esc.data.trigger.kind == "low_confidence"
    await conn.close()


async def test_an_applied_change_reaches_a_running_conversation_and_rollback_undoes_it(
    server,
) -> None:
    op = await agent(server.url, await create_token(server, "Olga", "operator"))
    v1 = await policy_in_force(op)
    conn, _ = await start_visitor(server.url)
    (esc,) = events(await say(conn, MIDDLING), "escalated")
    assert esc.data.trigger.kind == "low_confidence"
    other, _ = await start_visitor(server.url)  # running before the change, still with the AI
    assert events(await say(other, "how do I point my domain to your nameservers"), "ai_message")

    applied = await ask(op, apply({**v1.policy, "threshold": 0.45}, v1.version, comment="pilot"))
    assert isinstance(applied, SPolicy) and applied.version == v1.version + 1
    assert applied.author == "Olga" and applied.comment == "pilot"
    (ai,) = events(await say(other, MIDDLING), "ai_message")  # answered now, not escalated
    assert 0.45 <= ai.data.confidence < 0.70

    rolled = await ask(
        op,
        {
            "type": "policy_rollback",
            "client_msg_id": new_client_msg_id(),
            "version": v1.version,
            "base_version": applied.version,
        },
    )
    assert isinstance(rolled, SPolicy) and rolled.version == applied.version + 1
    assert rolled.policy == v1.policy
    (again,) = events(await say(other, MIDDLING + " please"), "escalated")
    assert again.data.trigger.kind == "low_confidence"
    history = await ask(op, {"type": "policy_history"})
    assert isinstance(history, SPolicyHistory)
    newest = history.versions[0]
    assert newest.version == rolled.version and newest.rolled_back_to == v1.version
    assert [(c.path, c.before, c.after) for c in newest.changes] == [("threshold", 0.45, 0.7)]
    assert [(c.path, c.before, c.after) for c in history.versions[1].changes] == [
        ("threshold", 0.7, 0.45)
    ]
    assert history.versions[1].comment == "pilot" and history.versions[1].author == "Olga"
    await conn.close()
    await other.close()


async def test_a_stale_base_version_is_a_conflict_and_a_retry_is_stored_once(server) -> None:
    a = await agent(server.url, await create_token(server, "Olga", "operator"))
    b = await agent(server.url, await create_token(server, "Omar", "operator"))
    v1 = await policy_in_force(a)
    frame = apply({**v1.policy, "threshold": 0.6}, v1.version)
    first = await ask(a, frame)
    assert isinstance(first, SPolicy) and first.version == v1.version + 1
    retried = await ask(a, frame)  # the same client_msg_id: the same version, nothing new
    assert isinstance(retried, SPolicy) and retried.version == first.version
    late = await ask(b, apply({**v1.policy, "threshold": 0.5}, v1.version))
    assert isinstance(late, SError) and late.code == "conflict", late
    assert (await policy_in_force(b)).policy["threshold"] == 0.6


async def test_validation_reports_each_problem_at_its_place(server) -> None:
    op = await agent(server.url, await create_token(server, "Olga", "operator"))
    v1 = await policy_in_force(op)
    body = json.loads(json.dumps(v1.policy))
    body["threshold"] = 1.5
    body["unresolved_exchanges"]["count"] = 0
    checked = await ask(op, {"type": "policy_validate", "policy": body})
    assert isinstance(checked, SPolicyValidation) and not checked.ok
    places = {tuple(p.loc): p.message for p in checked.problems}
    assert "less than or equal to 1" in places[("threshold",)]
    assert "greater than or equal to 1" in places[("unresolved_exchanges", "count")]
    # Names and references are checked across the policy once every field is valid.
    body = json.loads(json.dumps(v1.policy))
    body["rules"][1]["name"] = body["rules"][0]["name"]
    body["rules"][2]["when"] = {"intent": "no_such_intent"}
    checked = await ask(op, {"type": "policy_validate", "policy": body})
    assert isinstance(checked, SPolicyValidation) and not checked.ok
    places = {tuple(p.loc): p.message for p in checked.problems}
    assert "duplicate rule name" in places[("rules", 1, "name")]
    assert "unknown intent 'no_such_intent'" in places[("rules", 2, "when", "intent")]
    refused = await ask(op, apply(body, v1.version))
    assert isinstance(refused, SPolicyValidation) and not refused.ok
    assert (await policy_in_force(op)).version == v1.version
    fine = await ask(op, {"type": "policy_validate", "policy": v1.policy})
    assert isinstance(fine, SPolicyValidation) and fine.ok and fine.problems == []


async def test_versions_applied_elsewhere_are_pushed_to_watching_operators(
    server_factory, tmp_path: Path
) -> None:
    data = tmp_path / "data"
    srv = await server_factory(data_dir=data)
    watcher = await agent(srv.url, await create_token(srv, "Wen", "operator"))
    other = await agent(srv.url, await create_token(srv, "Omar", "operator"))
    v1 = await ask(watcher, {"type": "policy_get"})
    assert isinstance(v1, SPolicy)

    applied = await ask(other, apply({**v1.policy, "threshold": 0.65}, v1.version))
    assert isinstance(applied, SPolicy)
    pushed = (await watcher.recv_until(lambda f: isinstance(f, SPolicy)))[-1]
    assert pushed.version == applied.version and pushed.request_id is None

    changed = tmp_path / "p.json"
    changed.write_text(json.dumps({**v1.policy, "threshold": 0.55}))
    done = await run_handoff(
        "policy", "import", str(changed), "--author", "cli-ops", "--data-dir", str(data)
    )
    assert done.returncode == 0, done.stderr
    pushed = (await watcher.recv_until(lambda f: isinstance(f, SPolicy), timeout=15))[-1]
    assert pushed.version == applied.version + 1
    assert pushed.author == "cli-ops" and pushed.policy["threshold"] == 0.55


async def test_a_malformed_operator_request_is_refused_with_its_request_id(server) -> None:
    op = await agent(server.url, await create_token(server, "Olga", "operator"))
    await op.send({"type": "policy_history", "limit": 0, "request_id": "r-1"})
    refused = (await op.recv_until(lambda f: isinstance(f, SError)))[-1]
    assert refused.code == "invalid_frame" and refused.request_id == "r-1"


async def test_a_policy_frame_with_a_non_json_number_is_refused(server) -> None:
    """Python's JSON parser reads ``NaN`` and ``Infinity``, which JSON has not (RFC 8259
    section 6): a ``policy_apply`` whose threshold was ``NaN`` was taken, and a NaN
    threshold escalates every turn (no comparison with NaN holds). The frame is refused
    as not JSON, and the policy in force stays."""
    op = await agent(server.url, await create_token(server, "Olga", "operator"))
    before = await policy_in_force(op)
    for number in (float("nan"), float("inf")):
        frame = apply({**before.policy, "threshold": number}, before.version)
        await op.send(json.dumps(frame))  # json.dumps writes NaN / Infinity
        refused = await op.recv(timeout=10)
        assert isinstance(refused, SError) and refused.code == "invalid_json", refused
        assert "RFC 8259" in refused.detail
    after = await policy_in_force(op)
    assert (after.version, after.policy) == (before.version, before.policy)


MAX_CONDITION_DEPTH = 32
"""The documented limit (docs/escalation.md), as handoff_server.escalation.policy has it."""


def _nested_not(depth: int) -> dict[str, Any]:
    """A condition ``depth`` tables deep: ``not`` around ``not`` ... around a trigger."""
    cond: dict[str, Any] = {"trigger": "keyword"}
    for _ in range(depth - 1):
        cond = {"not": cond}
    return cond


async def test_a_rule_nested_too_deep_is_refused_at_validation(
    server_factory, tmp_path: Path
) -> None:
    """A rule nested 250 deep was accepted and applied, then ``handoff policy export``
    died of a RecursionError (and 280 deep was refused only as ``invalid_frame``). Rules
    may nest ``MAX_CONDITION_DEPTH`` deep, a depth export, what-if and import all handle;
    deeper is a problem at the rule's place, on the wire and in a file."""
    data = tmp_path / "data"
    server = await server_factory(data_dir=data)
    op = await agent(server.url, await create_token(server, "Olga", "operator"))
    v1 = await policy_in_force(op)
    for depth, ok in ((MAX_CONDITION_DEPTH + 1, False), (250, False)):
        body = json.loads(json.dumps(v1.policy))
        body["rules"].insert(0, {"name": "deep", "when": _nested_not(depth)})
        checked = await ask(op, {"type": "policy_validate", "policy": body})
        assert isinstance(checked, SPolicyValidation) and checked.ok is ok, checked
        (problem,) = checked.problems
        assert tuple(problem.loc) == ("rules", 0, "when")
        assert f"nested {depth} levels deep; at most {MAX_CONDITION_DEPTH}" in problem.message
    body = json.loads(json.dumps(v1.policy))
    body["rules"].insert(0, {"name": "deep", "when": _nested_not(MAX_CONDITION_DEPTH)})
    applied = await ask(op, apply(body, v1.version))
    assert isinstance(applied, SPolicy), applied
    what_if = await ask(op, {"type": "what_if", "policy": v1.policy, "examples": 5})
    assert not isinstance(what_if, SError), what_if
    out = tmp_path / "deep.toml"
    exported = await run_handoff("policy", "export", "--out", str(out), "--data-dir", str(data))
    assert exported.returncode == 0 and "Traceback" not in exported.stderr, exported
    again = await run_handoff("policy", "import", str(out), "--data-dir", str(data))
    assert again.returncode == 0 and "Traceback" not in again.stderr, again  # the same
    body["rules"][0]["when"] = {"not": body["rules"][0]["when"]}
    (tmp_path / "deeper.json").write_text(json.dumps(body), encoding="utf-8")
    refused = await run_handoff(
        "policy", "import", str(tmp_path / "deeper.json"),
        "--data-dir", str(data),
    )  # fmt: skip
    assert refused.returncode == 1 and "Traceback" not in refused.stderr, refused
    assert f"levels deep; at most {MAX_CONDITION_DEPTH}" in refused.stderr
    await op.close()
