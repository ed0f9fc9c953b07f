"""The CLI prints text from visitors, agents and the command line as text: never as
markup (no crash, no lost brackets), never as a terminal control sequence; and a
visitor sees only the sentences written for them, never the agent-side analysis.

Each test runs `handoff` as a separate process against a real server.
"""

from __future__ import annotations

import asyncio
import json

from handoff_server.ai import Answer
from handoff_server.errors import AnswererError
from handoff_server.protocol import AClaim, AReply, AResolve, ASubscribeQueue, SQueueItem
from tests.conftest import create_token
from tests.helpers import agent, run_handoff, say, start_visitor, wait_ack

NGINX = "my error log says [/var/log/nginx] is full"
BOLD = "[bold]hi[/bold] I want to talk to a person"
ESCAPES = "screen \x1b[2J\x1b]0;pwned\x07 cleared \x9b31m and \r overwritten"
ESCAPES_SHOWN = "screen \\x1b[2J\\x1b]0;pwned\\x07 cleared \\x9b31m and \\r overwritten"


def _no_controls(text: str) -> bool:
    return not any(ord(c) < 32 and c not in "\n\t" or 0x7F <= ord(c) <= 0x9F for c in text)


async def test_a_message_with_a_closing_tag_is_sent_and_shown(server):
    done = await run_handoff("visit", "--server", server.url, "-m", NGINX)
    assert done.returncode == 0, done.stderr
    assert f"you: {NGINX}" in done.stdout
    token = await create_token(server)
    rows = json.loads(
        (await run_handoff("queue", "--json", "--server", server.url, "--token", token)).stdout
    )
    assert [r["first_question"] for r in rows] == [NGINX]  # it reached the server


async def test_markup_in_stored_text_is_shown_verbatim_by_queue_and_transcript(server):
    for args in (["-m", NGINX], ["--name", "[/bold]", "-m", BOLD]):
        done = await run_handoff("visit", "--server", server.url, *args)
        assert done.returncode == 0, done.stderr
        assert "you: " + args[-1] in done.stdout  # brackets kept, nothing styled away
    token = await create_token(server)
    queue = await run_handoff("queue", "--server", server.url, "--token", token)
    assert queue.returncode == 0, queue.stderr
    assert NGINX in queue.stdout and BOLD in queue.stdout and " [/bold] " in queue.stdout
    rows = json.loads(
        (await run_handoff("queue", "--json", "--server", server.url, "--token", token)).stdout
    )
    for row in rows:
        shown = await run_handoff(
            "transcript", row["conversation_id"], "--server", server.url, "--token", token
        )
        assert shown.returncode == 0, shown.stderr
        assert f"visitor: {row['first_question']}" in shown.stdout
        if row["first_question"] == BOLD:
            assert "visitor: [/bold] <->" in shown.stdout


async def test_escape_sequences_from_visitors_and_agents_never_reach_the_terminal(server):
    token = await create_token(server, name="Sam \x1b[31mRed")
    conn, welcome = await start_visitor(
        server.url, name="Eve\x1b[2J", page_url="https://x.example/\x1b]8;;evil\x07"
    )
    await say(conn, "I want to talk to a person " + ESCAPES)
    sam = await agent(server.url, token)
    await sam.send(
        AClaim(type="claim", conversation_id=welcome.conversation_id, client_msg_id="c1")
    )
    await wait_ack(sam, "c1")
    await sam.send(
        AReply(
            type="reply",
            conversation_id=welcome.conversation_id,
            client_msg_id="r1",
            text="ok \x1b[5m",
        )
    )
    await wait_ack(sam, "r1")
    await sam.close()
    await conn.close()

    shown = await run_handoff(
        "transcript", welcome.conversation_id, "--server", server.url, "--token", token
    )
    assert shown.returncode == 0, shown.stderr
    assert _no_controls(shown.stdout), shown.stdout
    assert ESCAPES_SHOWN in shown.stdout
    assert "visitor: Eve\\x1b[2J <->" in shown.stdout
    assert "https://x.example/\\x1b]8;;evil\\x07" in shown.stdout
    assert "Sam \\x1b[31mRed: ok \\x1b[5m" in shown.stdout
    queue = await run_handoff("queue", "--server", server.url, "--token", token)
    assert _no_controls(queue.stdout) and "Eve\\x1b[2J" in queue.stdout


async def test_a_visitor_field_with_a_newline_cannot_forge_a_queue_row(server):
    forged = "Mallory\nconv_fake  queued   p9  Boss"
    done = await run_handoff(
        "visit", "--server", server.url, "--name", forged, "-m", "I want to talk to a person"
    )
    assert done.returncode == 0, done.stderr
    token = await create_token(server)
    queue = await run_handoff("queue", "--server", server.url, "--token", token)
    assert len(queue.stdout.splitlines()) == 1
    assert "Mallory\\nconv_fake" in queue.stdout


