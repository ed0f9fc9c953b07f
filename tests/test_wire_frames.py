"""The wire stays as it was: a scripted session's frames, compared byte for byte with a
recording made before event payloads became typed models (``tests/data/wire_frames.json``,
recorded by ``tests/wire_script.py``; ids, tokens and timestamps blanked)."""

from __future__ import annotations

import json
from pathlib import Path

from tests.wire_script import ScriptedAnswerer, run_script

RECORDING = Path(__file__).parent / "data" / "wire_frames.json"


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
