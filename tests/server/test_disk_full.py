"""A store that cannot write (issue 14): a full disk or a read-only data dir. An ack
means stored, an error after an ack never says "nothing was stored", readiness follows
the store, and start-up errors name the real cause.

The disk fills for real: SQLite's ``PRAGMA max_page_count`` on the server's own store
connection caps the database at its current size, so the next write that needs a page
gets ``SQLITE_FULL`` ("database or disk is full") from SQLite itself. Start-up is tried
on a small tmpfs (and a read-only bind mount) when this machine lets the tests mount one.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
import subprocess
import sys
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from handoff_server.protocol import SAck, SError, SEvent, VMessage
from tests.helpers import start_visitor


def _fill(srv: Any, extra_pages: int = 0) -> None:
    """Fill the server's disk: cap the database at its size (plus ``extra_pages``),
    then write 1 KB rows until SQLite says it is full (the free pages are used up)."""
    db = srv.store.store._db
    if not extra_pages:
        db.execute("CREATE TABLE IF NOT EXISTS test_filler (b BLOB)")
    pages = db.execute("PRAGMA page_count").fetchone()[0]
    db.execute(f"PRAGMA max_page_count = {pages + extra_pages}")
    if extra_pages:
        return
    with pytest.raises(sqlite3.OperationalError, match="full"):
        for _ in range(100_000):
            db.execute("INSERT INTO test_filler VALUES (zeroblob(1000))")


def _unfill(srv: Any) -> None:
    db = srv.store.store._db
    db.execute("PRAGMA max_page_count = 1073741823")
    db.execute("DROP TABLE IF EXISTS test_filler")


async def _get(srv: Any, path: str) -> tuple[int, str]:
    def fetch() -> tuple[int, str]:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{srv.port}{path}", timeout=5) as r:
                return r.status, r.read().decode()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode()

    return await asyncio.to_thread(fetch)


async def _outcome(conn: Any, cmid: str) -> list[Any]:
    """Frames until the message's error, or its ack and the AI's answer."""
    frames: list[Any] = []
    acked = False
    while True:
        frame = await conn.recv(timeout=15)
        frames.append(frame)
        if isinstance(frame, SError) and (frame.client_msg_id == cmid):
            return frames
        acked = acked or (isinstance(frame, SAck) and frame.client_msg_id == cmid)
        if acked and isinstance(frame, SEvent) and frame.event.kind in ("ai_message", "escalated"):
            return frames


async def test_a_message_the_full_disk_refuses_is_unavailable_and_not_stored(server: Any) -> None:
    """Disk full when the message itself is written (one needing new pages): the
    SQLITE_FULL raised at COMMIT was hidden by a second ``ROLLBACK`` failing ("cannot
    rollback - no transaction is active") and the visitor got ``internal``. Now:
    ``unavailable``, "nothing was stored", no ack, and indeed nothing stored."""
    conn, welcome = await start_visitor(server.url)
    await server.store.call(_fill, server)
    await conn.send(VMessage(type="message", client_msg_id="long", text="é " * 1999))
    frames = await _outcome(conn, "long")
    assert not [f for f in frames if isinstance(f, SAck)], frames
    assert frames[-1].code == "unavailable" and "nothing was stored" in frames[-1].detail
    stored = await server.store.call(server.store.store.events_after, welcome.conversation_id, 0)
    assert "long" not in [e.client_msg_id for e in stored]
    await conn.close()


def _fill_on_ai_write(srv: Any) -> None:
    """Leave room for a small write only, and make the AI's answer need more: a
    temporary trigger writes 100 KB with each AI event, which no longer fits."""
    _fill(srv, extra_pages=4)
    srv.store.store._db.execute(
        "CREATE TEMP TRIGGER fill_on_ai BEFORE INSERT ON main.events"
        " WHEN NEW.kind IN ('ai_message', 'escalated') BEGIN"
        " INSERT OR REPLACE INTO meta(key, value) VALUES ('filler', hex(zeroblob(50000)));"
        " END"
    )


async def test_an_error_after_the_ack_never_says_nothing_was_stored(server: Any) -> None:
    """The visitor's message is stored and acknowledged; then the AI's answer cannot be
    stored (disk full): the visitor was told "internal error; nothing was stored" about
    the message just acknowledged. An ack means stored, and the error says so."""
    conn, welcome = await start_visitor(server.url)
    await server.store.call(_fill_on_ai_write, server)
    await conn.send(
        VMessage(type="message", client_msg_id="short", text="how do I reset my password")
    )
    frames = await _outcome(conn, "short")
    assert any(isinstance(f, SAck) for f in frames), frames
    error = frames[-1]
    assert isinstance(error, SError) and error.code == "unavailable", frames
    assert "nothing was stored" not in error.detail and "was stored" in error.detail
    stored = await server.store.call(server.store.store.events_after, welcome.conversation_id, 0)
    assert "short" in [e.client_msg_id for e in stored]
    await conn.close()


async def test_readiness_follows_the_store(server: Any) -> None:
    """``/healthz`` and ``/readyz`` answered 200 while every write failed. Now
    ``/readyz`` probes the store (at most once a second) and answers 503 naming the
    cause; ``/healthz`` follows what the store last showed; both are 200 again once the
    store can write."""
    assert (await _get(server, "/readyz"))[0] == 200
    await server.store.call(_fill, server)
    await asyncio.sleep(1.1)  # past the last probe
    status, body = await _get(server, "/readyz")
    assert status == 503 and "full" in body, (status, body)
    status, body = await _get(server, "/healthz")
    assert status == 503 and "full" in body, (status, body)
    await server.store.call(_unfill, server)
    await asyncio.sleep(1.1)
    assert (await _get(server, "/readyz"))[0] == 200
    assert (await _get(server, "/healthz"))[0] == 200


def _mount(*args: str) -> bool:
    if sys.platform != "linux" or os.geteuid() != 0:
        return False
    return subprocess.run(["mount", *args], capture_output=True).returncode == 0


def _serve(data_dir: Path) -> tuple[bool, str]:
    """Run ``handoff serve`` on ``data_dir``: whether it started listening, and what it
    printed (stopped with SIGTERM once listening)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("HANDOFF_")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "handoff_cli", "serve", "--port", "0", "--data-dir", str(data_dir)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
    )  # fmt: skip
    assert proc.stdout is not None
    lines = []
    for line in proc.stdout:
        lines.append(line)
        if "listening on" in line:
            proc.terminate()
            proc.wait(30)
            return True, "".join(lines)
    proc.wait(30)
    return False, "".join(lines)


