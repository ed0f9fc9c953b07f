"""An operator's new KB entry is written only as a file the server reads back as sent:
otherwise a whitespace-only answer (say) was written, every later ``kb_entry_create``
was refused (``invalid_state``) and ``handoff serve`` would no longer start on its data
dir (``bad_kb``). Real server, real operator client, the loader the server starts with."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from handoff_server.client import new_client_msg_id
from handoff_server.kb.served import ADDITIONS, load_served_kb
from handoff_server.protocol import SError
from handoff_server.protocol_operator import SKbEntryCreated
from tests.conftest import create_token
from tests.helpers import agent
from tests.server.test_operator_policy import ask

RAILS = ["do you support ruby on rails hosting", "can I run a rails app on your servers"]


def draft(entry_id: str, **fields: Any) -> dict[str, Any]:
    """A ``kb_entry_create`` frame: a sound entry with ``fields`` replaced."""
    entry = {
        "id": entry_id,
        "title": "Ruby on Rails hosting",
        "questions": RAILS,
        "answer": "Every plan runs Rails 7.",
        **fields,
    }
    return {"type": "kb_entry_create", "client_msg_id": new_client_msg_id(), "entry": entry}


# What the loader cannot read (an empty answer, an empty example question), in every
# kind of whitespace str.strip removes, and what it would read back changed.
REFUSED = [
    ({"answer": "  \n "}, "entry.answer", "whitespace"),
    ({"answer": "\u00a0"}, "entry.answer", "whitespace"),
    ({"answer": "\u3000 \u2003\t"}, "entry.answer", "whitespace"),
    ({"title": " \u00a0 "}, "entry.title", "whitespace"),
    ({"questions": ["\t"]}, "entry.questions.0", "whitespace"),
    ({"questions": [RAILS[0], "\u00a0\u2009"]}, "entry.questions.1", "whitespace"),
    ({"answer": "Line one\u2028line two"}, "entry.answer", "U+2028"),
    ({"answer": "Page one\x0cpage two"}, "entry.answer", "U+000C"),
    (
        {"questions": [RAILS[0], "Do you support Ruby on Rails hosting?"]},
        "entry.questions",
        "repeated",
    ),
]


async def test_entries_the_loader_would_not_read_back_are_refused_and_never_written(
    server_factory, tmp_path: Path
) -> None:
    data = tmp_path / "data"
    srv = await server_factory(data_dir=data)
    op = await agent(srv.url, await create_token(srv, "Olga", "operator"))
    for i, (fields, field, says) in enumerate(REFUSED):
        refused = await ask(op, draft(f"bad-{i}", **fields))
        assert isinstance(refused, SError), (fields, refused)
        assert refused.code == "invalid_frame", (fields, refused)
        assert refused.detail.startswith(f"{field}:") or f" {field}:" in refused.detail, (
            fields,
            refused.detail,
        )
        assert says in refused.detail, (fields, refused.detail)
        assert not (data / ADDITIONS).exists() or not list((data / ADDITIONS).iterdir())
    created = await ask(op, draft("rails-hosting"))  # the KB on disk still loads
    assert isinstance(created, SKbEntryCreated), created
    await op.close()


async def test_entries_are_written_as_the_loader_reads_them_back(
    server_factory, tmp_path: Path
) -> None:
    data = tmp_path / "data"
    srv = await server_factory(data_dir=data)
    op = await agent(srv.url, await create_token(srv, "Olga", "operator"))
    # Sent as it will be read back: line breaks inside a question or the title (a
    # visitor's multi-line question from a knowledge gap), a line of "---" among them;
    # the answer's CRLF read as newlines and surrounding whitespace stripped.
    questions = [*RAILS, "hi\n---\nhow do I deploy my rails application", "rails\u2029hosting"]
    title = "Rails\n---\nhosting\u0085plans"
    created = await ask(
        op, draft("rails-hosting", title=title, questions=questions, answer=" A\r\nB\r\n ")
    )
    assert isinstance(created, SKbEntryCreated), created
    written = load_served_kb(None, data).by_id()["rails-hosting"]  # as on the next start
    assert (written.title, written.questions, written.answer) == (title, questions, "A\nB")
    # The KB on disk still loads: the next entry is taken (main: invalid_state).
    more = await ask(op, draft("student-discount", questions=["is there a student discount"]))
    assert isinstance(more, SKbEntryCreated), more
    assert {"rails-hosting", "student-discount"} <= set(load_served_kb(None, data).by_id())
    assert sorted(p.name for p in (data / ADDITIONS).iterdir()) == [
        "rails-hosting.md",
        "student-discount.md",
    ]
    await op.close()
