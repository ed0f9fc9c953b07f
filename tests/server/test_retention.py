"""Retention (``[store] retain_days``) and erasure (``handoff erase --email``) of
visitor data (issue 14)."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta
from pathlib import Path
from typing import Any

from websockets.exceptions import ConnectionClosed

from handoff_server.client import connect_visitor
from handoff_server.protocol import SError, SWelcome, VResume
from handoff_server.store import ConversationRecord, NewEvent, SQLiteStore, hash_token, utcnow
from tests.helpers import run_handoff, say, start_visitor

ADA = "ada.lovelace@example.org"


async def _rows(srv: Any, sql: str, *params: Any) -> list[Any]:
    def run() -> list[Any]:
        return srv.store.store._db.execute(sql, params).fetchall()

    return await srv.store.call(run)


async def test_erase_by_email_deletes_everything_of_the_visitor(
    server_factory: Any, tmp_path: Path
) -> None:
    """Nothing could remove a visitor's data. ``handoff erase --email`` (another process,
    server running) deletes every conversation holding the address, any case, with its
    events, AI turns and webhook deliveries; ``--dry-run`` only lists; other visitors'
    conversations stay; afterwards the address is nowhere in the database files."""
    data = tmp_path / "data"
    hook = {"url": "http://127.0.0.1:9/hook", "secret": "whsec_" + "A" * 24, "allow_private": True}
    srv = await server_factory(data_dir=data, webhooks={"endpoints": [hook]})
    ada, ada_welcome = await start_visitor(srv.url, name="Ada", email=ADA)
    await say(ada, "how do I reset my password")
    await say(ada, f"I want to talk to a person, write to {ADA}")  # a webhook delivery
    bob, bob_welcome = await start_visitor(srv.url, name="Bob", email="bob@example.org")
    await say(bob, "how do I reset my password")
    await ada.close()
    await bob.close()
    ada_id, bob_id = ada_welcome.conversation_id, bob_welcome.conversation_id
    assert await _rows(srv, "SELECT 1 FROM webhook_outbox")
    dry = await run_handoff(
        "erase", "--email", ADA.upper(), "--dry-run", "--json", "--data-dir", str(data)
    )
    assert dry.returncode == 0, dry.stderr
    assert json.loads(dry.stdout)["conversations"] == [ada_id]
    assert await _rows(srv, "SELECT 1 FROM conversations WHERE id = ?", ada_id)

    done = await run_handoff("erase", "--email", ADA, "--json", "--data-dir", str(data))
    assert done.returncode == 0, done.stderr
    deleted = json.loads(done.stdout)["deleted"]
    assert deleted["conversations"] == 1 and deleted["events"] >= 4
    assert deleted["ai_turns"] >= 1 and deleted["webhook_outbox"] >= 1
    for table, column in [
        ("conversations", "id"),
        ("events", "conversation_id"),
        ("ai_turns", "conversation_id"),
    ]:
        assert not await _rows(srv, f"SELECT 1 FROM {table} WHERE {column} = ?", ada_id)
    assert not await _rows(srv, "SELECT 1 FROM webhook_outbox WHERE payload LIKE ?", f"%{ada_id}%")
    assert await _rows(srv, "SELECT 1 FROM conversations WHERE id = ?", bob_id)
    await srv.close()
    raw = b"".join(p.read_bytes() for p in data.glob("handoff.sqlite3*"))
    assert ADA.encode() not in raw
    assert b"bob@example.org" in raw


_TABLES = ("conversations", "events", "ai_turns", "webhook_outbox")


async def _table_counts(srv: Any) -> dict[str, int]:
    return {t: (await _rows(srv, f"SELECT COUNT(*) FROM {t}"))[0][0] for t in _TABLES}


async def test_a_dry_run_counts_what_the_erasure_deletes(
    server_factory: Any, tmp_path: Path
) -> None:
    """``handoff erase --dry-run --json`` listed the conversations but said ``deleted:
    {}``: nobody could see what a real run would delete. Now it has the real run's shape
    and counts, marked ``dry_run``, and changes nothing; the real run then deletes
    exactly those rows."""
    data = tmp_path / "data"
    hook = {"url": "http://127.0.0.1:9/hook", "secret": "whsec_" + "A" * 24, "allow_private": True}
    srv = await server_factory(data_dir=data, webhooks={"endpoints": [hook]})
    ada, _ = await start_visitor(srv.url, name="Ada", email=ADA)
    await say(ada, "how do I reset my password")
    await say(ada, "I want to talk to a person")  # escalated: a webhook delivery
    bob, _ = await start_visitor(srv.url, name="Bob", email="bob@example.org")
    await say(bob, "how do I reset my password")
    await ada.close()
    await bob.close()
    before = await _table_counts(srv)
    args = ("erase", "--email", ADA, "--json", "--data-dir", str(data))

    dry = await run_handoff(*args, "--dry-run")
    assert dry.returncode == 0, dry.stderr
    would = json.loads(dry.stdout)
    assert would["dry_run"] is True and len(would["conversations"]) == 1
    assert set(would["deleted"]) == set(_TABLES)
    assert would["deleted"]["conversations"] == 1 and would["deleted"]["events"] >= 4
    assert would["deleted"]["ai_turns"] >= 1 and would["deleted"]["webhook_outbox"] >= 1
    assert await _table_counts(srv) == before

    done = await run_handoff(*args)
    assert done.returncode == 0, done.stderr
    real = json.loads(done.stdout)
    assert real["dry_run"] is False
    assert (real["conversations"], real["deleted"]) == (would["conversations"], would["deleted"])
    after = await _table_counts(srv)
    assert {t: before[t] - after[t] for t in _TABLES} == would["deleted"]


def _conversation(store: SQLiteStore, cid: str, status: str, age: timedelta) -> None:
    at = utcnow() - age
    store.create_conversation(
        ConversationRecord(
            id=cid,
            status=status,  # type: ignore[arg-type]
            resume_token_hash=hash_token(cid),
            created_at=at,
            updated_at=at,
            visitor={"email": f"{cid}@example.org"},
        ),
        [NewEvent(kind="conversation_started", data={"visitor": {}}, at=at)],
    )
    store.append_events(cid, [], {"updated_at": at})


async def test_retention_deletes_resolved_conversations_past_retain_days(
    server_factory: Any, tmp_path: Path
) -> None:
    """Visitor data was kept forever. With ``[store] retain_days``, the server's sweep
    (at start, then every ``retention_sweep_seconds``) deletes resolved conversations
    whose last change is older than that; newer ones, and open ones of any age, stay."""
    data = tmp_path / "data"
    store = SQLiteStore(data)
    _conversation(store, "old-resolved", "resolved", timedelta(days=3))
    _conversation(store, "new-resolved", "resolved", timedelta(hours=1))
    _conversation(store, "old-queued", "queued", timedelta(days=10))
    store.close()
    srv = await server_factory(data_dir=data, store={"retain_days": 1})
    for _ in range(50):
        ids = {r[0] for r in await _rows(srv, "SELECT id FROM conversations")}
        if "old-resolved" not in ids:
            break
        await asyncio.sleep(0.1)
    assert ids == {"new-resolved", "old-queued"}
    assert not await _rows(srv, "SELECT 1 FROM events WHERE conversation_id = 'old-resolved'")


async def test_a_swept_conversation_is_gone_from_the_servers_memory_too(
    server_factory: Any, tmp_path: Path
) -> None:
    """The server keeps recent conversations in memory (a turn reads nothing back): a
    conversation the sweep deletes must not live on there, resumable by its visitor."""
    srv = await server_factory(data_dir=tmp_path / "data", store={"retain_days": 1})
    conn, welcome = await start_visitor(srv.url)
    await say(conn, "how do I reset my password")
    await conn.close()
    cid = welcome.conversation_id
    old = (utcnow() - timedelta(days=3)).isoformat()

    def age() -> None:
        db = srv.store.store._db
        db.execute(
            "UPDATE conversations SET status = 'resolved', updated_at = ? WHERE id = ?", (old, cid)
        )
        db.commit()

    await srv.store.call(age)
    assert await srv.retention.sweep() == 1
    again = await connect_visitor(srv.url)
    await again.send(VResume(type="resume", conversation_id=cid, resume_token=welcome.resume_token))
    (frame,) = await again.recv_until(lambda f: isinstance(f, SError | SWelcome), 10)
    assert isinstance(frame, SError) and frame.code == "bad_resume_token"
    await again.close()


async def _start_raw(url: str, email: str) -> str:
    """A visitor's ``start`` frame as raw JSON (as the widget sends its ``data-email``),
    so no client-side model touches the email; returns the conversation id."""
    conn = await connect_visitor(url)
    await conn.ws.send(json.dumps({"type": "start", "visitor": {"name": "V", "email": email}}))
    welcome = await conn.recv(timeout=10)
    assert isinstance(welcome, SWelcome), welcome
    await conn.close()
    return welcome.conversation_id


async def test_whatever_email_a_visitor_gave_can_be_erased(
    server_factory: Any, tmp_path: Path
) -> None:
    """``handoff visit --email notanemail`` was stored but ``handoff erase --email
    notanemail`` refused it, so that visitor's data could not be erased. The hello keeps
    any text (trimmed; an address normalized) and erase matches what was stored, any
    case, warning when it is no address; ``handoff visit`` itself now refuses a
    non-address as ``--email``."""
    data = tmp_path / "data"
    srv = await server_factory(data_dir=data)
    odd = await _start_raw(srv.url, "  NotAnEmail  ")
    ada = await _start_raw(srv.url, "Ada@EXAMPLE.org")
    stored = await _rows(srv, "SELECT id, json_extract(visitor, '$.email') FROM conversations")
    assert dict((r[0], r[1]) for r in stored) == {odd: "NotAnEmail", ada: "Ada@example.org"}

    done = await run_handoff("erase", "--email", "notanemail", "--json", "--data-dir", str(data))
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["conversations"] == [odd]
    assert "warning: --email 'notanemail': not an email address" in done.stderr
    assert not await _rows(srv, "SELECT 1 FROM conversations WHERE id = ?", odd)
    quiet = await run_handoff("erase", "--email", "ada@example.org", "--data-dir", str(data))
    assert quiet.returncode == 0 and "warning" not in quiet.stderr
    assert "deleted 1 conversation(s)" in quiet.stdout
    empty = await run_handoff("erase", "--email", " ", "--data-dir", str(data))
    assert empty.returncode == 2 and "error[invalid_option]: --email is empty" in empty.stderr

    refused = await run_handoff("visit", "--server", srv.url, "--email", "notanemail", "-m", "hi")
    assert refused.returncode == 2
    assert refused.stderr.startswith("error[invalid_option]: --email 'notanemail': not an email")
    assert not await _rows(srv, "SELECT 1 FROM conversations")  # nothing was started


async def test_erase_finds_an_email_in_any_unicode_case(
    server_factory: Any, tmp_path: Path
) -> None:
    """Erasure compared emails with SQLite's ``lower()``, which folds ASCII only: a
    visitor who gave ``Ödön.Ü@Example.com`` was not found by ``handoff erase --email
    ödön.ü@example.com`` (nor the other way round) and their data stayed. Both sides are
    now case-folded whole (``str.casefold``, NFC) before they are compared."""
    data = tmp_path / "data"
    srv = await server_factory(data_dir=data)
    upper = await _start_raw(srv.url, "Ödön.Ü@Example.com")
    lower = await _start_raw(srv.url, "éva.ß@example.com")
    other = await _start_raw(srv.url, "odon.u@example.com")
    done = await run_handoff(
        "erase", "--email", "ödön.ü@example.com", "--json", "--data-dir", str(data)
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["conversations"] == [upper]
    again = await run_handoff(
        "erase", "--email", "ÉVA.SS@EXAMPLE.COM", "--json", "--data-dir", str(data)
    )
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["conversations"] == [lower]
    left = await _rows(srv, "SELECT id FROM conversations")
    assert [r[0] for r in left] == [other]
    await srv.close()
    raw = b"".join(p.read_bytes() for p in data.glob("handoff.sqlite3*"))
    assert "Ödön".encode() not in raw and "éva".encode() not in raw


async def test_an_erasure_beside_the_running_server_reaches_its_memory(
    server_factory: Any, tmp_path: Path
) -> None:
    """``handoff erase`` works on the store directly. A running single-node server kept
    the erased conversations in memory: it still served them (a resume replayed the
    name and email) and a visitor's next message failed with a traceback in the log and
    ``internal``. Now a message gets ``not_found`` (the store's "no such conversation"
    is that error) before the server noticed the erasure, and the visitor is
    disconnected ("conversation erased") once it did, and within
    the erasure watch's interval (2 s) a conversation nobody wrote to since can no
    longer be resumed."""
    data = tmp_path / "data"
    srv = await server_factory(data_dir=data)
    talking, _ = await start_visitor(srv.url, name="Ada", email=ADA)
    await say(talking, "how do I reset my password")
    idle, welcome = await start_visitor(srv.url, name="Ada", email=ADA)
    await say(idle, "how do I reset my password")
    await idle.close()
    done = await run_handoff("erase", "--email", ADA, "--json", "--data-dir", str(data))
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["deleted"]["conversations"] == 2

    try:
        frames = await say(talking, "and how do I change my email")
    except (ConnectionClosed, EOFError):
        # The watch noticed first and closed the erased conversation's visitor.
        assert (talking.ws.close_code, talking.ws.close_reason) == (1000, "conversation erased")
    else:
        assert [f.code for f in frames if isinstance(f, SError)] == ["not_found"]
    await talking.close()

    cid = welcome.conversation_id
    refused: SError | None = None
    for _ in range(25):  # the watch checks every 2 s
        again = await connect_visitor(srv.url)
        await again.send(
            VResume(type="resume", conversation_id=cid, resume_token=welcome.resume_token)
        )
        (frame,) = await again.recv_until(lambda f: isinstance(f, SError | SWelcome), 10)
        await again.close()
        if isinstance(frame, SError):
            refused = frame
            break
        await asyncio.sleep(0.2)
    assert refused is not None and refused.code == "bad_resume_token"