@pytest.fixture
def tmpfs(tmp_path: Path) -> Any:
    """A 1 MiB tmpfs (skips the test where mounting is not allowed)."""
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    if not _mount("-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mnt)):
        pytest.skip("cannot mount a tmpfs here (needs root on Linux)")
    yield mnt
    subprocess.run(["umount", "-l", str(mnt)], check=False)


def test_a_full_data_dir_at_start_is_not_a_listen_failure(tmpfs: Path) -> None:
    """On a disk too small for the index cache, ``handoff serve`` said "cannot listen on
    127.0.0.1:0: No space left on device" (every ``OSError`` was reported as the bind's)
    and did not start. The index cache only saves time: the server starts without it,
    saying why in the log."""
    started, output = _serve(tmpfs)
    assert "listen_failed" not in output, output
    assert started, output
    assert "cannot cache the index" in output, output


def test_a_read_only_data_dir_is_named(tmp_path: Path, tmpfs: Path) -> None:
    """A read-only data dir holding a store: "unable to open database file" said
    nothing of why; now the error names the read-only file system."""
    data = tmpfs / "data"
    env = {k: v for k, v in os.environ.items() if not k.startswith("HANDOFF_")}
    subprocess.run(
        [sys.executable, "-m", "handoff_cli", "token", "create", "--name", "A", "--data-dir", str(data)],
        check=True, capture_output=True, env=env,
    )  # fmt: skip
    ro = tmp_path / "ro"
    ro.mkdir()
    if not _mount("--bind", "-o", "ro", str(data), str(ro)):
        pytest.skip("cannot bind-mount read-only here")
    try:
        started, output = _serve(ro)
    finally:
        subprocess.run(["umount", "-l", str(ro)], check=False)
    assert not started
    assert "error[bad_data_dir]" in output and "read-only" in output, output
