"""Courtesy turns and questions about the assistant get a short reply instead of a handoff;
real questions never do."""

from __future__ import annotations

import pytest

from handoff_server.ai.base import Answer
from handoff_server.ai.courtesy import IDENTITY_REPLY, courtesy_answer
from handoff_server.ai.courtesy_layer import CourtesyAnswerer, kinds_owned_by
from handoff_server.analytics.evaluation import predict
from handoff_server.kb import load_kb
from handoff_server.kb.models import KBEntry, KnowledgeBase
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


def _small_talk_kb() -> KnowledgeBase:
    """A KB with its own greeting and bot entries, and a billing entry with one stray
    thanks among its examples."""
    return KnowledgeBase(
        entries=[
            KBEntry(
                id="greeting",
                title="Greeting",
                questions=["hello", "hi there", "hey", "good morning"],
                answer="Welcome to Brambleport! What can we do for you?",
            ),
            KBEntry(
                id="are-you-a-bot",
                title="Who answers",
                questions=["am I talking to a bot?", "are you human?", "is this a real person?"],
                answer="Brambleport's assistant, an AI, answers first.",
            ),
            KBEntry(
                id="invoice",
                title="Invoices",
                questions=["where is my invoice", "download my invoice", "thanks"],
                answer="Invoices are under Billing.",
            ),
        ]
    )


def test_a_kb_owns_the_small_talk_its_entries_answer() -> None:
    assert kinds_owned_by(_small_talk_kb()) == {"hello", "identity"}
    assert kinds_owned_by(load_kb(None)) == frozenset()


class _Recorder:
    """An engine that says which message reached it."""

    def __init__(self) -> None:
        self.asked: list[str] = []

    def answer(self, question: str) -> Answer:
        self.asked.append(question)
        return Answer(text="from the KB", confidence=0.42, entry_id="greeting")


@pytest.mark.parametrize("text", ["hello", "Good morning!", "are you human?"])
def test_small_talk_the_kb_owns_goes_to_the_engine(text: str) -> None:
    """Issue 13: the server gave its built-in reply to "hello" where the team's KB had a
    greeting entry, so the server and ``handoff eval`` disagreed."""
    engine = _Recorder()
    answer = CourtesyAnswerer(engine, _small_talk_kb()).answer(text)
    assert engine.asked == [text] and answer.text == "from the KB" and not answer.courtesy


@pytest.mark.parametrize("text", ["thanks, that worked", "bye!"])
def test_small_talk_the_kb_does_not_own_keeps_the_built_in_reply(text: str) -> None:
    engine = _Recorder()
    answer = CourtesyAnswerer(engine, _small_talk_kb()).answer(text)
    assert engine.asked == [] and answer.courtesy and answer.confidence == 1.0


def test_eval_scores_what_the_server_serves() -> None:
    """``predict`` through the courtesy layer: owned small talk is the engine's answer,
    the rest the built-in reply (confidence 1.0, no entry, so not right for any label)."""
    layer = CourtesyAnswerer(_Recorder(), _small_talk_kb())
    preds = predict(layer, {"greeting", "invoice"}, ["hello", "thanks!"], ["greeting", "invoice"])
    assert preds.entry_id == ["greeting", None] and preds.n_courtesy == 1
    assert preds.confidence.tolist() == [0.42, 1.0] and preds.right.tolist() == [True, False]
