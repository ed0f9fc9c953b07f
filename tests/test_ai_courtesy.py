"""Courtesy turns get a short reply instead of a handoff; real questions never do."""

from __future__ import annotations

import pytest

from handoff_server.ai.courtesy import courtesy_answer
from tests.helpers import events, say, start_visitor


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("Thanks, that worked perfectly! You guys are great.", "welcome"),
        ("thank you so much 😊", "welcome"),
        ("cheers, all sorted now", "welcome"),
        ("hello", "Hi!"),
        ("Good morning!", "Hi!"),
        ("hello, I have a question", "Hi!"),
        ("bye!", "Have a good day"),
    ],
)
def test_courtesy_messages_get_a_reply(text: str, kind: str) -> None:
    answer = courtesy_answer(text)
    assert answer is not None and kind in answer.text
    assert answer.confidence == 1.0 and answer.entry_id is None and answer.sources == []


@pytest.mark.parametrize(
    "text",
    [
        "hi, my website is down",
        "thanks but it still does not work",
        "how do I reset my password thanks",
        "ok",
        "",
        "thanks " * 13,
        "hello, I want to cancel my account",
    ],
)
def test_anything_more_than_courtesy_goes_to_the_answerer(text: str) -> None:
    assert courtesy_answer(text) is None


async def test_thanks_after_an_answer_is_not_handed_off(server):
    conn, _ = await start_visitor(server.url)
    assert events(await say(conn, "how do I reset my password"), "ai_message")
    frames = await say(conn, "Thanks, that worked perfectly!")
    assert events(frames, "escalated") == []
    (reply,) = events(frames, "ai_message")
    assert "welcome" in reply.data["text"] and reply.data["sources"] == []
    await conn.close()
