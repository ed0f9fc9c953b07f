"""Courtesy turns and questions about the assistant get a short reply instead of a handoff;
real questions never do."""

from __future__ import annotations

import pytest

from handoff_server.ai.courtesy import IDENTITY_REPLY, courtesy_answer
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
    assert "welcome" in reply.data.text and reply.data.sources == []
    await conn.close()


@pytest.mark.parametrize(
    "text",
    [
        "am I talking to a bot?",
        "is this a real person?",
        "are you human?",
        "Hello! Are you a real person or a bot?",
        "hi, who am I chatting with?",
    ],
)
def test_questions_about_the_assistant_get_the_honest_answer(text: str) -> None:
    answer = courtesy_answer(text)
    assert answer is not None and answer.text == IDENTITY_REPLY
    assert answer.confidence == 1.0 and answer.sources == []


@pytest.mark.parametrize(
    "text",
    [
        "are you a bot? my site is down",
        "am I talking to a bot? get me a human",
        "is it a bot that is attacking my site?",
    ],
)
def test_a_question_about_the_assistant_with_more_goes_to_the_answerer(text: str) -> None:
    assert courtesy_answer(text) is None


async def test_bot_question_is_answered_and_a_person_follows_only_on_yes(server):
    """Issue 12: "am I talking to a bot?" was handed off at once as a request for a person."""
    conn, _ = await start_visitor(server.url)
    frames = await say(conn, "am I talking to a bot?")
    assert events(frames, "escalated") == []
    (reply,) = events(frames, "ai_message")
    assert reply.data.text.startswith(IDENTITY_REPLY)
    assert reply.data.offer_handoff is True
    frames = await say(conn, "yes")
    (handoff,) = events(frames, "escalated")
    assert handoff.data.trigger.kind == "human_request"
    await conn.close()
