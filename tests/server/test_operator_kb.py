"""Knowledge gaps and new KB entries on a real server: failed questions grouped by topic,
and an entry written from a group makes the AI answer those questions (real visitors, a
real operator, a real reindex)."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from handoff_server.client import new_client_msg_id
from handoff_server.kb import demo_kb_path, load_kb
from handoff_server.kb.served import ADDITIONS, load_served_kb
from handoff_server.protocol import SError
from handoff_server.protocol_operator import SKbEntryCreated, SKnowledgeGaps
from tests.conftest import create_token
from tests.helpers import agent, events, say, start_visitor
from tests.server.test_operator_policy import ask

RAILS = [
    "do you support ruby on rails hosting",
    "can I run a rails app on your servers",
    "how do I deploy my rails application",
    "rails hosting",
]
STUDENTS = [
    "do you have a discount for students",
    "student discount",
    "is there an education discount for students",
]
ANSWER = "Yes: every plan runs Ruby on Rails 7 with Puma; deploy with git push."


async def ask_ai(url: str, text: str) -> Any:
    """A new conversation's first turn: the AI's answer or the handoff."""
    conn, _ = await start_visitor(url)
    try:
        frames = await say(conn, text)
        (outcome,) = [e for e in events(frames) if e.kind in ("ai_message", "escalated")]
        return outcome
    finally:
        await conn.close()


def entry_frame(questions: list[str], entry_id: str = "rails-hosting") -> dict[str, object]:
    return {
        "type": "kb_entry_create",
        "client_msg_id": new_client_msg_id(),
        "entry": {
            "id": entry_id,
            "title": "Ruby on Rails hosting",
            "questions": questions,
            "answer": ANSWER,
            "team": "support",
        },
    }


async def test_a_kb_entry_made_from_a_gap_lets_the_ai_answer_those_questions(
    server_factory, tmp_path: Path
) -> None:
    data = tmp_path / "data"
    srv = await server_factory(data_dir=data)
    for text in [*RAILS, *STUDENTS]:
        assert (await ask_ai(srv.url, text)).kind == "escalated", text
    assert (await ask_ai(srv.url, "how do I point my domain to your nameservers")).kind == (
        "ai_message"
    )
    op = await agent(srv.url, await create_token(srv, "Olga", "operator"))

    gaps = await ask(op, {"type": "knowledge_gaps"})
    assert isinstance(gaps, SKnowledgeGaps), gaps
    largest, second = gaps.groups[:2]
    assert sorted(largest.examples) == sorted(RAILS) and largest.size == 4
    assert sorted(second.examples) == sorted(STUDENTS)
    assert len(largest.conversation_ids) == 4
    titles = {e.id: e.title for e in load_kb(None).entries}
    assert largest.wrong_entry_id in titles
    assert largest.wrong_entry_title == titles[largest.wrong_entry_id]
    assert all("nameservers" not in q for g in gaps.groups for q in g.examples)

    frame = entry_frame(largest.examples)
    created = await ask(op, frame)
    assert isinstance(created, SKbEntryCreated), created
    assert created.entry_id == "rails-hosting" and created.path == "rails-hosting.md"
    assert created.entries == len(titles) + 1
    for text in RAILS:
        answer = await ask_ai(srv.url, text)
        assert answer.kind == "ai_message" and answer.data.confidence >= 0.70, (text, answer)
        assert ANSWER in answer.data.text
    # The entry is on disk beside the demo KB, and a restarted server answers from it.
    assert (data / ADDITIONS / "rails-hosting.md").is_file()
    assert "rails-hosting" in load_served_kb(None, data).by_id()

    again = await ask(op, frame)  # a retried frame: the same entry, nothing new
    assert isinstance(again, SKbEntryCreated) and again.entries == created.entries
    other = await ask(op, entry_frame(["something else entirely"]))
    assert isinstance(other, SError) and other.code == "conflict"
    await op.close()


async def test_entries_go_into_a_kb_folder_and_clashes_write_nothing(
    server_factory, tmp_path: Path
) -> None:
    folder = tmp_path / "kb"
    shutil.copytree(demo_kb_path(), folder)
    srv = await server_factory(data_dir=tmp_path / "data", ai={"kb": str(folder)})
    op = await agent(srv.url, await create_token(srv, "Olga", "operator"))
    clash = await ask(op, entry_frame(["can I get a refund"], "refunds-again"))
    assert isinstance(clash, SError) and clash.code == "invalid_frame"
    assert "billing-refunds" in clash.detail
    assert not (folder / "refunds-again.md").exists()

    created = await ask(op, entry_frame(RAILS))
    assert isinstance(created, SKbEntryCreated), created
    written = load_kb(folder).by_id()["rails-hosting"]
    assert written.questions == RAILS and written.answer == ANSWER and written.team == "support"
    assert not (tmp_path / "data" / ADDITIONS).exists()
    agent_conn = await agent(srv.url, await create_token(srv, "Sam", "agent"))
    refused = await ask(agent_conn, entry_frame(STUDENTS, "students"))
    assert isinstance(refused, SError) and refused.code == "forbidden"
    assert not (folder / "students.md").exists()
