"""``handoff visit`` and the ``llm`` engine's partial text: ``--json`` prints each
``ai_partial`` frame; the plain view draws it on a terminal status line and erases it,
so only the stored answer stays on screen."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator

import pytest

from handoff_cli.visit_partial import PartialLine
from handoff_server.ai.llm.answerer import LLMAnswerer
from handoff_server.ai.llm.settings import LLMSettings
from handoff_server.kb import load_kb
from handoff_server.protocol import SAiPartial
from tests.helpers import run_handoff
from tests.llm_fake import Prompt, Reply, ScriptedModelServer, scripted_answer

QUESTION = "I forgot my password, how do I reset it?"


@pytest.fixture
def model() -> Iterator[ScriptedModelServer]:
    def slow(prompt: Prompt) -> Reply:
        reply = scripted_answer(prompt)
        reply.token_delay = 0.03
        return reply

    with ScriptedModelServer(slow) as srv:
        yield srv


class Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_partial_line_is_drawn_in_place_and_erased():
    out = Tty()
    line = PartialLine(out)
    line.show(SAiPartial(conversation_id="c", turn_id="t", text="Go to the\x1b[31m login"))
    assert out.getvalue().startswith("\r\x1b[2KAI (writing…): Go to the\\x1b[31m login")
    line.show(SAiPartial(conversation_id="c", turn_id="t", done=True, outcome="withdrawn"))
    assert out.getvalue().endswith("\r\x1b[2K") and not line.shown


def test_partial_line_draws_nothing_off_a_terminal():
    out = io.StringIO()
    PartialLine(out).show(SAiPartial(conversation_id="c", turn_id="t", text="Go"))
    assert out.getvalue() == ""


async def test_visit_shows_the_streamed_answer(server_factory, demo_answerer, model):
    settings = LLMSettings(base_url=model.base_url, model="scripted")
    srv = await server_factory(answerer=LLMAnswerer(load_kb(None), demo_answerer, settings))
    proc = await run_handoff("visit", "--server", srv.url, "--json", "-m", QUESTION)
    assert proc.returncode == 0, proc.stderr
    frames = [json.loads(line) for line in proc.stdout.splitlines() if line.strip()]
    kinds = [f.get("kind") or f["type"] for f in frames]
    partials = [f for f in frames if f["type"] == "ai_partial"]
    assert len(partials) >= 2 and partials[-1]["done"] and partials[-1]["outcome"] == "answered"
    assert kinds.index("ai_partial") < kinds.index("ai_message")
    plain = await run_handoff("visit", "--server", srv.url, "-m", QUESTION)
    assert plain.returncode == 0, plain.stderr
    assert plain.stdout.count("AI: ") == 1 and "Forgot password" in plain.stdout
    assert "writing" not in plain.stdout + plain.stderr
