"""Crash and load: ``handoff serve`` is SIGKILLed at random moments under steady traffic,
again and again; after every kill the store must hold every acknowledged message, at
the acknowledged seq, once, in the order it was sent, with no gap in any conversation's
seqs, and pass ``PRAGMA integrity_check``.

Visitors send without waiting for each ack (a few messages in flight), so kills land
between a commit and its ack, inside a group commit, during an AI turn and during the
start-up's recovery of an interrupted turn. After each restart every visitor resumes
its conversation and first resends what was never acknowledged, with the same client
message id, as the product's clients do. The seed is printed; ``HANDOFF_CRASH_SEED``
replays a run, ``HANDOFF_CRASH_KILLS`` changes the number of kills.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import signal
import sqlite3
import time
from dataclasses import dataclass, field
from pathlib import Path

from handoff_server.client import Connection, connect_visitor, new_client_msg_id
from handoff_server.protocol import SAck, SError, SWelcome, VisitorInfo, VMessage, VResume, VStart
from tests.helpers import start_serve

KILLS = int(os.environ.get("HANDOFF_CRASH_KILLS", "20"))
VISITORS = 6
IN_FLIGHT = 3
"""Messages a visitor sends before it waits for the oldest one's ack."""


@dataclass
class Visitor:
    """One visitor's conversation as the client knows it."""

    n: int
    conversation_id: str = ""
    resume_token: str = ""
    sent: list[tuple[str, str]] = field(default_factory=list)
    """(client_msg_id, text) in sending order, resends not repeated."""
    acked: dict[str, int] = field(default_factory=dict)
    refused: list[SError] = field(default_factory=list)
    """Error frames: none is expected (a refused message would be resent after later
    ones, and the order check would blame the store)."""

    def new_message(self) -> tuple[str, str]:
        item = (
            new_client_msg_id(),
            f"question {len(self.sent)} from visitor {self.n}: how do I reset my password?",
        )
        self.sent.append(item)
        return item


async def _open(url: str, v: Visitor) -> Connection:
    conn = await connect_visitor(url)
    if not v.conversation_id:
        await conn.send(VStart(type="start", visitor=VisitorInfo(name=f"Visitor {v.n}")))
    else:
        await conn.send(
            VResume(
                type="resume",
                conversation_id=v.conversation_id,
                resume_token=v.resume_token,
                last_seq=0,
            )
        )
    while True:
        frame = await conn.recv(timeout=30)
        if isinstance(frame, SWelcome):
            v.conversation_id, v.resume_token = (
                frame.conversation_id,
                frame.resume_token or v.resume_token,
            )
            return conn


async def _talk(url: str, v: Visitor, stop: asyncio.Event) -> None:
    """Resend what was never acknowledged, then keep sending new messages, at most
    :data:`IN_FLIGHT` unacknowledged, until ``stop`` or the connection dies."""
    conn = await _open(url, v)
    waiting: set[str] = set()

    async def reader() -> None:
        while True:
            frame = await conn.recv()
            if isinstance(frame, SAck):
                v.acked[frame.client_msg_id] = frame.seq
                waiting.discard(frame.client_msg_id)
            elif isinstance(frame, SError):
                v.refused.append(frame)

    task = asyncio.create_task(reader())
    try:
        backlog = [item for item in v.sent if item[0] not in v.acked]
        while not stop.is_set() and not task.done():
            cmid, text = backlog.pop(0) if backlog else v.new_message()
            waiting.add(cmid)
            await conn.send(VMessage(type="message", client_msg_id=cmid, text=text))
            while len(waiting) >= IN_FLIGHT and not stop.is_set() and not task.done():
                await asyncio.sleep(0.005)
    finally:
        task.cancel()
        with contextlib.suppress(BaseException):
            await task
        with contextlib.suppress(BaseException):
            await conn.close()


def _check(db_path: Path, visitors: list[Visitor]) -> int:
    """Everything acknowledged is stored as acknowledged; returns the messages stored."""
    db = sqlite3.connect(db_path)
    try:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        stored = 0
        for v in visitors:
            if not v.conversation_id:
                continue
            seqs = [
                r[0]
                for r in db.execute(
                    "SELECT seq FROM events WHERE conversation_id = ? ORDER BY seq",
                    (v.conversation_id,),
                )
            ]
            assert seqs == list(range(1, len(seqs) + 1)), f"gap or repeat in {v.conversation_id}"
            rows = db.execute(
                "SELECT client_msg_id, seq FROM events WHERE conversation_id = ? AND sender = 'visitor'"
                " AND kind = 'visitor_message' ORDER BY seq",
                (v.conversation_id,),
            ).fetchall()
            at = dict(rows)
            assert len(at) == len(rows), "a client message id stored twice"
            for cmid, seq in v.acked.items():
                assert at.get(cmid) == seq, f"acknowledged message {cmid} (seq {seq}) lost or moved"
            order = {cmid: i for i, (cmid, _) in enumerate(v.sent)}
            sent_order = [order[cmid] for cmid, _ in rows]
            assert sent_order == sorted(sent_order), "messages stored out of sending order"
            stored += len(rows)
        return stored
    finally:
        db.close()


async def test_sigkill_under_load_loses_no_acknowledged_message(tmp_path: Path) -> None:
    seed = int(os.environ.get("HANDOFF_CRASH_SEED", str(int(time.time()))))
    print(f"crash-and-load seed {seed}")
    rng = random.Random(seed)
    config = tmp_path / "handoff.toml"
    # Six visitors from one address sending as fast as acks come back: far above the
    # message limits per connection, conversation and address (their own tests cover
    # them). A refused message would only be resent later, out of its sending order.
    config.write_text(
        "[server]\nrate_limit_per_minute = 1000000\n"
        "rate_limit_per_conversation_per_minute = 1000000\n"
        "rate_limit_per_ip_per_minute = 1000000\n"
    )
    data = tmp_path / "data"
    visitors = [Visitor(n) for n in range(VISITORS)]
    acked_before = 0
    for _ in range(KILLS):
        proc, url = await asyncio.to_thread(start_serve, data, "--config", str(config))
        stop = asyncio.Event()
        tasks = [asyncio.create_task(_talk(url, v, stop)) for v in visitors]
        try:
            await asyncio.sleep(rng.uniform(0.1, 1.5))
        finally:
            proc.send_signal(signal.SIGKILL)
            await asyncio.to_thread(proc.wait)
            stop.set()
            await asyncio.gather(*tasks, return_exceptions=True)
        refused = [(v.n, e.code, e.client_msg_id) for v in visitors for e in v.refused]
        assert not refused, f"messages refused (visitor, code, client_msg_id): {refused[:5]}"
        _check(data / "handoff.sqlite3", visitors)
        acked = sum(len(v.acked) for v in visitors)
        assert acked >= acked_before
        acked_before = acked
    stored = _check(data / "handoff.sqlite3", visitors)
    # The run did something: messages were acknowledged, most of them across kills.
    assert acked_before >= KILLS * 2, f"only {acked_before} messages acknowledged in {KILLS} runs"
    print(f"{KILLS} kills, {acked_before} acknowledged, {stored} stored")
