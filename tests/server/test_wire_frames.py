"""The wire stays as it was: a scripted session's frames, compared byte for byte with a
recording made before event payloads became typed models (``tests/data/wire_frames.json``,
recorded by ``tests/wire_script.py``; ids, tokens and timestamps blanked)."""

from __future__ import annotations

import json
from pathlib import Path

from handoff_server.frames import parse_server_frame
from handoff_server.protocol import AiMessage, AOpen, Escalated, Resolved, SConversation
from handoff_server.store import NewEvent
from tests.helpers import agent, start_visitor
from tests.wire_script import ScriptedAnswerer, run_script

RECORDING = Path(__file__).parents[1] / "data" / "wire_frames.json"


async def test_frames_match_the_recording(server_factory):
    recorded = json.loads(RECORDING.read_text(encoding="utf-8"))
    server = await server_factory(answerer=ScriptedAnswerer())
    counts = [{"visitor": len(s["visitor"]), "agent": len(s["agent"])} for s in recorded]
    replayed = await run_script(server, counts)
    for want, got in zip(recorded, replayed, strict=True):
        assert got["step"] == want["step"]
        for side in ("visitor", "agent"):
            for n, (w, g) in enumerate(zip(want[side], got[side], strict=True)):
                assert g == w, f"step {want['step']!r}, {side} frame {n}"


def test_the_recording_covers_every_kind_a_session_stores():
    kinds = {
        json.loads(raw)["event"]["kind"]
        for step in json.loads(RECORDING.read_text(encoding="utf-8"))
        for side in ("visitor", "agent")
        for raw in step[side]
        if json.loads(raw)["type"] == "event"
    }
    assert kinds == {
        "conversation_started",
        "visitor_message",
        "ai_message",
        "escalated",
        "claimed",
        "agent_message",
        "note",
        "released",
        "handed_back",
        "resolved",
        "reopened",
    }


OLD_ROWS = [
    # An AI answer from before ``question``, ``decision`` and ``evaluations`` were stored,
    # with a key no model names any more.
    ("ai_message", {"text": "Try Settings.", "confidence": 0.8, "sources": ["s"], "score": 3}),
    # An escalation whose draft and trigger lack later fields.
    (
        "escalated",
        {"trigger": {"kind": "keyword"}, "text": "A person will help.", "draft": {"text": "d"}},
    ),
    ("resolved", {"agent": {"id": "agt_1", "name": "Sam", "role": "agent"}, "notice": "Done."}),
]


async def test_old_stored_rows_load_and_go_out_as_they_were_stored(server, agent_token):
    visitor, welcome = await start_visitor(server.url)
    cid = welcome.conversation_id
    await server.store.call(
        server.store.store.append_events,
        cid,
        [NewEvent(kind=kind, data=data) for kind, data in OLD_ROWS],
        {},
    )
    # Written behind the service's back (as an older release left them on disk): the
    # service's memory of the conversation is dropped, as a restart would.
    server.service.memory.forget(cid)
    sam = await agent(server.url, agent_token)
    await sam.send(AOpen(type="open", conversation_id=cid, last_seq=1, subscribe=False))
    raw = json.loads(await sam.ws.recv())
    assert raw["type"] == "conversation"
    assert [(e["kind"], e["data"]) for e in raw["packet"]["transcript"]] == OLD_ROWS
    # The typed reading of the same rows: defaults where a row says nothing.
    frame = parse_server_frame(json.dumps(raw))
    assert isinstance(frame, SConversation)
    ai, esc, done = frame.packet.transcript
    assert isinstance(ai, AiMessage) and ai.data.question is True and ai.data.decision is None
    assert isinstance(esc, Escalated) and esc.data.draft is not None
    assert esc.data.draft.candidates == [] and esc.data.trigger.detail == ""
    assert isinstance(done, Resolved) and done.data.text is None
    await sam.close()
    await visitor.close()