async def test_errors_quoting_the_command_line_show_control_characters_as_escapes(server):
    unknown = await run_handoff("\x1b]0;pwned\x07")
    assert unknown.returncode == 2 and "No such command" in unknown.stderr
    assert _no_controls(unknown.stderr) and "\\x1b]0;pwned\\x07" in unknown.stderr
    bad_id = await run_handoff("transcript", "\x1b[2J", "--server", server.url, "--token", "t")
    assert bad_id.returncode != 0 and "error[invalid_option]" in bad_id.stderr
    assert _no_controls(bad_id.stderr)


class BrokenBackend:
    """An AI backend that answers HTTP 500."""

    def answer(self, question: str) -> Answer:
        raise AnswererError("HTTP 500 from AI backend")


INTERNALS = ("answerer failed", "AnswererError", "HTTP 500", "ai_error", "keyword", "matched",
             "confidence", "threshold", "low_confidence", "rule")  # fmt: skip


async def test_the_visitor_sees_no_internals_of_an_ai_error(server_factory):
    srv = await server_factory(answerer=BrokenBackend())
    done = await run_handoff("visit", "--server", srv.url, "-m", "how do I reset my password")
    assert done.returncode == 0, done.stderr
    assert "I'm handing this conversation to a person." in done.stdout
    assert not [word for word in INTERNALS if word in done.stdout], done.stdout


async def test_the_visitor_sees_no_internals_of_a_keyword_escalation(server):
    done = await run_handoff("visit", "--server", server.url, "-m", "please cancel account now")
    assert done.returncode == 0, done.stderr
    assert "I'm handing this conversation to a person." in done.stdout
    assert not [word for word in INTERNALS if word in done.stdout], done.stdout
    raw = await run_handoff(
        "visit", "--json", "--server", server.url, "-m", "please cancel account now"
    )
    frames = [json.loads(line) for line in raw.stdout.splitlines()]
    assert [f["kind"] for f in frames if f["type"] == "event"][
        -1
    ] == "escalated"  # --json: as received


async def test_answers_to_the_visitor_carry_no_confidence(server):
    done = await run_handoff("visit", "--server", server.url, "-m", "How do I reset my password?")
    assert done.returncode == 0, done.stderr
    assert "\nAI: 1. Go to" in done.stdout
    assert "confidence" not in done.stdout


MARKDOWN_REPLY = "See **Domains → Nameservers** in [the docs](https://x.example)."


async def test_the_visitor_sees_an_agent_join_reply_and_resolve(server):
    token = await create_token(server, name="Sam")
    sam = await agent(server.url, token)
    await sam.send(ASubscribeQueue(type="subscribe_queue"))
    visit = asyncio.create_task(
        run_handoff(
            "visit", "--server", server.url, "--linger", "3", "-m", "I want to talk to a person"
        )
    )
    frames = await sam.recv_until(
        lambda f: isinstance(f, SQueueItem) and f.item.status == "queued", 30
    )
    cid = frames[-1].item.conversation_id
    for frame in (
        AClaim(type="claim", conversation_id=cid, client_msg_id="c1"),
        AReply(type="reply", conversation_id=cid, client_msg_id="r1", text="Hello, I can help."),
        AReply(type="reply", conversation_id=cid, client_msg_id="r2", text=MARKDOWN_REPLY),
        AResolve(type="resolve", conversation_id=cid, client_msg_id="d1"),
    ):
        await sam.send(frame)
        await wait_ack(sam, frame.client_msg_id)
    await sam.close()
    done = await visit
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert "→ Sam joined the conversation." in lines
    assert "Sam: Hello, I can help." in lines
    # What an agent writes is shown as written (KB answers are the AI's Markdown).
    assert f"Sam: {MARKDOWN_REPLY}" in lines
    assert "→ Sam marked this conversation resolved." in lines
    assert not [word for word in INTERNALS if word in done.stdout], done.stdout


async def test_a_visitor_reads_kb_answers_as_text_not_markdown(server):
    """The demo KB's answers are Markdown; ``handoff visit`` shows them as text (the
    newcomer saw ``**Forgot password?**`` and code fences), and ``--json`` keeps the frame
    as sent."""
    done = await run_handoff(
        "visit", "--server", server.url, "-m", "how do I reset my login password"
    )
    assert done.returncode == 0, done.stderr
    assert "Forgot password?" in done.stdout and "**" not in done.stdout, done.stdout
    raw = await run_handoff(
        "visit", "--json", "--server", server.url, "-m", "how do I reset my login password"
    )
    assert "**Forgot password?**" in raw.stdout
