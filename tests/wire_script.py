"""A scripted session that produces every stored event kind, for the recorded-frames test.

One visitor and one agent (watching every status, with the conversation open) go through
the whole lifecycle: an AI answer, a courtesy reply, a low-confidence handoff with a
draft, claim, reply, note, release, claim again, hand back, a request for a person,
resolve, and a reopening. ``run_script`` returns, per step, the raw frames each side
received, with the conversation id, resume token and timestamps blanked.

Record the fixture with the code whose wire format is the reference::

    PYTHONPATH=src python -m tests.wire_script tests/data/wire_frames.json

``welcome`` and ``authenticated`` frames are left out: they carry no event data, and
their fields belong to another part of the protocol (the server's limits).
"""

from __future__ import annotations

import asyncio
import json
import re
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from websockets.asyncio.client import ClientConnection

from handoff_server.ai import Answer
from handoff_server.ai.base import Candidate
from handoff_server.app import RunningServer, start_server
from handoff_server.client import connect_agent, connect_visitor
from handoff_server.store import AgentRecord, hash_token, utcnow
from tests.conftest import make_settings

AGENT_TOKEN = "hnd_test_wire_script"

_TIME = re.compile(r'"\d{4}-\d\d-\d\dT[0-9:.]+(?:Z|[+-]\d\d:\d\d)?"')


class ScriptedAnswerer:
    """Fixed answers by question, so every number in the frames is the same each run."""

    def answer(self, question: str) -> Answer:
        """The answer to ``question``: sure about passwords and email, unsure otherwise."""
        if "password" in question or "email" in question:
            return Answer(
                text="Open **Settings** › *Account* and choose `Reset`.",
                confidence=0.92,
                entry_id="account-password-reset",
                sources=["account-password-reset"],
                candidates=[
                    Candidate(entry_id="account-password-reset", title="Reset", score=0.92),
                    Candidate(entry_id="account-email", title="Email", score=0.05),
                ],
                analysis="The visitor wants to reset a password.",
            )
        return Answer(
            text="Invoices are under **Billing**.",
            confidence=0.31,
            entry_id="billing-invoices",
            sources=["billing-invoices"],
            candidates=[Candidate(entry_id="billing-invoices", title="Invoices", score=0.31)],
            analysis="Maybe a billing question.",
        )


@dataclass(frozen=True)
class Step:
    """One action of the script: who acts (``visitor``/``agent``) and the frame they send."""

    name: str
    actor: str
    frame: dict[str, Any]


def _agent_frame(kind: str, n: int, text: str | None = None) -> dict[str, Any]:
    frame: dict[str, Any] = {"type": kind, "conversation_id": "{cid}", "client_msg_id": f"a{n}"}
    if text is not None:
        frame["text"] = text
    return frame


STEPS = [
    Step(
        "question", "visitor", {"type": "message", "client_msg_id": "v1", "text": "reset password?"}
    ),
    Step("thanks", "visitor", {"type": "message", "client_msg_id": "v2", "text": "thanks"}),
    Step("unsure", "visitor", {"type": "message", "client_msg_id": "v3", "text": "invoice wrong"}),
    Step("open", "agent", {"type": "open", "conversation_id": "{cid}", "last_seq": 0}),
    Step("claim", "agent", _agent_frame("claim", 1)),
    Step("reply", "agent", _agent_frame("reply", 2, "Hi Ada, Sam here.")),
    Step("note", "agent", _agent_frame("note", 3, "refund probably")),
    Step("release", "agent", _agent_frame("release", 4, "billing should take it")),
    Step("claim again", "agent", _agent_frame("claim", 5)),
    Step("handback", "agent", _agent_frame("handback", 6)),
    Step("email", "visitor", {"type": "message", "client_msg_id": "v4", "text": "change email?"}),
    Step("person", "visitor", {"type": "request_human", "client_msg_id": "v5"}),
    Step("claim third", "agent", _agent_frame("claim", 7)),
    Step("resolve", "agent", _agent_frame("resolve", 8, "refunded")),
    Step("reopen", "visitor", {"type": "message", "client_msg_id": "v6", "text": "password again"}),
    Step("packet", "agent", {"type": "open", "conversation_id": "{cid}", "last_seq": 3}),
]


