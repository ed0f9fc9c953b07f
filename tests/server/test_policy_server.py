"""Policy changes on a running server (real server, real websocket clients, the real CLI)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from typer.testing import CliRunner

from handoff_cli.main import app
from tests.helpers import events, say, start_visitor

COVERED = "how do I point my domain to your nameservers"
runner = CliRunner()


async def cli(*args: str) -> tuple[int, str, str]:
    result = await asyncio.to_thread(runner.invoke, app, list(args))
    return result.exit_code, result.stdout, result.stderr


async def _trigger(srv, conversation_id: str) -> dict:
    """The trigger as agents see it (visitors get only its kind)."""
    conv = await srv.store.call(srv.store.store.get_conversation, conversation_id)
    return conv.trigger


async def test_import_applies_to_the_next_turn_of_a_running_conversation(
    server_factory, tmp_path: Path
) -> None:
    data = tmp_path / "data"
    srv = await server_factory(data_dir=data)
    conn, welcome = await start_visitor(srv.url, name="Ada")
    (ai,) = events(await say(conn, COVERED), "ai_message")
    assert ai.data.confidence >= 0.70

    code, out, _ = await cli("policy", "export", "--json", "--data-dir", str(data))
    body = json.loads(out)
    body["keyword"]["phrases"].append("nameservers")
    changed = tmp_path / "p.json"
    changed.write_text(json.dumps(body))
    code, out, err = await cli(
        "policy", "import", str(changed), "--author", "ops", "--data-dir", str(data)
    )
    assert code == 0, err

    (esc,) = events(await say(conn, COVERED), "escalated")
    assert esc.data.trigger.model_dump() == {"kind": "keyword"}
    trigger = await _trigger(srv, welcome.conversation_id)
    assert trigger["kind"] == "keyword"
    assert trigger["detail"] == "keyword 'nameservers' matched 'nameservers'"
    assert trigger["policy_version"] == 2
    # The original confidence of the escalating turn, not a substitute.
    assert trigger["confidence"] >= 0.70

    code, out, _ = await cli("policy", "history", "--json", "--data-dir", str(data))
    history = json.loads(out)
    assert [h["version"] for h in history] == [1, 2]
    assert history[-1]["author"] == "ops"
    await conn.close()


async def test_importing_the_policy_in_force_adds_no_version(
    server_factory, tmp_path: Path
) -> None:
    """``handoff policy import`` of a file identical to the policy in force stored a new
    version anyway. Now it says so, stores nothing and exits 0 (TOML export, as a
    newcomer would round-trip it); a real change still stores the next version."""
    data = tmp_path / "data"
    srv = await server_factory(data_dir=data)
    same = tmp_path / "same.toml"
    code, _, err = await cli("policy", "export", "--out", str(same), "--data-dir", str(data))
    assert code == 0, err
    code, out, err = await cli("policy", "import", str(same), "--data-dir", str(data))
    assert code == 0, err
    assert out == "policy unchanged: the file is the policy in force (v1); nothing stored\n"

    code, out, _ = await cli("policy", "export", "--json", "--data-dir", str(data))
    body = json.loads(out)
    body["keyword"]["phrases"].append("nameservers")
    changed = tmp_path / "p.json"
    changed.write_text(json.dumps(body))
    code, out, err = await cli("policy", "import", str(changed), "--json", "--data-dir", str(data))
    assert code == 0, err
    assert json.loads(out) | {"author": None} == {
        "ok": True, "version": 2, "author": None, "changed": True
    }  # fmt: skip
    code, out, err = await cli("policy", "import", str(changed), "--json", "--data-dir", str(data))
    assert code == 0, err
    assert json.loads(out)["changed"] is False and json.loads(out)["version"] == 2

    code, out, _ = await cli("policy", "history", "--json", "--data-dir", str(data))
    assert [h["version"] for h in json.loads(out)] == [1, 2]
    conn, _ = await start_visitor(srv.url, name="Cy")  # the server runs the stored v2
    (esc,) = events(await say(conn, COVERED), "escalated")
    assert esc.data.trigger.model_dump() == {"kind": "keyword"}
    await conn.close()


async def test_bad_import_keeps_the_running_policy(server_factory, tmp_path: Path) -> None:
    data = tmp_path / "data"
    srv = await server_factory(data_dir=data)
    bad = tmp_path / "bad.toml"
    bad.write_text("threshold = 1.5\n[unresolved_exchanges]\ncount = 0\n")
    code, _, err = await cli("policy", "import", str(bad), "--data-dir", str(data))
    assert code == 1 and "threshold:" in err and "unresolved_exchanges.count:" in err

    conn, _ = await start_visitor(srv.url, name="Bo")
    (ai,) = events(await say(conn, COVERED), "ai_message")
    assert ai.data.confidence >= 0.70
    code, out, _ = await cli("policy", "history", "--json", "--data-dir", str(data))
    assert [h["version"] for h in json.loads(out)] == [1]
    await conn.close()


async def test_server_and_triage_agree(server_factory, tmp_path: Path) -> None:
    """The same messages get the same decision from `handoff triage` and the server."""
    data = tmp_path / "data"
    srv = await server_factory(data_dir=data)
    messages = {
        "Please cancel my account today": "keyword",
        "can I talk to someone real": "human_request",
        "what's a good recipe for sourdough bread": "low_confidence",
        "This is useless!!! 😡😡": "sentiment",
        COVERED: None,
    }
    for text, expected in messages.items():
        conn, welcome = await start_visitor(srv.url, name="Cy")
        frames = await say(conn, text)
        esc = events(frames, "escalated")
        server_trigger = esc[0].data.trigger.kind if esc else None
        code, out, err = await cli("triage", "--json", "--data-dir", str(data), text)
        assert code == 0, err
        report = json.loads(out)
        assert (server_trigger, report["trigger"]) == (expected, expected), text
        if esc:
            trigger = await _trigger(srv, welcome.conversation_id)
            assert trigger["detail"] == report["detail"]
        await conn.close()


async def test_a_backtracking_pattern_on_visitor_text_does_not_stall_the_server(
    server_factory, tmp_path: Path
) -> None:
    """A rule's regex is the operator's, the text it searches the visitor's. With
    Python's ``re``, ``(a|a)+`` on 26 a's and a "!" backtracked for seconds per search
    and held the event loop (a longer value: minutes). Each search is now bounded
    (patterns.py): past its time it counts as no match, so the turn is answered at once
    and the rule does not fire."""
    data = tmp_path / "data"
    srv = await server_factory(data_dir=data)
    code, out, _ = await cli("policy", "export", "--json", "--data-dir", str(data))
    body = json.loads(out)
    body["rules"][:0] = [
        {"name": "hostile url", "when": {"page_url": {"regex": r"^https://x\.example/(a|a)+$"}}},
        {"name": "hostile field", "when": {"visitor": {"field": "plan", "matches": "^(a|a)+$"}}},
    ]
    changed = tmp_path / "p.json"
    changed.write_text(json.dumps(body))
    code, _, err = await cli("policy", "import", str(changed), "--data-dir", str(data))
    assert code == 0, err

    hostile = "a" * 26 + "!"
    conn, _ = await start_visitor(
        srv.url, page_url=f"https://x.example/{hostile}", fields={"plan": hostile}
    )
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    (ai,) = events(await say(conn, COVERED), "ai_message")
    assert loop.time() - t0 < 2.0
    assert ai.data.confidence >= 0.70
    await conn.close()


async def test_many_backtracking_patterns_share_one_budget_per_turn(
    server_factory, tmp_path: Path
) -> None:
    """Each search was bounded (20 ms), the turn was not: a rule with 300 conditions
    ``visitor.plan matches ^(a|a)+$`` took 300 x 20 ms = 6 s for one turn of a visitor
    whose plan was 40 a's and a "!", with every other visitor waiting for it. The
    searches of a turn now share one budget (50 ms) and a pattern that ran out of time
    on a text is remembered, so each turn of that visitor, and another visitor's turn
    meanwhile, is answered at once."""
    data = tmp_path / "data"
    srv = await server_factory(data_dir=data)
    code, out, _ = await cli("policy", "export", "--json", "--data-dir", str(data))
    body = json.loads(out)
    hostile = [{"visitor": {"field": "plan", "matches": f"^(a|a)+$(?#{i})"}} for i in range(300)]
    body["rules"][:0] = [{"name": "hostile plans", "when": {"any": hostile}}]
    changed = tmp_path / "p.json"
    changed.write_text(json.dumps(body))
    code, _, err = await cli("policy", "import", str(changed), "--data-dir", str(data))
    assert code == 0, err

    loop = asyncio.get_running_loop()
    attacker, _ = await start_visitor(srv.url, fields={"plan": "a" * 40 + "!"})
    bystander, _ = await start_visitor(srv.url)
    for _ in range(2):
        t0 = loop.time()
        attack = asyncio.create_task(say(attacker, COVERED))
        await asyncio.sleep(0.05)  # the attacker's turn is being judged
        (other,) = events(await say(bystander, COVERED), "ai_message")
        (ai,) = events(await attack, "ai_message")
        assert loop.time() - t0 < 2.0
        assert ai.data.confidence >= 0.70 and other.data.confidence >= 0.70
    await attacker.close()
    await bystander.close()


async def test_policy_export_to_a_path_that_cannot_be_written_is_a_clear_error(
    tmp_path: Path,
) -> None:
    """``policy export --out`` into a missing directory printed a Python traceback
    (exit 1); every mistake is ``error[code]`` with exit 2, and nothing is written."""
    data = tmp_path / "data"
    target = tmp_path / "missing" / "p.toml"
    code, out, err = await cli("policy", "export", "--out", str(target), "--data-dir", str(data))
    assert code == 2
    assert err.startswith(f"error[io_error]: cannot write {target}: No such file or directory")
    assert "Traceback" not in err + out
    assert not target.parent.exists()
