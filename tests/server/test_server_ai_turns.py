"""AI turns through the server: failures escalate as ai_error, interrupted turns finish
after a restart, and policy changes apply on the next turn."""

from __future__ import annotations

import copy
import logging
import time
from typing import Any

import pytest

from handoff_server.ai import Answer
from handoff_server.errors import AnswererError
from handoff_server.protocol import AOpen, SConversation
from handoff_server.store import NewEvent
from tests.conftest import create_token
from tests.helpers import agent, events, say, start_visitor


class FailingAnswerer:
    """An engine whose index is broken."""

    def answer(self, question: str) -> Answer:
        raise AnswererError("index file is corrupt")


class SlowAnswerer:
    """An engine that takes longer than the server's AI timeout."""

    def answer(self, question: str) -> Answer:
        time.sleep(1.5)
        return Answer(text="late", confidence=0.99, entry_id="x", sources=["x"])


async def _stored_trigger(server, conversation_id):
    conv = await server.store.call(server.store.store.get_conversation, conversation_id)
    return conv.trigger


async def test_answerer_failure_escalates_as_ai_error(server_factory):
    server = await server_factory(answerer=FailingAnswerer())
    conn, welcome = await start_visitor(server.url)
    (esc,) = events(await say(conn, "how do I reset my password"), "escalated")
    assert esc.data.trigger.model_dump() == {
        "kind": "ai_error"
    }  # the error text is for agents only
    trigger = await _stored_trigger(server, welcome.conversation_id)
    assert "index file is corrupt" in trigger["detail"]
    assert trigger["confidence"] is None  # not disguised as low confidence
    await conn.close()


async def test_answerer_timeout_escalates_as_ai_error(server_factory):
    server = await server_factory(answerer=SlowAnswerer(), server={"ai_timeout_seconds": 0.3})
    conn, welcome = await start_visitor(server.url)
    (esc,) = events(await say(conn, "how do I reset my password"), "escalated")
    assert esc.data.trigger.model_dump() == {"kind": "ai_error"}
    assert "0.3s" in (await _stored_trigger(server, welcome.conversation_id))["detail"]
    await conn.close()


async def test_turn_interrupted_by_a_crash_is_finished_on_restart(server_factory, tmp_path):
    data = tmp_path / "shared-data"
    first = await server_factory(data_dir=data)
    conn, welcome = await start_visitor(first.url)
    cid = welcome.conversation_id
    await conn.close()
    # What a crash between storing the visitor's message and the AI's reply leaves behind.
    await first.store.call(
        first.store.store.append_events,
        cid,
        [
            NewEvent(
                kind="visitor_message",
                data={"text": "how do I reset my password"},
                client_msg_id="m1",
            )
        ],
        {"first_question": "how do I reset my password"},
    )
    await first.close()
    second = await server_factory(data_dir=data)
    stored = await second.store.call(second.store.store.events_after, cid, 0)
    assert [e.kind for e in stored] == ["conversation_started", "visitor_message", "ai_message"]
    assert stored[-1].data["entry_id"] == "account-password-reset"


INTERNAL = "'TfidfEncoder' object has no attribute '_idf'"


def _broken_engine(demo_answerer: Any) -> Any:
    """The demo engine (a copy) whose encoder fails inside, as the default engine did
    when two threads made its fast-path tables at once."""
    broken = copy.deepcopy(demo_answerer)

    def transform_rows(texts: list[str]) -> Any:
        raise AttributeError(INTERNAL)

    broken.index.encoder.transform_rows = transform_rows
    return broken


async def test_an_engine_failure_reads_as_a_plain_reason_and_its_text_stays_in_the_log(
    server_factory, demo_answerer, caplog: pytest.LogCaptureFixture
) -> None:
    server = await server_factory(answerer=_broken_engine(demo_answerer))
    conn, welcome = await start_visitor(server.url)
    with caplog.at_level(logging.ERROR, logger="handoff_server"):
        frames = await say(conn, "how do I reset my password")
    (esc,) = events(frames, "escalated")
    assert esc.data.trigger.model_dump() == {"kind": "ai_error"}
    seen_by_visitor = "".join(f.model_dump_json() for f in frames)
    assert "_idf" not in seen_by_visitor and "AttributeError" not in seen_by_visitor
    staff = await agent(server.url, await create_token(server))
    await staff.send(AOpen(type="open", conversation_id=welcome.conversation_id, subscribe=False))
    packet = (await staff.recv_until(lambda f: isinstance(f, SConversation)))[-1].packet
    assert packet.trigger is not None and packet.trigger.kind == "ai_error"
    assert "internal error" in packet.trigger.detail and "server log" in packet.trigger.detail
    shown = packet.model_dump_json()
    assert "_idf" not in shown and "AttributeError" not in shown and "Error:" not in shown
    # The detail is kept for whoever reads the server log: the error and its cause.
    assert INTERNAL in caplog.text and "AttributeError" in caplog.text
    await staff.close()
    await conn.close()