async def _add_agent(srv: RunningServer) -> None:
    rec = AgentRecord(
        id="agt_wire",
        name="Sam",
        role="agent",
        token_hash=hash_token(AGENT_TOKEN),
        created_at=utcnow(),
    )
    await srv.store.call(srv.store.store.create_agent, rec)


async def _read(ws: ClientConnection, count: int | None) -> list[str]:
    """``count`` frames, or (recording) every frame until one second passes without one."""
    if count is not None:
        return [str(await asyncio.wait_for(ws.recv(), 15)) for _ in range(count)]
    got: list[str] = []
    while True:
        try:
            got.append(str(await asyncio.wait_for(ws.recv(), 1.0)))
        except TimeoutError:
            return got


def blank(raw: str, secrets: list[str]) -> str:
    """``raw`` with timestamps and each of ``secrets`` (ids, tokens) replaced by ``*``."""
    for secret in secrets:
        raw = raw.replace(secret, "*")
    return _TIME.sub('"*"', raw)


async def run_script(
    srv: RunningServer, counts: list[dict[str, int]] | None = None
) -> list[dict[str, Any]]:
    """Run :data:`STEPS` against ``srv``; per step the blanked frames each side received.
    ``counts`` (from a recording) says how many frames to read per side and step; without
    it each side is read until it is quiet."""
    await _add_agent(srv)
    visitor = await connect_visitor(srv.url)
    await visitor.ws.send(
        json.dumps(
            {
                "type": "start",
                "visitor": {"name": "Ada", "email": "ada@example.com", "fields": {"plan": "pro"}},
            }
        )
    )
    welcome = json.loads(await visitor.ws.recv())
    secrets = [welcome["conversation_id"], welcome["resume_token"]]
    agent = await connect_agent(srv.url, AGENT_TOKEN)
    await agent.ws.recv()  # authenticated
    # Online, as the agent UI says on connecting: the visitor is told someone can come.
    await agent.ws.send(json.dumps({"type": "presence", "status": "online"}))
    await agent.ws.send(
        json.dumps(
            {"type": "subscribe_queue", "statuses": ["ai", "queued", "assigned", "resolved"]}
        )
    )
    record: list[dict[str, Any]] = [
        {
            "step": "start",
            "visitor": [
                blank(r, secrets) for r in await _read(visitor.ws, counts and counts[0]["visitor"])
            ],
            "agent": [
                blank(r, secrets) for r in await _read(agent.ws, counts and counts[0]["agent"])
            ],
        }
    ]
    for i, step in enumerate(STEPS, start=1):
        frame = json.loads(json.dumps(step.frame).replace("{cid}", welcome["conversation_id"]))
        await (visitor if step.actor == "visitor" else agent).ws.send(json.dumps(frame))
        # The actor's side first: its ack comes after the events it caused are stored.
        sides = ("visitor", "agent") if step.actor == "visitor" else ("agent", "visitor")
        got: dict[str, Any] = {"step": step.name}
        for side in sides:
            ws = visitor.ws if side == "visitor" else agent.ws
            raw = await _read(ws, counts and counts[i][side])
            got[side] = [blank(r, secrets) for r in raw]
        record.append({"step": got["step"], "visitor": got["visitor"], "agent": got["agent"]})
    await visitor.close()
    await agent.close()
    return record


async def _record(out: Path) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        srv = await start_server(make_settings(Path(tmp)), answerer=ScriptedAnswerer())
        try:
            record = await run_script(srv)
        finally:
            await srv.close()
    out.write_text(json.dumps(record, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")


if __name__ == "__main__":
    asyncio.run(_record(Path(sys.argv[1])))
