"""``handoff triage`` and the server decide a turn with the same function
(``evaluate_turn``), so they cannot drift: on the same messages, a real server's stored
decisions and triage's are identical, trigger by trigger."""

from __future__ import annotations

import ast
import asyncio
import inspect
import json
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from handoff_cli import triage_command
from handoff_cli.main import app
from handoff_server.ai import make_answerer
from handoff_server.conversations import ai_turns, service, turn
from handoff_server.kb import load_kb
from tests.helpers import say, start_visitor

runner = CliRunner()

CONVERSATIONS = [
    ["how do I reset my password"],
    ["I want to CANCEL my account!"],
    ["is there a human there?"],
    ["can I talk to a real person please"],
    ["what's a good recipe for banana bread"],
    ["thanks, that worked!"],
    ["this is useless, I hate this!!! 😡😡"],
    ["hello", "my site was hacked"],
    ["how do I set up email on my iphone"] * 3,
]
"""Visitor messages, one list per conversation: plain answers, every kind of handoff, a
courtesy turn, and turns with history (repeats count as unresolved exchanges)."""


async def _server_decisions(server: Any, messages: list[str]) -> list[dict[str, Any]]:
    """Send ``messages`` in one conversation; the decision stored for each AI turn."""
    conn, welcome = await start_visitor(server.url)
    for text in messages:
        await say(conn, text)
    await conn.close()
    stored = await server.store.call(server.store.store.events_after, welcome.conversation_id, 0)
    decisions = []
    for ev in stored:
        if ev.kind == "ai_message":
            d = ev.data["decision"]
            decisions.append({**d, "evaluations": ev.data["evaluations"]})
        elif ev.kind == "escalated":
            t = ev.data["trigger"]
            decisions.append(
                {
                    "action": "escalate",
                    "trigger": t["kind"],
                    "detail": t["detail"],
                    "evaluations": t["evaluations"],
                }
            )
    return decisions


def _triage(data_dir: Path, text: str, history: list[str]) -> dict[str, Any]:
    args = ["triage", "--json", "--data-dir", str(data_dir), text]
    for h in history:
        args += ["--history", h]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.stdout + result.stderr
    out = json.loads(result.stdout)
    return {
        "action": out["action"],
        "trigger": out["trigger"],
        "detail": out["detail"],
        "evaluations": out["evaluations"],
    }


async def test_triage_and_the_server_decide_identically(server_factory, tmp_path):
    data = tmp_path / "data"
    # The server's engine is built into the data dir's index cache, where triage loads it
    # from: one trained model, so even the last digit of a confidence must agree.
    engine = await asyncio.to_thread(make_answerer, load_kb(None), "default", data / "cache")
    server = await server_factory(answerer=engine, data_dir=data)
    seen = set()
    for messages in CONVERSATIONS:
        from_server = await _server_decisions(server, messages)
        seen |= {(d["action"], d["trigger"]) for d in from_server}
        assert len(from_server) == len(messages), (messages, from_server)
        for i, text in enumerate(messages):
            # Triage reads the policy the server stored (v1) from the same data dir; it
            # runs in a thread because it starts its own event loop.
            from_triage = await asyncio.to_thread(_triage, data, text, messages[:i])
            assert from_triage == from_server[i], (text, messages[:i])
    # The turns went every way: answered, and handed off by each kind of trigger.
    assert seen == {
        ("continue", None),
        ("offer_handoff", None),
        ("escalate", "human_request"),
        ("escalate", "kb_entry"),
        ("escalate", "keyword"),
        ("escalate", "low_confidence"),
        ("escalate", "sentiment"),
        ("escalate", "unresolved_exchanges"),
    }


def test_both_call_evaluate_turn_and_neither_decides_alone():
    assert ai_turns.evaluate_turn is turn.evaluate_turn
    for module in (triage_command, ai_turns):
        tree = ast.parse(inspect.getsource(module))
        # triage imports it inside the command (the CLI starts without the server's AI).
        imported = {
            alias.name
            for node in ast.walk(tree)
            if isinstance(node, ast.ImportFrom) and node.module == turn.__name__
            for alias in node.names
        }
        assert "evaluate_turn" in imported, module.__name__
        called = {
            node.func.id if isinstance(node.func, ast.Name) else getattr(node.func, "attr", "")
            for node in ast.walk(tree)
            if isinstance(node, ast.Call)
        }
        assert "evaluate_turn" in called
        assert not called & {"decide", "courtesy_answer", "answer"}, module.__name__
    # The service hands every AI turn to ai_turns and decides none itself.
    tree = ast.parse(inspect.getsource(service))
    names = {
        getattr(n.func, "attr", getattr(n.func, "id", ""))
        for n in ast.walk(tree)
        if isinstance(n, ast.Call)
    }
    assert not names & {"evaluate_turn", "decide", "courtesy_answer", "answer"}
